//! One-off converter of facenet-pytorch 2.6.0's MTCNN weights (MIT) to `weights/mtcnn/`.
//!
//! The wheel ships the three networks' state dicts as `facenet_pytorch/data/{pnet,rnet,onet}.pt`.
//! Get them from the registry and convert (never at build or run time):
//!
//! ```text
//! pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/wheel && unzip -o /tmp/wheel/*.whl -d /tmp/wheel
//! cargo run --release -p faketagger-faces --features convert --example convert_mtcnn -- \
//!     /tmp/wheel/facenet_pytorch/data weights/mtcnn
//! ```
//!
//! Every tensor of each file must land on a field of the burn module and every field must be
//! filled; the converter fails otherwise. `weights/mtcnn/reference.py` then checks the converted
//! detector against facenet-pytorch's own outputs (the `faces` tests read its results).

use std::path::PathBuf;
use std::process::ExitCode;

use burn::module::Module;
use burn::store::{ModuleSnapshot, PytorchStore};
use faketagger_faces::MTCNN_NAME;
use faketagger_faces::nets::MtcnnConfig;
use faketagger_model::{Backend, weights};

/// PyTorch's `PReLU` stores its slopes as `weight`, burn's `PRelu` as `alpha`.
fn store(path: PathBuf) -> PytorchStore {
    PytorchStore::from_file(path)
        .with_key_remapping(r"^(prelu\d+)\.weight$", "$1.alpha")
        .allow_partial(false)
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [data, out] = args.as_slice() else {
        eprintln!("usage: convert_mtcnn <facenet_pytorch/data> <output dir>");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), String> {
        let device = Backend::Flex.device().map_err(|e| e.to_string())?;
        let config = MtcnnConfig::new();
        let mut mtcnn = config.init(&device);
        let report = |name: &str, result: burn::store::ApplyResult| -> Result<(), String> {
            if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty()
            {
                return Err(format!("{name}: {result:?}"));
            }
            println!("{name}: {} tensors applied", result.applied.len());
            Ok(())
        };
        let r = mtcnn
            .pnet
            .load_from(&mut store(data.join("pnet.pt")))
            .map_err(|e| e.to_string())?;
        report("pnet", r)?;
        let r = mtcnn
            .rnet
            .load_from(&mut store(data.join("rnet.pt")))
            .map_err(|e| e.to_string())?;
        report("rnet", r)?;
        let r = mtcnn
            .onet
            .load_from(&mut store(data.join("onet.pt")))
            .map_err(|e| e.to_string())?;
        report("onet", r)?;
        let files =
            weights::save(mtcnn.no_grad(), &config, out, MTCNN_NAME).map_err(|e| e.to_string())?;
        println!(
            "wrote {} and {}",
            files.config.display(),
            files.record.display()
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convert_mtcnn: {e}");
            ExitCode::FAILURE
        }
    }
}
