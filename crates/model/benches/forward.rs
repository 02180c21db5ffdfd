//! Encoder + decoder forward passes on one 128×128 image (what embedding and decoding cost
//! without image conversions), flex backend; compare with `benches/pytorch_reference.py`. And
//! the decoder on the CPU path the engine runs on flex ([`faketagger_model::cpu`]), one image
//! and a batch of 64 (a crop search's reads, one image per task), with its multiply-accumulates
//! per second as throughput (`DecoderConfig::macs` per image).
//!
//! `cargo bench -p faketagger-model --bench forward`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faketagger_model::burn::module::Module;
use faketagger_model::burn::tensor::Tensor;
use faketagger_model::{Backend, TaggerNetConfig};

fn forward(c: &mut Criterion) {
    let device = Backend::Flex.device().unwrap();
    let config = TaggerNetConfig::standard();
    let net = config.init(&device).valid();
    let image = Tensor::<4>::zeros([1, 3, 128, 128], &device).add_scalar(0.5);
    let bits = Tensor::<2>::ones([1, 256], &device);
    let mut group = c.benchmark_group("forward (flex, 128 px, batch 1)");
    group.bench_function("encoder+decoder", |b| {
        b.iter(|| {
            let tagged = image.clone() + net.encoder.forward(image.clone(), bits.clone());
            net.decoder.forward(tagged).into_data()
        })
    });
    group.bench_function("decoder", |b| {
        b.iter(|| net.decoder.forward(image.clone()).into_data())
    });
    group.finish();

    let cpu = net.decoder.cpu().unwrap();
    let macs = config.decoder.macs();
    // mid-grey, as above (the kernel's time does not depend on the values), each image in its
    // own buffer as a crop search's reads are
    let side = cpu.resolution();
    let images = vec![vec![0.5; side * side * 3]; BATCH];
    let images: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("decoder (cpu path, 128 px)");
    for batch in [1, BATCH] {
        // each element a multiply-accumulate: criterion's elem/s is MAC/s
        group.throughput(Throughput::Elements(macs * batch as u64));
        group.bench_function(format!("batch {batch}"), |b| {
            b.iter(|| cpu.forward(&images[..batch]).unwrap())
        });
    }
    group.finish();
}

/// Images in the CPU path's batch: one task each, on every core.
const BATCH: usize = 64;

criterion_group!(benches, forward);
criterion_main!(benches);
