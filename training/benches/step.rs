//! One training step of the standard tagger (batch 16, 128×128) on the flex backend, on
//! synthetic covers: with all attack layers drawn as in training, and with the identity attack
//! only (what `benches/pytorch_reference.py` times).
//!
//! `cargo bench -p faketagger-train --bench step`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use faketagger_model::noise::NoiseConfig;
use faketagger_model::{Backend, TaggerNetConfig};
use faketagger_train::data::{Face, FaceSet};
use faketagger_train::{TaggerTrainer, TaggerTrainingConfig};
use rand::SeedableRng;

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
    let mut group = c.benchmark_group("train step (flex, batch 16, 128 px)");
    group.sample_size(10);
    for (name, noise) in [
        ("all attack layers", NoiseConfig::new()),
        // what benches/pytorch_reference.py times
        ("identity attack", NoiseConfig::clean()),
    ] {
        let config = TaggerTrainingConfig::new(TaggerNetConfig::standard()).with_noise(noise);
        let mut trainer = TaggerTrainer::new(config, &device).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        group.bench_function(name, |b| b.iter(|| trainer.step(&faces, &mut rng)));
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
