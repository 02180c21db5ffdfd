//! Converts a face swap trained by the PyTorch twin (`training/pytorch/faceswap.py`) into a
//! weights folder the engine loads (`faceswap.{json,bpk}`), with its reference outputs:
//!
//! ```text
//! python3 training/pytorch/faceswap.py --config training/configs/faceswap-w64.toml --reference-only
//! cargo run --release -p faketagger-train --features convert --example convert_faceswap -- \
//!     runs/faceswap-w64 clean weights/faceswap
//! ```
//!
//! Reads the run folder's `faceswap.json` (the shape), `faceswap-<fork>.f32.pt` (the state dict)
//! and `reference-<fork>.json`, which is copied beside the weights as `reference.json`: the
//! training crate's test `twins_match_their_pytorch_reference` runs the converted network on its
//! inputs.

use std::path::PathBuf;
use std::process::ExitCode;

use faketagger_model::noise::simulators::{FACESWAP_NAME, FaceSwapConfig};
use faketagger_model::{Backend, weights};
use faketagger_train::twin;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [run_dir, fork, out] = args.as_slice() else {
        eprintln!("usage: convert_faceswap <run folder> <clean|tagged> <weights dir>");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), String> {
        let fork = fork.to_str().ok_or("the fork is clean or tagged")?;
        let shape: FaceSwapConfig =
            weights::load_config(&run_dir.join("faceswap.json")).map_err(|e| e.to_string())?;
        shape.validate()?;
        let device = Backend::Flex.device().map_err(|e| e.to_string())?;
        let source = run_dir.join(format!("faceswap-{fork}.f32.pt"));
        let reference = run_dir.join(format!("reference-{fork}.json"));
        let net = shape.init(&device);
        println!(
            "{}",
            twin::convert(net, &source, &shape, out, FACESWAP_NAME, &reference)?
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convert_faceswap: {e}");
            ExitCode::FAILURE
        }
    }
}
