//! Converts a regenerator trained by the PyTorch twin (`training/pytorch/regenerator.py`) into
//! a weights folder the engine loads (`regenerator.{json,bpk}`), with its reference outputs:
//!
//! ```text
//! cargo run --release -p faketagger-train --features convert --example convert_regenerator -- \
//!     training/configs/regen-f8c16.toml weights/regen-f8c16
//! ```
//!
//! The shape comes from the run file (the one the twin trained from); the state dict from the
//! run's `out` folder (`regenerator.pt`). Every tensor must land on a field of the burn module and
//! every field be filled. The twin's `reference.json` is copied beside the weights: the training
//! crate's test `twins_match_their_pytorch_reference` runs the converted network on its inputs.

use std::path::PathBuf;
use std::process::ExitCode;

use faketagger_model::Backend;
use faketagger_model::noise::simulators::REGENERATOR_NAME;
use faketagger_train::SimulatorTrainingConfig;
use faketagger_train::config::RunConfig;
use faketagger_train::twin;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [run_file, out] = args.as_slice() else {
        eprintln!("usage: convert_regenerator <run file> <weights dir>");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), String> {
        let run = RunConfig::load(run_file).map_err(|e| e.to_string())?;
        let last = run.stages.len().saturating_sub(1);
        let config: SimulatorTrainingConfig = run
            .stage_config(&SimulatorTrainingConfig::new(), last)
            .map_err(|e| e.to_string())?;
        let shape = config
            .regenerator
            .ok_or_else(|| format!("{} trains no regenerator", run_file.display()))?;
        shape.validate()?;
        let device = Backend::Flex.device().map_err(|e| e.to_string())?;
        let source = run.out.join("regenerator.pt");
        let reference = run.out.join("reference.json");
        let net = shape.init(&device);
        println!(
            "{}",
            twin::convert(net, &source, &shape, out, REGENERATOR_NAME, &reference)?
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convert_regenerator: {e}");
            ExitCode::FAILURE
        }
    }
}
