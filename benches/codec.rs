//! Codec throughput: encode, clean decode, soft decode on a 10%-BER Gaussian channel, and
//! decoding unmarked (random) words, which run every stage.
//!
//! `cargo bench --bench codec`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faketagger::codec::{ChannelBits, Codec, Tag};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// σ of a binary-input Gaussian channel with 10% raw bit errors: Q(1/σ) = 0.1.
const SIGMA_10_PERCENT: f32 = 0.7803;
const BATCH: usize = 1024;

fn normal(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn codec(c: &mut Criterion) {
    let codec = Codec::v1();
    let mut rng = StdRng::seed_from_u64(1);
    let tags: Vec<Tag> = (0..BATCH).map(|_| Tag::new(rng.random())).collect();
    let words: Vec<ChannelBits> = tags.iter().map(|&t| codec.encode(t)).collect();

    let mut group = c.benchmark_group("codec/cpu");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            tags.iter()
                .map(|&t| codec.encode(black_box(t)))
                .fold(0usize, |a, w| a + w.len())
        })
    });
    group.bench_function("encode+decode_hard (clean)", |b| {
        b.iter(|| {
            tags.iter()
                .filter(|&&t| {
                    let bits = codec.encode(black_box(t));
                    codec.decode_hard(&bits).ok().and_then(|d| d.tag()) == Some(t)
                })
                .count()
        })
    });
    let clean_llr: Vec<Vec<f32>> = words
        .iter()
        .map(|w| w.iter().map(|b| if b { 4.0 } else { -4.0 }).collect())
        .collect();
    group.bench_function("decode_soft (clean)", |b| {
        b.iter(|| {
            clean_llr
                .iter()
                .filter(|l| codec.decode_soft(black_box(l)).is_ok())
                .count()
        })
    });
    group.finish();

    // The slow paths, on fewer words per iteration.
    let mut group = c.benchmark_group("codec/cpu/soft");
    group.sample_size(10);
    let noisy: Vec<Vec<f32>> = words
        .iter()
        .take(128)
        .map(|w| {
            w.iter()
                .map(|b| {
                    let y = if b { 1.0 } else { -1.0 } + SIGMA_10_PERCENT * normal(&mut rng);
                    2.0 * y / (SIGMA_10_PERCENT * SIGMA_10_PERCENT)
                })
                .collect()
        })
        .collect();
    group.throughput(Throughput::Elements(noisy.len() as u64));
    group.bench_function("decode_soft (10% BER)", |b| {
        b.iter(|| {
            noisy
                .iter()
                .filter(|l| codec.decode_soft(black_box(l)).is_ok())
                .count()
        })
    });
    let random: Vec<Vec<f32>> = (0..128)
        .map(|_| (0..256).map(|_| 2.0 * normal(&mut rng)).collect())
        .collect();
    group.bench_function("decode_soft (unmarked)", |b| {
        b.iter(|| {
            random
                .iter()
                .filter(|l| codec.decode_soft(black_box(l)).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
