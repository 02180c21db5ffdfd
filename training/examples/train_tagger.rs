//! Trains the tagger from the command line until the training pipeline's `faketagger train`
//! lands: `cargo run --release -p faketagger-train --example train_tagger -- DATA_DIR OUT_DIR
//! NAME STEPS [CONFIG.json]`. Prints one line per step, evaluates on `val` and saves
//! `OUT_DIR/NAME.{bpk,json}` every `EVAL_EVERY` steps.

use std::path::PathBuf;
use std::time::Instant;

use burn::config::Config;
use faketagger_model::noise::NoiseOp;
use faketagger_model::{Backend, TaggerNetConfig, weights};
use faketagger_train::data::FaceSet;
use faketagger_train::{TaggerTrainer, TaggerTrainingConfig};

const EVAL_EVERY: usize = 100;
const EVAL_FACES: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out, name, steps, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: train_tagger DATA_DIR OUT_DIR NAME STEPS [CONFIG.json] [INIT_NAME]".into(),
        );
    };
    let (data, out, steps): (PathBuf, PathBuf, usize) = (data.into(), out.into(), steps.parse()?);
    let config = match rest.first() {
        Some(path) => TaggerTrainingConfig::load(path)?,
        None => TaggerTrainingConfig::new(TaggerNetConfig::standard()),
    };
    let device = Backend::Flex.device()?;
    let train = FaceSet::load(&data, Some("train"), config.net.resolution(), None)?;
    let val = FaceSet::load(
        &data,
        Some("val"),
        config.net.resolution(),
        Some(EVAL_FACES),
    )?;
    eprintln!(
        "{} train faces, {} val faces; encoder {:.1} MMAC, decoder {:.1} MMAC per image",
        train.len(),
        val.len(),
        config.net.encoder.macs() as f64 / 1e6,
        config.net.decoder.macs() as f64 / 1e6
    );
    std::fs::create_dir_all(&out)?;
    config.save(out.join(format!("{name}.training.json")))?;
    let mut trainer = TaggerTrainer::new(config.clone(), &device)?;
    if let Some(init) = rest.get(1) {
        trainer = trainer.with_weights(&out, init)?;
    }
    let start = Instant::now();
    for _ in 0..steps {
        let t = Instant::now();
        let s = trainer.step(&train);
        let ops: Vec<String> = s.ops.iter().map(ToString::to_string).collect();
        println!(
            "step {:5} {:6.3}s loss {:.4} bce {:.4} psnr {:5.2} acc {:.4} [{}]",
            s.step,
            t.elapsed().as_secs_f32(),
            s.loss,
            s.message_bce,
            s.psnr,
            s.bit_accuracy,
            ops.join(" ")
        );
        if s.step % EVAL_EVERY == 0 || s.step == steps {
            weights::save(trainer.net(), &config.net, &out, name)?;
            for op in [
                NoiseOp::Identity,
                NoiseOp::Jpeg { quality: 50.0 },
                NoiseOp::Resize { scale: 0.5 },
                NoiseOp::Blur { sigma: 1.0 },
            ] {
                let e = trainer.evaluate(&val, op, 1.0, 7);
                println!(
                    "eval step {} {op}: psnr {:.2} bit acc {:.4} ({:.0}s elapsed)",
                    s.step,
                    e.psnr,
                    e.bit_accuracy,
                    start.elapsed().as_secs_f32()
                );
            }
        }
    }
    Ok(())
}
