//! Training steps of the tagger on `wgpu` against the same steps on `flex`: from the shipped v1
//! weights, the same seeded batches, bits and attacks, every attack family and a batch through
//! the reconstruction simulator.
//!
//! `cargo test -p faketagger-train --features wgpu --test wgpu_step`
//! (CI: on Mesa's software Vulkan driver, lavapipe.)
#![cfg(all(feature = "wgpu", feature = "flex"))]

use std::path::{Path, PathBuf};

use burn::config::Config;
use faketagger_model::{Backend, Device, TaggerNetConfig};
use faketagger_train::data::FaceSet;
use faketagger_train::{StepStats, TaggerTrainer, TaggerTrainingConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Relative tolerance on the step's losses and metrics (f32, different summation orders;
/// measured on lavapipe: 1.1e-5 at most before the first JPEG step).
const TOLERANCE: f32 = 1e-4;
/// From the first JPEG step on: its forward pass rounds the quantised DCT coefficients, so a
/// coefficient within a summation error of a rounding boundary lands on the other side on the
/// other backend, and the weights it updates differ in turn (measured on lavapipe on an AVX-512
/// CPU: 2.9e-4 in that step's message BCE, 1.5e-4 in the image MSE two steps later; other CPUs
/// gave 1.1e-5). A wrong kernel is off by orders of magnitude more.
const TOLERANCE_AFTER_ROUNDING: f32 = 2e-3;
const STEPS: usize = 6;

fn weights(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../weights")
        .join(name)
}

/// Eight seeded synthetic faces (smooth colour fields with texture), written as PNGs.
fn faces(dir: &Path) -> FaceSet {
    for i in 0..8u32 {
        let img = image::RgbImage::from_fn(128, 128, |x, y| {
            let (fx, fy) = (x as f32 / 128.0, y as f32 / 128.0);
            let v = |c: u32| {
                let t = 0.5
                    + 0.3
                        * (4.0 * fx + c as f32 + i as f32).sin()
                        * (3.0 * fy + 0.7 * i as f32).cos()
                    + 0.05 * (((x * 7 + y * 13 + i * 31 + c * 17) % 23) as f32 / 23.0 - 0.5);
                (t.clamp(0.0, 1.0) * 255.0) as u8
            };
            image::Rgb([v(0), v(1), v(2)])
        });
        img.save(dir.join(format!("face{i}.png"))).unwrap();
    }
    FaceSet::load(dir, None, 128, None).unwrap()
}

fn run(device: &Device, faces: &FaceSet) -> Vec<StepStats> {
    let net = TaggerNetConfig::load(weights("faketagger-v1").join("tagger.json")).unwrap();
    let mut config = TaggerTrainingConfig::new(net);
    config.batch_size = 4;
    config.learning_rate = 5e-4;
    config.cover_fade = 0;
    config.message_warmup = 0;
    config.image_weight_ramp = 0;
    config.ssim_weight = 5.0;
    config.simulator = 0.3;
    config.seed = 3;
    let mut trainer = TaggerTrainer::new(config, device)
        .unwrap()
        .with_weights(&weights("faketagger-v1"), "tagger")
        .unwrap()
        .with_simulators(&[weights("autoencoder")])
        .unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    (0..STEPS)
        .map(|_| trainer.step(faces, &mut rng).unwrap())
        .collect()
}

/// Prints the comparison; the failure's description when it is off by more than `tolerance`.
fn close(what: &str, step: usize, a: f32, b: f32, tolerance: f32) -> Option<String> {
    let relative = (a - b).abs() / a.abs().max(1e-6);
    eprintln!("step {step} {what}: flex {a:.6} wgpu {b:.6} (relative {relative:.1e})");
    (relative > tolerance).then(|| {
        format!("step {step}: {what} {a} vs {b} (relative {relative:.1e}, tolerance {tolerance:e})")
    })
}

#[test]
fn training_steps_agree_on_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let faces = faces(dir.path());
    let flex = run(&Backend::Flex.device().unwrap(), &faces);
    let wgpu = run(&Backend::Wgpu.device().unwrap(), &faces);
    let mut off = Vec::new();
    let mut rounded = false;
    for (f, w) in flex.iter().zip(&wgpu) {
        assert_eq!(f.attack, w.attack, "the same seeded attack");
        rounded |= f.attack.contains("jpeg");
        let tolerance = if rounded {
            TOLERANCE_AFTER_ROUNDING
        } else {
            TOLERANCE
        };
        let measures = [
            (format!("loss ({})", f.attack), f.loss, w.loss),
            ("image MSE".into(), f.image_mse, w.image_mse),
            ("message BCE".into(), f.message_bce, w.message_bce),
            ("SSIM".into(), f.ssim, w.ssim),
        ];
        for (what, a, b) in measures {
            off.extend(close(&what, f.step, a, b, tolerance));
        }
    }
    assert!(off.is_empty(), "off:\n{}", off.join("\n"));
    assert!(
        flex[..3].iter().all(|s| !s.attack.contains("jpeg")),
        "the tight tolerance checks the first steps"
    );
    assert!(
        flex.iter().any(|s| s.attack.starts_with("simulator")),
        "one step goes through the simulator"
    );
}
