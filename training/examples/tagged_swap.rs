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
//!
//! `STEPS` 0 measures `FACESWAP_DIR` as it is: how FakeTagger's protocol is graded for a swap
//! trained elsewhere on the photos `--export` writes (`training/pytorch/faceswap.py --tagged`):
//!
//! ```text
//! cargo run --release -p faketagger-train --example tagged_swap -- \
//!     --export DATA TAGGER_DIR OUT_DIR [STRENGTH]
//! ```
//! writes every face of the swap's identities (training and held-out, picked by the simulator
//! trainer's rule), each identity's tagged with its tag as above, as 8-bit PNGs named after the
//! dataset's files, and `manifest.csv` (file, identity, index, role, tag, psnr).

use std::time::Instant;

use faketagger_attacks::metrics;
use faketagger_codec::{Codec, Tag};
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::{FACESWAP_NAME, FaceSwapConfig};
use faketagger_model::{Backend, Device, TaggerNet, weights};
use faketagger_train::data::FaceSet;
use faketagger_train::tagger::embed;
use faketagger_train::validate::{Recovery, codewords};
use faketagger_train::{SimulatorTrainer, SimulatorTrainingConfig};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Faces per forward pass.
const BATCH: usize = 32;
/// Held-out faces per identity (as `training/configs/faceswap.toml`).
const HOLDOUT: usize = 2;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--export") {
        return export(&args[1..]);
    }
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
    // below changes pixels only, so its lists stay valid for the tagged set.
    let mut trainer =
        SimulatorTrainer::new(config, &train, &device)?.with_weights(swap_dir.as_ref())?;
    let identities = trainer.identities().to_vec();

    let mut rng = StdRng::seed_from_u64(7);
    let tags = identity_tags(&mut rng, identities.len());
    // Each identity's tag and word, repeated for a batch of its faces.
    let batch_tags: Vec<Vec<Tag>> = tags.iter().map(|&t| vec![t; BATCH]).collect();
    let batch_words: Vec<Vec<Vec<bool>>> = batch_tags
        .iter()
        .map(|t| codewords(&codec, t, &device).0)
        .collect();
    let (trained_on, held_out) = trainer.faces();
    let (trained_on, held_out) = (trained_on.to_vec(), held_out.to_vec());
    let members: Vec<Vec<usize>> = trained_on
        .iter()
        .zip(&held_out)
        .map(|(t, h)| [t.as_slice(), h].concat())
        .collect();
    let (mut psnr_sum, mut tagged_faces) = (0.0f64, 0usize);
    for (k, faces) in members.iter().enumerate() {
        if clean {
            continue;
        }
        for (i, img) in tag_faces(&tagger, &codec, &train, faces, tags[k], strength, &device) {
            psnr_sum += metrics::psnr(&train.image(i), &img)
                .unwrap_or_default()
                .min(100.0);
            tagged_faces += 1;
            train.faces[i].rgb = img.into_raw();
        }
    }
    println!(
        "{} run: identities {identities:?}, {} `train` faces {}, swaps of {} `test` faces",
        if clean {
            "control (untagged)"
        } else {
            "tagged"
        },
        members.iter().map(Vec::len).sum::<usize>(),
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
        "| step | swaps: bit accuracy | exact tag | other tag | held out: PSNR | bit accuracy | exact tag | other tag | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let started = Instant::now();
    for step in 0..=steps {
        if step % every == 0 || step == steps {
            let sim = trainer.net();
            let mut swaps = Recovery::default();
            let mut held = Recovery::default();
            let (mut held_psnr, mut held_n) = (0.0f64, 0usize);
            let all: Vec<usize> = (0..test.len()).collect();
            for (k, (words, tags)) in batch_words.iter().zip(&batch_tags).enumerate() {
                for chunk in all.chunks(BATCH) {
                    let out = to_images(sim.forward(test.batch(chunk, &[], &device), k));
                    swaps.add(&tagger, &codec, from_images(&out, &device), words, tags);
                }
                let out = to_images(sim.forward(train.batch(&held_out[k], &[], &device), k));
                for (&i, img) in held_out[k].iter().zip(&out) {
                    held_psnr += metrics::psnr(&train.image(i), img).unwrap_or_default();
                    held_n += 1;
                }
                held.add(&tagger, &codec, from_images(&out, &device), words, tags);
            }
            println!(
                "| {step} | {} | {:.2} | {} | {:.0} s |",
                row(&swaps),
                held_psnr / held_n.max(1) as f64,
                row(&held),
                started.elapsed().as_secs_f64()
            );
        }
        if step < steps {
            trainer.step(&train, step, &mut rng);
        }
    }
    Ok(())
}

/// One seeded tag per identity, drawn first from the run's generator.
fn identity_tags(rng: &mut StdRng, count: usize) -> Vec<Tag> {
    (0..count).map(|_| Tag::new(rng.random())).collect()
}

/// The faces `indices` of `set`, each tagged with `tag` by `tagger` at `strength` and rounded to
/// 8 bits, with their indices.
fn tag_faces(
    tagger: &TaggerNet,
    codec: &Codec,
    set: &FaceSet,
    indices: &[usize],
    tag: Tag,
    strength: f32,
    device: &Device,
) -> Vec<(usize, RgbImage)> {
    let mut out = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(BATCH) {
        let (_, bits) = codewords(codec, &vec![tag; chunk.len()], device);
        let tagged = to_images(embed(tagger, set.batch(chunk, &[], device), bits, strength));
        out.extend(chunk.iter().copied().zip(tagged));
    }
    out
}

/// `--export DATA TAGGER_DIR OUT_DIR [STRENGTH]`: the swap's identities' faces, tagged.
fn export(args: &[String]) -> Result<(), Error> {
    let (data, tagger_dir, out) = match args {
        [d, t, o] | [d, t, o, _] => (d, t, std::path::Path::new(o)),
        _ => return Err("usage: tagged_swap --export DATA TAGGER_DIR OUT_DIR [STRENGTH]".into()),
    };
    let strength: f32 = args.get(3).map_or(Ok(1.0), |s| s.parse())?;
    if !(strength.is_finite() && strength > 0.0) {
        return Err(format!("STRENGTH must be positive, not {strength}").into());
    }
    if out.exists() {
        return Err(format!("{} exists: pick a new folder", out.display()).into());
    }
    let device = Backend::Flex.device()?;
    let (_, tagger) = weights::load_tagger_net(tagger_dir.as_ref(), "tagger", &device)?;
    let codec = Codec::v1();
    let train = FaceSet::load(data.as_ref(), Some("train"), 128, None)?;
    let config = SimulatorTrainingConfig::new()
        .with_identities(4)
        .with_holdout(HOLDOUT);
    let trainer = SimulatorTrainer::new(config, &train, &device)?;
    let tags = identity_tags(&mut StdRng::seed_from_u64(7), trainer.identities().len());
    std::fs::create_dir_all(out)?;
    let mut manifest = String::from("file,identity,index,role,tag,psnr\n");
    let (trained_on, held_out) = trainer.faces();
    for (k, name) in trainer.identities().iter().enumerate() {
        for (role, faces) in [("train", &trained_on[k]), ("held", &held_out[k])] {
            for (i, img) in tag_faces(&tagger, &codec, &train, faces, tags[k], strength, &device) {
                let file = train.faces[i]
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or("a face file name is not UTF-8")?
                    .to_owned();
                let psnr = metrics::psnr(&train.image(i), &img).unwrap_or_default();
                let png = out.join(std::path::Path::new(&file).with_extension("png"));
                img.save(&png)?;
                manifest.push_str(&format!("{file},{name},{k},{role},{},{psnr:.2}\n", tags[k]));
            }
        }
    }
    std::fs::write(out.join("manifest.csv"), manifest)?;
    println!(
        "wrote the tagged faces of {:?} (tags {:?}) to {}",
        trainer.identities(),
        tags.iter().map(ToString::to_string).collect::<Vec<_>>(),
        out.display()
    );
    Ok(())
}

/// Bit accuracy, exact tags and other tags as Markdown cells.
fn row(r: &Recovery) -> String {
    let (exact, other) = r.exact_and_other();
    format!(
        "{:.4} | {:.1}% | {:.1}%",
        r.bit_accuracy(),
        100.0 * exact,
        100.0 * other
    )
}
