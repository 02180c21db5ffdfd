//! Networks trained by a PyTorch twin (`training/pytorch/`) brought into burn: the state dict's
//! names are the burn module's, so a tensor lands on its field without renaming. Used by the
//! converter examples (`convert_regenerator`, `convert_faceswap`); feature `convert`.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::store::{ModuleSnapshot, PytorchStore};
use faketagger_model::weights;

/// Converts a twin's network: loads the PyTorch state dict at `source` into `net` (every tensor
/// must land on a field and every field be filled), saves it as `<out>/<name>.{json,bpk}` with
/// its `config`, and copies the twin's reference outputs (`reference`, its outputs on fixed
/// inputs) beside it as `<out>/reference.json`, which the training crate's twin test reads.
/// Returns lines saying what was applied and written.
pub fn convert<M: Module, C: Config>(
    mut net: M,
    source: &Path,
    config: &C,
    out: &Path,
    name: &str,
    reference: &Path,
) -> Result<String, String> {
    let mut store = PytorchStore::from_file(source).allow_partial(false);
    let result = net.load_from(&mut store).map_err(|e| e.to_string())?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        return Err(format!("{}: {result:?}", source.display()));
    }
    let files = weights::save(net.no_grad(), config, out, name).map_err(|e| e.to_string())?;
    let copied = out.join("reference.json");
    std::fs::copy(reference, &copied).map_err(|e| format!("{}: {e}", copied.display()))?;
    Ok(format!(
        "{}: {} tensors applied\nwrote {}, {} and {}",
        source.display(),
        result.applied.len(),
        files.config.display(),
        files.record.display(),
        copied.display()
    ))
}
