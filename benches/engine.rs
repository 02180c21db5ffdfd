//! Embed and decode with the built-in networks on the flex (CPU) backend, on synthetic photos
//! of 128, 512, 1024 and 2048 px a side. Embedding includes its check decode (one decoder pass).
//!
//! `cargo bench --bench engine`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faketagger::model::Backend;
use faketagger::{Tag, Tagger};
use image::{DynamicImage, Rgb, RgbImage};

const SIDES: [u32; 4] = [128, 512, 1024, 2048];

/// Smooth gradients plus texture, like a photo at every scale.
fn photo(side: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
        let (fx, fy) = (x as f32 / side as f32, y as f32 / side as f32);
        let texture = ((x * 7 + y * 13) % 17) as f32;
        Rgb([
            (60.0 + 120.0 * fx + texture) as u8,
            (80.0 + 100.0 * (6.0 * fy).sin().abs() + texture) as u8,
            (150.0 - 90.0 * fx * fy + texture) as u8,
        ])
    }))
}

fn engine(c: &mut Criterion) {
    let tagger = Tagger::builtin(&Backend::Flex.device().unwrap()).unwrap();
    let tag = Tag::new(0x0123_4567_89ab_cdef);
    let mut embed = c.benchmark_group("embed (flex)");
    embed.sample_size(10);
    for side in SIDES {
        let image = photo(side);
        embed.throughput(Throughput::Elements(1));
        embed.bench_with_input(BenchmarkId::from_parameter(side), &image, |b, image| {
            b.iter(|| tagger.embed(black_box(image), tag, 1.0).unwrap())
        });
    }
    embed.finish();
    let mut decode = c.benchmark_group("decode (flex)");
    decode.sample_size(10);
    for side in SIDES {
        let tagged = tagger.embed(&photo(side), tag, 1.0).unwrap().image;
        decode.throughput(Throughput::Elements(1));
        decode.bench_with_input(BenchmarkId::from_parameter(side), &tagged, |b, image| {
            b.iter(|| tagger.decode(black_box(image)).unwrap())
        });
    }
    decode.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
