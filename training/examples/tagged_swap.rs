//! Experiment for the simulator targets of the training issue, in FakeTagger's other threat
//! model: the DeepFake is *trained on the victim's tagged photos*. A person tags every photo they
//! post with their one tag; a faker collects them and trains the face swap's decoder for that
//! person on them. Does every swap the model renders as that person carry the person's tag, even
//! when the face swapped in was never tagged?
//!
//! ```text
//! cargo run --release -p faketagger-train --example tagged_swap -- \
//!     DATA TAGGER_DIR FACESWAP_DIR STEPS EVAL_EVERY COUNT [STRENGTH]
//! ```
//! The face swap of `FACESWAP_DIR` (trained on the untagged `train` faces of its identities) is
//! trained on for `STEPS` more steps in its own recipe (warped inputs, MSE, Adam at 2e-4, one
//! identity per step, round robin), on the same faces, each identity's tagged with one seeded
//! tag of its own by the tagger of `TAGGER_DIR` at `STRENGTH` (default 1, the shipped default)
//! and saved to 8 bits; `STRENGTH` 0 trains on the untagged faces instead (the control). Before training and every `EVAL_EVERY`
//! steps, the first `COUNT` untagged `test` faces (identities the swap never saw) are swapped
//! into every identity, saved to 8 bits and decoded: channel-bit accuracy against that
//! identity's tag, how often the codec returns exactly that tag, and how often it returns any
//! other tag (a wrong verdict). The held-out faces of each identity are reconstructed too
//! (tagged ones in the tagged run): their PSNR and the same three figures. Prints one Markdown
//! row per evaluation.

use std::time::Instant;

use burn::tensor::Tensor;
use faketagger_attacks::metrics;
use faketagger_codec::{Codec, Tag};
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::{FACESWAP_NAME, FaceSwapConfig};
use faketagger_model::{Backend, TaggerNet, weights};
use faketagger_train::data::FaceSet;
use faketagger_train::tagger::embed;
use faketagger_train::validate::codewords;
use faketagger_train::{SimulatorTrainer, SimulatorTrainingConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Faces per forward pass.
const BATCH: usize = 32;
/// Held-out faces per identity (as `training/configs/faceswap.toml`).
const HOLDOUT: usize = 2;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, tagger_dir, swap_dir, steps, every, count) = match args.as_slice() {
        [d, t, s, n, e, c] | [d, t, s, n, e, c, _] => (d, t, s, n, e, c),
        _ => {
            return Err(
                "usage: tagged_swap DATA TAGGER_DIR FACESWAP_DIR STEPS EVAL_EVERY COUNT [STRENGTH]"
                    .into(),
            );
        }
    };
    let strength: f32 = args.get(6).map_or(Ok(1.0), |s| s.parse())?;
    if !(strength.is_finite() && strength >= 0.0) {
        return Err(format!("STRENGTH must be 0 or more, not {strength}").into());
    }
    let clean = strength == 0.0;
    let steps: usize = steps.parse()?;
    let every: usize = every.parse::<usize>()?.max(1);
    let count: usize = count.parse()?;

    let device = Backend::Flex.device()?;
    let (_, tagger) = weights::load_tagger_net(tagger_dir.as_ref(), "tagger", &device)?;
    let codec = Codec::v1();
    if codec.channel_bits() != tagger.decoder_bits() {
        return Err("the tagger does not match the v1 codec".into());
    }
    let swap_config: FaceSwapConfig =
        weights::load_config(&weights::WeightsFiles::new(swap_dir.as_ref(), FACESWAP_NAME).config)?;
    let side = swap_config.autoencoder.resolution;
    let mut train = FaceSet::load(data.as_ref(), Some("train"), side, None)?;
    let test = FaceSet::load(data.as_ref(), Some("test"), side, Some(count))?;
    let config = SimulatorTrainingConfig::new()
        .with_autoencoder(swap_config.autoencoder.clone())
        .with_identities(swap_config.identities)
        .with_holdout(HOLDOUT)
        .with_learning_rate(2e-4)
        .with_seed(7);
    // The trainer picks the identities and their held-out faces from the untagged set; tagging
    // below changes pixels only, so its lists stay valid.
    let mut trainer =
        SimulatorTrainer::new(config, &train, &device)?.with_weights(swap_dir.as_ref())?;
    let identities = trainer.identities().to_vec();

    let mut rng = StdRng::seed_from_u64(7);
    let tags: Vec<Tag> = identities.iter().map(|_| Tag::new(rng.random())).collect();
    let (words, _) = codewords(&codec, &tags, &device);
    let mut held_out: Vec<Vec<usize>> = Vec::new();
    let (mut psnr_sum, mut tagged_faces) = (0.0f64, 0usize);
    for (k, label) in identities.iter().enumerate() {
        let members: Vec<usize> = (0..train.len())
            .filter(|&i| train.faces[i].identity.as_deref() == Some(label.as_str()))
            .collect();
        held_out.push(members[members.len().saturating_sub(HOLDOUT)..].to_vec());
        if clean {
            continue;
        }
        for chunk in members.chunks(BATCH) {
            let (_, bits) = codewords(&codec, &vec![tags[k]; chunk.len()], &device);
            let cover = train.batch(chunk, &[], &device);
            let tagged = to_images(embed(&tagger, cover, bits, strength));
            for (&i, img) in chunk.iter().zip(tagged) {
                psnr_sum += metrics::psnr(&train.image(i), &img)
                    .unwrap_or_default()
                    .min(100.0);
                tagged_faces += 1;
                train.faces[i].rgb = img.into_raw();
            }
        }
    }
    println!(
        "{} run: identities {identities:?}, {} `train` faces {}, swaps of {} `test` faces",
        if clean {
            "control (untagged)"
        } else {
            "tagged"
        },
        held_out.iter().map(Vec::len).sum::<usize>() + trainer_faces(&identities, &train),
        if clean {
            "untagged".to_owned()
        } else {
            format!(
                "tagged at strength {strength}, {:.2} dB mean PSNR",
                psnr_sum / tagged_faces.max(1) as f64
            )
        },
        test.len()
    );
    println!(
        "| step | swaps: bit accuracy | exact tag | other tag | held out: PSNR | bit accuracy | exact tag | other tag |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let started = Instant::now();
    for step in 0..=steps {
        if step % every == 0 || step == steps {
            let sim = trainer.net();
            let mut swaps = Measure::default();
            let mut held = Measure::default();
            let (mut held_psnr, mut held_n) = (0.0f64, 0usize);
            let all: Vec<usize> = (0..test.len()).collect();
            for (k, word) in words.iter().enumerate() {
                for chunk in all.chunks(BATCH) {
                    let out = to_images(sim.forward(test.batch(chunk, &[], &device), k));
                    swaps.add(&tagger, &codec, &from_images(&out, &device), word, tags[k]);
                }
                let out = to_images(sim.forward(train.batch(&held_out[k], &[], &device), k));
                for (&i, img) in held_out[k].iter().zip(&out) {
                    held_psnr += metrics::psnr(&train.image(i), img).unwrap_or_default();
                    held_n += 1;
                }
                held.add(&tagger, &codec, &from_images(&out, &device), word, tags[k]);
            }
            println!(
                "| {step} | {} | {:.2} | {} | {:.0} s",
                swaps.row(),
                held_psnr / held_n.max(1) as f64,
                held.row(),
                started.elapsed().as_secs_f64()
            );
        }
        if step < steps {
            trainer.step(&train, step, &mut rng);
        }
    }
    Ok(())
}

/// Training faces of the identities (all their faces less the held-out ones).
fn trainer_faces(identities: &[String], faces: &FaceSet) -> usize {
    identities
        .iter()
        .map(|l| {
            let n = faces
                .faces
                .iter()
                .filter(|f| f.identity.as_deref() == Some(l.as_str()))
                .count();
            n.saturating_sub(HOLDOUT)
        })
        .sum()
}

/// Channel bits right, exact tags and other tags decoded, against one expected tag.
#[derive(Debug, Default)]
struct Measure {
    bits: usize,
    total: usize,
    images: usize,
    exact: usize,
    other: usize,
}

impl Measure {
    fn add(&mut self, net: &TaggerNet, codec: &Codec, images: &Tensor<4>, word: &[bool], tag: Tag) {
        let logits = net.decoder.forward(images.clone());
        let [b, n] = logits.dims();
        let data = logits.into_data().try_to_vec::<f32>().unwrap_or_default();
        for l in data.chunks(n).take(b) {
            self.bits += l
                .iter()
                .zip(word)
                .filter(|&(&l, &w)| (l > 0.0) == w)
                .count();
            self.total += n;
            self.images += 1;
            match codec.decode_soft(l).ok().and_then(|d| d.tag()) {
                Some(t) if t == tag => self.exact += 1,
                Some(_) => self.other += 1,
                None => {}
            }
        }
    }

    fn row(&self) -> String {
        let n = self.images.max(1) as f64;
        format!(
            "{:.4} | {:.1}% | {:.1}%",
            self.bits as f64 / self.total.max(1) as f64,
            100.0 * self.exact as f64 / n,
            100.0 * self.other as f64 / n
        )
    }
}
