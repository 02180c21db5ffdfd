//! Experiment for the simulator targets of the training issue: can a tag pass a DeepFake
//! simulator within a PSNR budget when its residual is optimised for each photo against the
//! frozen simulator (white box, as Fixed Neural Network Steganography, Kishore et al. 2021,
//! optimises against a frozen decoder), rather than drawn by the encoder in one pass? And does a
//! residual optimised through one simulator pass the other one, which it never saw?
//!
//! ```text
//! cargo run --release -p faketagger-train --example refine -- \
//!     DATA WEIGHTS_DIR TARGETS EVALS COUNT STEPS PSNR [SPLIT]
//! ```
//! - `TARGETS`: comma-separated simulator weights directories the residual is optimised
//!   through (`-` for none: the encoder's residual, projected into the budget);
//! - `EVALS`: simulators it is measured through (a face swap in its first four identities);
//! - `COUNT` faces of `SPLIT` (default `val`), `STEPS` optimisation steps, `PSNR` budget in dB.
//!
//! Each step decodes the photo as it is and through every target simulator (a face swap renders
//! an identity drawn at random each step), takes the gradient of the summed binary
//! cross-entropy with respect to the residual, moves the residual by a step of fixed L2 length
//! (a quarter of the budget's radius, falling linearly to 1/50) and projects it back into the
//! budget's L2 ball. Measured on the 8-bit images: PSNR, then channel-bit accuracy and exact
//! tag (through the codec, as the engine decodes) clean, after a real JPEG q50 and through
//! every evaluation simulator. Prints one Markdown row per measure.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use faketagger_attacks::{Attack, metrics};
use faketagger_codec::{Codec, Tag};
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::Simulator;
use faketagger_model::{Backend, weights};
use faketagger_train::data::FaceSet;
use faketagger_train::tagger::{bce_with_logits, bit_accuracy, embed};
use faketagger_train::validate::{Recovery, codewords};
use image::{DynamicImage, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Faces optimised together.
const BATCH: usize = 16;
/// Identities of a face swap the evaluation renders.
const EVAL_VARIANTS: usize = 4;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, weights_dir, targets, evals, count, steps, psnr) = match args.as_slice() {
        [d, w, t, e, c, s, p] | [d, w, t, e, c, s, p, _] => (d, w, t, e, c, s, p),
        _ => {
            return Err(
                "usage: refine DATA WEIGHTS_DIR TARGETS EVALS COUNT STEPS PSNR [SPLIT]".into(),
            );
        }
    };
    let split = args.get(7).map_or("val", String::as_str);
    let count: usize = count.parse()?;
    let steps: usize = steps.parse()?;
    let psnr: f32 = psnr.parse()?;
    if !(psnr.is_finite() && psnr > 0.0) {
        return Err(format!("PSNR budget must be positive, not {psnr}").into());
    }
    let dirs = |list: &str| -> Vec<PathBuf> {
        list.split(',')
            .filter(|s| !s.is_empty() && *s != "-")
            .map(PathBuf::from)
            .collect()
    };

    let device = Backend::Flex.device()?;
    let ad = device.clone().autodiff();
    let (_, net) = weights::load_tagger_net(weights_dir.as_ref(), "tagger", &ad)?;
    let net = net.no_grad();
    let (_, plain) = weights::load_tagger_net(weights_dir.as_ref(), "tagger", &device)?;
    let target_sims = dirs(targets)
        .iter()
        .map(|d| Simulator::load(d, &ad).map(Module::no_grad))
        .collect::<Result<Vec<_>, _>>()?;
    let eval_sims = dirs(evals)
        .iter()
        .map(|d| Ok((d.display().to_string(), Simulator::load(d, &device)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let faces = FaceSet::load(
        data.as_ref(),
        Some(split),
        net.decoder.resolution(),
        Some(count),
    )?;
    let codec = Codec::v1();
    if codec.channel_bits() != net.decoder_bits() {
        return Err("the weights do not match the v1 codec".into());
    }
    let jpeg: Attack = "jpeg:50".parse()?;

    let mut measures: Vec<(String, Recovery)> = vec![
        ("clean".into(), Recovery::default()),
        ("JPEG q50".into(), Recovery::default()),
    ];
    for (name, sim) in &eval_sims {
        for v in 0..sim.variants().min(EVAL_VARIANTS) {
            measures.push((format!("{name} #{v}"), Recovery::default()));
        }
    }
    let mut rng = StdRng::seed_from_u64(2024);
    let (mut psnr_sum, mut psnr_min) = (0.0f64, f64::INFINITY);
    let started = Instant::now();
    let indices: Vec<usize> = (0..faces.len()).collect();
    for chunk in indices.chunks(BATCH) {
        let tags: Vec<Tag> = chunk.iter().map(|_| Tag::new(rng.random())).collect();
        let (words, bits) = codewords(&codec, &tags, &ad);
        let cover = faces.batch(chunk, &[], &ad);
        let tagged = embed(&net, cover.clone(), bits.clone(), 1.0).detach();
        let elements = (cover.dims()[1] * cover.dims()[2] * cover.dims()[3]) as f32;
        let radius = (10f32.powf(-psnr / 10.0) * elements).sqrt();
        let mut residual = project(tagged - cover.clone(), radius);
        for step in 0..steps {
            let r = Tensor::<4>::from_data(residual.to_data(), &ad).require_grad();
            let image = (cover.clone() + r.clone()).clamp(0.0, 1.0);
            let mut loss = bce_with_logits(net.decoder.forward(image.clone()), bits.clone());
            let mut accuracies = Vec::new();
            for sim in &target_sims {
                let variant = rng.random_range(0..sim.variants());
                let through = sim.forward(image.clone(), variant);
                let logits = net.decoder.forward(through);
                if (step + 1) % 25 == 0 {
                    accuracies.push(bit_accuracy(logits.clone().detach(), bits.clone()));
                }
                loss = loss + bce_with_logits(logits, bits.clone());
            }
            if !accuracies.is_empty() {
                eprintln!(
                    "step {}: bits through the targets {accuracies:.3?}",
                    step + 1
                );
            }
            let grads = loss.backward();
            let Some(g) = r.grad(&grads) else {
                return Err("no gradient reached the residual".into());
            };
            let g = Tensor::<4>::from_data(g.into_data(), &ad);
            let fraction = 0.25 - (0.25 - 0.02) * step as f32 / steps.max(1) as f32;
            let unit = g.clone() / l2(g).add_scalar(1e-12);
            residual = project(residual - unit.mul_scalar(radius * fraction), radius);
        }
        let images = to_images((cover + residual).clamp(0.0, 1.0));
        let originals: Vec<RgbImage> = chunk.iter().map(|&i| faces.image(i)).collect();
        for (o, t) in originals.iter().zip(&images) {
            let p = metrics::psnr(o, t).unwrap_or_default().min(100.0);
            psnr_sum += p;
            psnr_min = psnr_min.min(p);
        }
        let mut attacked: Vec<Vec<RgbImage>> = vec![images.clone()];
        attacked.push(
            images
                .iter()
                .enumerate()
                .map(|(k, img)| {
                    jpeg.apply(&DynamicImage::ImageRgb8(img.clone()), k as u64)
                        .map(|d| d.to_rgb8())
                })
                .collect::<Result<_, _>>()?,
        );
        let batch = from_images(&images, &device);
        for (_, sim) in &eval_sims {
            for v in 0..sim.variants().min(EVAL_VARIANTS) {
                attacked.push(to_images(sim.forward(batch.clone(), v)));
            }
        }
        for ((_, measure), imgs) in measures.iter_mut().zip(&attacked) {
            measure.add(&plain, &codec, from_images(imgs, &device), &words, &tags);
        }
    }
    let n = faces.len() as f64;
    println!(
        "targets `{targets}`, {steps} steps, budget {psnr} dB, {} `{split}` faces, {:.0} s",
        faces.len(),
        started.elapsed().as_secs_f64()
    );
    println!("PSNR {:.2} dB mean, {:.2} min", psnr_sum / n, psnr_min);
    for (name, m) in &measures {
        println!(
            "| {name} | {:.3} | {:.1}% |",
            m.bit_accuracy(),
            100.0 * m.exact as f64 / n
        );
    }
    Ok(())
}

/// L2 norm of each image of a batch, `[B, 1, 1, 1]`.
fn l2(x: Tensor<4>) -> Tensor<4> {
    x.powi_scalar(2).sum_dim(3).sum_dim(2).sum_dim(1).sqrt()
}

/// `x` scaled per image into the L2 ball of `radius`.
fn project(x: Tensor<4>, radius: f32) -> Tensor<4> {
    let norm = l2(x.clone());
    let scale = norm.recip().mul_scalar(radius).clamp_max(1.0);
    x * scale
}
