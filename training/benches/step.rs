//! One training step of the standard tagger (batch 16, 128×128, all attack layers drawn as in
//! training) on the flex backend, on synthetic covers.
//!
//! `cargo bench -p faketagger-train --bench step`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use faketagger_model::{Backend, TaggerNetConfig};
use faketagger_train::data::{Face, FaceSet};
use faketagger_train::{TaggerTrainer, TaggerTrainingConfig};

const SIDE: usize = 128;

fn covers() -> FaceSet {
    let faces = (0..32)
        .map(|i| Face {
            path: format!("synthetic-{i}").into(),
            identity: None,
            rgb: (0..SIDE * SIDE * 3)
                .map(|k| ((k * (7 + i) + k / (3 * SIDE) * 13) % 251) as u8)
                .collect(),
        })
        .collect();
    FaceSet {
        faces,
        resolution: SIDE,
    }
}

fn step(c: &mut Criterion) {
    let device = Backend::Flex.device().unwrap();
    let faces = covers();
    let mut trainer = TaggerTrainer::new(
        TaggerTrainingConfig::new(TaggerNetConfig::standard()),
        &device,
    )
    .unwrap();
    let mut group = c.benchmark_group("train step (flex, batch 16, 128 px)");
    group.sample_size(10);
    group.bench_function("standard", |b| b.iter(|| trainer.step(&faces)));
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
