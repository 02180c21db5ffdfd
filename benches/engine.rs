//! Embed and decode with the built-in networks on every backend of the build (flex; cuda and
//! wgpu when built with their features), on synthetic photos of 128, 512, 1024 and 2048 px a
//! side, tagged and untagged, and batch decoding of 32 files. Embedding includes its check
//! decode (one decoder pass).
//!
//! `cargo bench --bench engine` (`--features wgpu` / `--features cuda` adds that backend)

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faketagger::model::Backend;
use faketagger::{Tag, Tagger};

mod common;
use common::photo;

const SIDES: [u32; 4] = [128, 512, 1024, 2048];

fn engine(c: &mut Criterion) {
    for backend in Backend::built() {
        bench_backend(c, backend);
    }
}

fn bench_backend(c: &mut Criterion, backend: Backend) {
    let tagger = Tagger::builtin(&backend.device().unwrap()).unwrap();
    let tag = Tag::new(0x0123_4567_89ab_cdef);
    let mut embed = c.benchmark_group(format!("embed ({backend})"));
    embed.sample_size(10);
    for side in SIDES {
        let image = photo(side);
        embed.throughput(Throughput::Elements(1));
        embed.bench_with_input(BenchmarkId::from_parameter(side), &image, |b, image| {
            b.iter(|| tagger.embed(black_box(image), tag, 1.0).unwrap())
        });
    }
    embed.finish();
    let mut decode = c.benchmark_group(format!("decode ({backend})"));
    decode.sample_size(10);
    for side in SIDES {
        let tagged = tagger.embed(&photo(side), tag, 1.0).unwrap().image;
        decode.throughput(Throughput::Elements(1));
        decode.bench_with_input(BenchmarkId::from_parameter(side), &tagged, |b, image| {
            b.iter(|| tagger.decode(black_box(image)).unwrap())
        });
    }
    decode.finish();
    // the common case of a platform: an untagged photo (the plain read finds nothing, so the
    // decoder's crop search runs); issue 19's target is at most 2x the tagged time
    let mut untagged = c.benchmark_group(format!("decode untagged ({backend})"));
    untagged.sample_size(10);
    for side in SIDES {
        untagged.throughput(Throughput::Elements(1));
        untagged.bench_with_input(
            BenchmarkId::from_parameter(side),
            &photo(side),
            |b, image| b.iter(|| tagger.decode(black_box(image)).unwrap()),
        );
    }
    untagged.finish();

    // a platform's batch: 32 tagged 512 px photos from disk over all cores
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<std::path::PathBuf> = (0..BATCH)
        .map(|i| {
            let path = dir.path().join(format!("{i}.png"));
            tagger
                .embed(&photo(512), Tag::new(i as u64), 1.0)
                .unwrap()
                .image
                .save(&path)
                .unwrap();
            path
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut batch = c.benchmark_group(format!(
        "batch decode 512 px files ({backend}, {threads} threads)"
    ));
    batch.sample_size(10);
    batch.throughput(Throughput::Elements(BATCH as u64));
    batch.bench_function(BenchmarkId::from_parameter(BATCH), |b| {
        b.iter(|| tagger.decode_files(black_box(&paths), threads, Default::default()))
    });
    batch.finish();
    // the same batch untagged: what a platform mostly sees
    let clean: Vec<std::path::PathBuf> = (0..BATCH)
        .map(|i| {
            let path = dir.path().join(format!("clean-{i}.png"));
            common::photo(512).save(&path).unwrap();
            path
        })
        .collect();
    let mut batch = c.benchmark_group(format!(
        "batch decode 512 px untagged files ({backend}, {threads} threads)"
    ));
    batch.sample_size(10);
    batch.throughput(Throughput::Elements(BATCH as u64));
    batch.bench_function(BenchmarkId::from_parameter(BATCH), |b| {
        b.iter(|| tagger.decode_files(black_box(&clean), threads, Default::default()))
    });
    batch.finish();
}

/// Photos in the batch-decoding benchmark.
const BATCH: usize = 32;

criterion_group!(benches, engine);
criterion_main!(benches);
