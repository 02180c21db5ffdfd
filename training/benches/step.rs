//! One training step of the standard tagger (batch 16, 128×128) on the flex backend, on
//! synthetic covers: with all attack layers drawn as in training, with the identity attack
//! only (what `benches/pytorch_reference.py` times), and then one row per attack family (that
//! layer alone, every batch), per real attack trained through the straight-through estimator,
//! and per frozen simulator: the cost table a curriculum is planned with (training/README.md).
//!
//! `cargo bench -p faketagger-train --bench step`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use faketagger_model::noise::NoiseConfig;
use faketagger_model::noise::regenerator::RegeneratorConfig;
use faketagger_model::noise::simulators::REGENERATOR_NAME;
use faketagger_model::{Backend, TaggerNetConfig, weights};
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
    let only = |f: fn(NoiseConfig) -> NoiseConfig| f(NoiseConfig::clean().with_identity(0.0));
    let layers = [
        ("all attack layers", NoiseConfig::new()),
        // what benches/pytorch_reference.py times
        ("identity attack", NoiseConfig::clean()),
        ("layer jpeg (4:2:0)", only(|c| c.with_jpeg(1.0))),
        ("layer resize", only(|c| c.with_resize(1.0))),
        ("layer crop", only(|c| c.with_crop(1.0))),
        ("layer cutout", only(|c| c.with_cutout(1.0))),
        ("layer blur", only(|c| c.with_blur(1.0))),
        ("layer noise", only(|c| c.with_noise(1.0))),
        ("layer colour", only(|c| c.with_colour(1.0))),
        ("layer cover mix", only(|c| c.with_cover_mix(1.0))),
        ("layer grey", only(|c| c.with_grey(1.0))),
        ("layer border", only(|c| c.with_border(1.0))),
        ("layer rotate", only(|c| c.with_rotate(1.0))),
    ];
    let standard = || TaggerTrainingConfig::new(TaggerNetConfig::standard());
    let mut runs: Vec<(String, TaggerTrainingConfig, Vec<std::path::PathBuf>)> = layers
        .into_iter()
        .map(|(name, noise)| (name.to_owned(), standard().with_noise(noise), Vec::new()))
        .collect();
    for real in [
        "jpeg:50",
        "webp:50",
        "palette:256",
        "median:1",
        "screenshot:1.25",
        "border:0.1@photo",
    ] {
        runs.push((
            format!("real {real} (straight-through)"),
            standard()
                .with_real_attacks(vec![real.to_owned()])
                .with_real_attack(1.0),
            Vec::new(),
        ));
    }
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights");
    for sim in ["autoencoder", "faceswap", "faceswap-w24"] {
        runs.push((
            format!("simulator {sim}"),
            standard().with_simulator(1.0),
            vec![weights.join(sim)],
        ));
    }
    // the regenerators' cost does not depend on their weights: freshly initialised ones, saved
    // where a simulator is loaded from
    let scratch = tempfile::tempdir().unwrap();
    for (name, latent, downsamples) in [("f8c4", 4, 3), ("f8c16", 16, 3), ("f4c4", 4, 2)] {
        let config = RegeneratorConfig::new()
            .with_latent_channels(latent)
            .with_downsamples(downsamples);
        let dir = scratch.path().join(name);
        weights::save(config.init(&device), &config, &dir, REGENERATOR_NAME).unwrap();
        runs.push((
            format!("simulator regenerator {name} (width {})", config.width),
            standard().with_simulator(1.0),
            vec![dir],
        ));
    }
    for (name, config, simulators) in runs {
        let mut trainer = TaggerTrainer::new(config, &device)
            .unwrap()
            .with_simulators(&simulators)
            .unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        group.bench_function(&name, |b| {
            b.iter(|| trainer.step(&faces, &mut rng).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
