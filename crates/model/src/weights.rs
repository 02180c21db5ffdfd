//! The only code that reads or writes weights: a network's record (`<name>.bpk`, burn's
//! burnpack format) always travels with the config that shapes it (`<name>.json`).
//! Loading rebuilds the network from the config, then applies the record, so a record that does
//! not fit its config is refused with the names of the tensors that disagree.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};

use crate::ModelError;
use crate::model::{TaggerNet, TaggerNetConfig};

/// Extension of the record file.
pub const RECORD_EXTENSION: &str = "bpk";
/// Extension of the config file.
pub const CONFIG_EXTENSION: &str = "json";

/// The two files of a named network in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsFiles {
    /// `<dir>/<name>.json`.
    pub config: PathBuf,
    /// `<dir>/<name>.bpk`.
    pub record: PathBuf,
}

impl WeightsFiles {
    /// The files of `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            config: dir.join(format!("{name}.{CONFIG_EXTENSION}")),
            record: dir.join(format!("{name}.{RECORD_EXTENSION}")),
        }
    }
}

fn bad(path: &Path, reason: impl ToString) -> ModelError {
    ModelError::BadWeights {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Saves `module` and its `config` as `<dir>/<name>.{bpk,json}` (config first).
pub fn save<M: Module, C: Config>(
    module: M,
    config: &C,
    dir: &Path,
    name: &str,
) -> Result<WeightsFiles, ModelError> {
    let files = WeightsFiles::new(dir, name);
    std::fs::create_dir_all(dir).map_err(|e| bad(dir, e))?;
    config
        .save(&files.config)
        .map_err(|e| bad(&files.config, e))?;
    module
        .save_file(&files.record)
        .map_err(|e| bad(&files.record, e))?;
    Ok(files)
}

/// Reads a config file.
pub fn load_config<C: Config>(path: &Path) -> Result<C, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
    parse_config(&bytes, path)
}

/// Parses a config from its JSON bytes (named `source` in errors).
pub fn parse_config<C: Config>(bytes: &[u8], source: &Path) -> Result<C, ModelError> {
    C::load_binary(bytes).map_err(|e| bad(source, format!("not a valid config: {e}")))
}

/// A record's bytes: read from a file, or compiled into the binary (`include_bytes!`), whose
/// tensors are then read where they lie (copying the tagger's 3.8 MB cost ~2.5 ms a command).
#[derive(Debug, Clone)]
pub enum RecordBytes {
    /// Bytes of its own.
    Owned(Vec<u8>),
    /// Bytes that live as long as the program.
    Static(&'static [u8]),
}

impl From<Vec<u8>> for RecordBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Owned(bytes)
    }
}

impl From<&'static [u8]> for RecordBytes {
    fn from(bytes: &'static [u8]) -> Self {
        Self::Static(bytes)
    }
}

impl From<RecordBytes> for Bytes {
    fn from(record: RecordBytes) -> Self {
        match record {
            RecordBytes::Owned(bytes) => Bytes::from_bytes_vec(bytes),
            RecordBytes::Static(bytes) => Bytes::from_shared(
                bytes::Bytes::from_static(bytes),
                burn::tensor::AllocationProperty::Other,
            ),
        }
    }
}

/// Applies the record in `bytes` (named `source` in errors) to `module`.
pub fn apply_record<M: Module>(
    module: M,
    bytes: impl Into<RecordBytes>,
    source: &Path,
) -> Result<M, ModelError> {
    let record = ModuleRecord::from_bytes(Bytes::from(bytes.into()))
        .map_err(|e| bad(source, format!("not a burnpack record: {e}")))?;
    module
        .try_load_record(record)
        .map_err(|e| bad(source, format!("does not fit its config: {e}")))
}

/// Loads any network from `<dir>/<name>.{json,bpk}`: the config is read, `build` makes the
/// network from it (checking it first), and the record is applied.
///
/// ```no_run
/// use faketagger_model::noise::simulators::{FaceSwap, FaceSwapConfig};
/// use faketagger_model::{Backend, weights};
/// let device = Backend::Flex.device()?;
/// let (config, swap): (FaceSwapConfig, FaceSwap) =
///     weights::load("weights/simulators".as_ref(), "faceswap", &device, |c: &FaceSwapConfig, d| {
///         c.validate()?;
///         Ok(c.init(d))
///     })?;
/// # Ok::<(), faketagger_model::ModelError>(())
/// ```
pub fn load<C: Config, M: Module>(
    dir: &Path,
    name: &str,
    device: &Device,
    build: impl FnOnce(&C, &Device) -> Result<M, String>,
) -> Result<(C, M), ModelError> {
    let files = WeightsFiles::new(dir, name);
    let config: C = load_config(&files.config)?;
    let module = build(&config, device)
        .map_err(|reason| bad(&files.config, format!("invalid config: {reason}")))?;
    let record = std::fs::read(&files.record).map_err(|e| bad(&files.record, e))?;
    Ok((config, apply_record(module, record, &files.record)?))
}

/// Loads a tagger network from `<dir>/<name>.{json,bpk}`.
pub fn load_tagger_net(
    dir: &Path,
    name: &str,
    device: &Device,
) -> Result<(TaggerNetConfig, TaggerNet), ModelError> {
    load(dir, name, device, TaggerNetConfig::try_init)
}

/// Builds any network from the bytes of its config and record (e.g. compiled into a binary with
/// `include_bytes!`), named `source` in errors; `build` as in [`load`].
pub fn from_parts<C: Config, M: Module>(
    config: &[u8],
    record: impl Into<RecordBytes>,
    source: &Path,
    device: &Device,
    build: impl FnOnce(&C, &Device) -> Result<M, String>,
) -> Result<(C, M), ModelError> {
    let config: C = parse_config(config, source)?;
    let module = build(&config, device)
        .map_err(|reason| bad(source, format!("invalid config: {reason}")))?;
    Ok((config, apply_record(module, record, source)?))
}

/// Builds a tagger network from a config and the bytes of its record (e.g. compiled into a
/// binary with `include_bytes!`).
pub fn tagger_net_from_parts(
    config: TaggerNetConfig,
    record: impl Into<RecordBytes>,
    source: &Path,
    device: &Device,
) -> Result<(TaggerNetConfig, TaggerNet), ModelError> {
    let net = config
        .try_init(device)
        .map_err(|reason| bad(source, format!("invalid config: {reason}")))?;
    let net = apply_record(net, record, source)?;
    Ok((config, net))
}
