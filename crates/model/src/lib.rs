//! # faketagger-model
//!
//! The burn side of faketagger (after FakeTagger, arXiv 2009.09869):
//!
//! - [`model`]: [`Encoder`] and [`Decoder`] with their configs, paired as [`TaggerNet`];
//! - [`noise`]: the differentiable attack layers ([`noise::Noiser`]) and the DeepFake
//!   simulators ([`noise::simulators`]: face-swap and reconstruction autoencoders);
//! - [`weights`]: the only code that reads or writes records and their configs;
//! - [`cpu`]: inference on the CPU without burn (the decoder here, MTCNN in `faketagger-faces`),
//!   the flex backend's fast path;
//! - [`Backend`]: which execution backend runs them.
//!
//! burn 0.22 selects the backend at run time through [`Device`]; a backend exists only when its
//! Cargo feature is compiled in (`flex`, the pure-Rust CPU backend, by default; `cuda` and `wgpu`
//! on request). [`Backend`] names them, parses `--device`-style text and builds the device.
//!
//! ```
//! use faketagger_model::Backend;
//! let backend: Backend = "flex".parse()?;
//! # #[cfg(feature = "flex")]
//! let device = backend.device()?;
//! # Ok::<(), faketagger_model::ModelError>(())
//! ```
#![deny(missing_docs)]

pub mod cpu;
pub mod images;
pub mod model;
pub mod noise;
pub mod weights;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// burn, re-exported so that users of these modules build tensors with the same version.
pub use burn;
pub use burn::tensor::Device;
pub use model::{Decoder, DecoderConfig, Encoder, EncoderConfig, TaggerNet, TaggerNetConfig};

/// The one error type of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A weights or config file that cannot be read, parsed or applied.
    #[error("weights {path}: {reason}")]
    BadWeights {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A backend name this crate does not know.
    #[error("unknown backend {text:?}: expected one of flex, cuda, wgpu")]
    UnknownBackend {
        /// The text given.
        text: String,
    },
    /// A backend in this build with no device to run on.
    #[error("backend {backend} has no device: {reason}")]
    NoDevice {
        /// The backend asked for.
        backend: Backend,
        /// What is missing.
        reason: String,
    },
    /// A known backend whose feature was not compiled into this build.
    #[error(
        "backend {backend} is not in this build (built with: {built}); rebuild with `--features {backend}`"
    )]
    BackendNotBuilt {
        /// The backend asked for.
        backend: Backend,
        /// The backends this build has, comma-separated.
        built: String,
    },
}

/// An execution backend for the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default build).
    Flex,
    /// NVIDIA GPUs through CUDA (feature `cuda`).
    Cuda,
    /// GPUs through wgpu: Vulkan, Metal, DX12 (feature `wgpu`).
    Wgpu,
    /// NVIDIA GPUs through LibTorch (feature `tch`; built against a local libtorch, e.g. PyPI's
    /// torch wheel: README, "GPU backends"). The first CUDA device.
    Tch,
}

impl Backend {
    /// Every backend, built or not.
    pub const ALL: [Backend; 4] = [Backend::Flex, Backend::Cuda, Backend::Wgpu, Backend::Tch];

    /// Whether this build can run the backend.
    pub const fn is_built(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Cuda => cfg!(feature = "cuda"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Tch => cfg!(feature = "tch"),
        }
    }

    /// The backends this build can run, fastest first (GPU before CPU).
    pub fn built() -> Vec<Backend> {
        [Backend::Cuda, Backend::Tch, Backend::Wgpu, Backend::Flex]
            .into_iter()
            .filter(|b| b.is_built())
            .collect()
    }

    /// The device of this backend (the first GPU for the GPU backends).
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(burn::tensor::DeviceIndex::Default)),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "tch")]
            Backend::Tch => tch_cuda(),
            #[allow(unreachable_patterns)] // every arm above is compiled in with all features
            other => Err(ModelError::BackendNotBuilt {
                backend: other,
                built: Backend::built()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// LibTorch's first CUDA device, or an error where LibTorch has none (it would panic at the first
/// tensor otherwise).
#[cfg(feature = "tch")]
#[allow(deprecated)] // burn 0.22 deprecates burn-tch; it is the backend that builds offline here
fn tch_cuda() -> Result<Device, ModelError> {
    if Device::enumerate(burn::tensor::DeviceType::LibTorch).is_empty() {
        return Err(ModelError::NoDevice {
            backend: Backend::Tch,
            reason:
                "LibTorch sees no CUDA device (is the NVIDIA driver there, and LD_LIBRARY_PATH \
                     set to a CUDA build's torch/lib?)"
                    .into(),
        });
    }
    Ok(Device::libtorch_cuda(burn::tensor::DeviceIndex::Default))
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
            Backend::Tch => "tch",
        })
    }
}

impl FromStr for Backend {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(Backend::Flex),
            "cuda" => Ok(Backend::Cuda),
            "wgpu" | "vulkan" => Ok(Backend::Wgpu),
            "tch" | "libtorch" => Ok(Backend::Tch),
            _ => Err(ModelError::UnknownBackend { text: s.to_owned() }),
        }
    }
}

#[cfg(test)]
#[cfg(feature = "flex")]
mod tests;

/// Builds a module from `device`'s generator seeded with `seed`, and draws every parameter now.
///
/// burn initialises parameters lazily, at their first use, from the device's one global
/// generator: two modules built in a row, or on two threads, would otherwise draw their weights
/// in whatever order they are first used. Building and drawing here, under one lock, makes a
/// module's initial weights depend on its seed alone.
pub fn init_seeded<M: burn::module::Module>(
    device: &Device,
    seed: u64,
    build: impl FnOnce(&Device) -> M,
) -> M {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let module = build(device);
    module.visit(&mut Materialise);
    module
}

/// Reads every float parameter, which makes a lazy one draw its value.
struct Materialise;

impl burn::module::ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        let _ = param.val();
    }
}

#[cfg(test)]
mod backend_tests {
    use burn::tensor::Tensor;

    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for b in Backend::ALL {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert_eq!("CPU".parse::<Backend>().unwrap(), Backend::Flex);
        assert!(matches!(
            "tpu".parse::<Backend>(),
            Err(ModelError::UnknownBackend { .. })
        ));
    }

    #[test]
    fn backends_not_built_say_how_to_get_them() {
        for b in Backend::ALL.into_iter().filter(|b| !b.is_built()) {
            let err = b.device().unwrap_err().to_string();
            assert!(err.contains(&format!("--features {b}")), "{err}");
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_device_computes() {
        let device = Backend::Flex.device().unwrap();
        let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let b = Tensor::<2>::from_floats([[0.5, -1.0], [2.0, 0.25]], &device);
        let product: Vec<f32> = a.matmul(b).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(product, vec![4.5, -0.5, 9.5, -2.0]);
    }
}
