//! Networks trained by a PyTorch twin (`training/pytorch/`) brought into burn: the state dict's
//! names are the burn module's, so a tensor lands on its field without renaming. Used by the
//! converter examples (`convert_regenerator`, `convert_faceswap`); feature `convert`.

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, PytorchStore};

/// Loads the PyTorch state dict at `source` into `net`. Every tensor must land on a field and
/// every field be filled; returns the number of tensors applied.
pub fn load_state_dict<M: Module>(net: &mut M, source: &Path) -> Result<usize, String> {
    let mut store = PytorchStore::from_file(source).allow_partial(false);
    let result = net.load_from(&mut store).map_err(|e| e.to_string())?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        return Err(format!("{}: {result:?}", source.display()));
    }
    Ok(result.applied.len())
}

/// Copies a twin's `reference.json` (its outputs on fixed inputs) beside converted weights, as
/// `<out>/reference.json`, which the training crate's twin test reads.
pub fn copy_reference(source: &Path, out: &Path) -> Result<std::path::PathBuf, String> {
    let reference = out.join("reference.json");
    std::fs::copy(source, &reference).map_err(|e| format!("{}: {e}", reference.display()))?;
    Ok(reference)
}
