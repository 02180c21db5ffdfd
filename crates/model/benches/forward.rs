//! Encoder + decoder forward passes on one 128×128 image (what embedding and decoding cost
//! without image conversions), flex backend; compare with `benches/pytorch_reference.py`.
//!
//! `cargo bench -p faketagger-model --bench forward`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use faketagger_model::burn::module::Module;
use faketagger_model::burn::tensor::Tensor;
use faketagger_model::{Backend, TaggerNetConfig};

fn forward(c: &mut Criterion) {
    let device = Backend::Flex.device().unwrap();
    let net = TaggerNetConfig::standard().init(&device).valid();
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
}

criterion_group!(benches, forward);
criterion_main!(benches);
