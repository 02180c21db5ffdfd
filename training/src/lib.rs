//! # faketagger-train
//!
//! Training for faketagger's networks (after FakeTagger, arXiv 2009.09869), behind
//! `faketagger train --config training/configs/NAME.toml`:
//!
//! - [`config`]: run files ([`RunConfig`]): kind, data, output folder, seed, the training config
//!   over its defaults, and the curriculum as [`Stage`]s;
//! - [`run`]: the loop ([`Run`]): seeded steps, validation every K steps, CSV logs, checkpoints
//!   with Adam's state and exact resume, progress through a [`Reporter`];
//! - [`tagger`]: the encoder/decoder step ([`TaggerTrainer`]): cover + random channel bits →
//!   encoder → 8-bit quantisation → attack layers or a frozen DeepFake simulator → decoder, with
//!   an image loss (MSE) and a message loss (binary cross-entropy on the channel bits);
//! - [`simulators`]: the DeepFake simulators' training ([`SimulatorTrainer`]): a reconstruction
//!   autoencoder or a face swap;
//! - [`validate`]: the tagger's validation with real attacks and the codec (exact tags);
//! - [`data`]: face images from any folder, with CelebA-style `meta.csv` splits when present;
//! - [`plot`]: SVG plots of a run's logs.
//!
//! ```no_run
//! use faketagger_model::Backend;
//! use faketagger_train::run::{Run, Start};
//! use faketagger_train::{RunConfig, SilentReporter};
//! let config = RunConfig::load("training/configs/faketagger-v1.toml".as_ref())?;
//! let device = Backend::Flex.device()?;
//! let summary = Run::new(config, &device, &SilentReporter).execute(Start::Fresh, Some(100))?;
//! println!("{} of {} steps", summary.steps, summary.total);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod data;
pub mod plot;
pub mod run;
pub mod simulators;
pub mod tagger;
#[cfg(feature = "convert")]
pub mod twin;
pub mod validate;

#[cfg(all(test, feature = "flex"))]
mod tests;

use std::path::PathBuf;

pub use config::{RunConfig, RunKind, Stage};
pub use run::{Reporter, Run, SilentReporter};
pub use simulators::{SimulatorTrainer, SimulatorTrainingConfig};
pub use tagger::{EvalStats, StepStats, TaggerTrainer, TaggerTrainingConfig};
pub use validate::ValRow;

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A dataset that cannot be read.
    #[error("dataset {path}: {reason}")]
    Dataset {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An invalid training config.
    #[error("training config: {0}")]
    Config(String),
    /// Model or weights errors.
    #[error(transparent)]
    Model(#[from] faketagger_model::ModelError),
    /// A real attack that could not be applied to a batch (never replaced by the unattacked
    /// image).
    #[error(transparent)]
    Attack(#[from] faketagger_attacks::AttackError),
    /// A file of the run (checkpoint, log, plot) that cannot be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A run folder that already holds another run or a checkpoint that does not fit.
    #[error("run {path}: {reason}")]
    Resume {
        /// The run folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn io_error(path: &std::path::Path, reason: impl ToString) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A learning rate must be positive and finite.
pub(crate) fn check_learning_rate(learning_rate: f64) -> Result<(), TrainError> {
    if learning_rate > 0.0 && learning_rate.is_finite() {
        Ok(())
    } else {
        Err(TrainError::Config(format!(
            "learning_rate must be positive, not {learning_rate}"
        )))
    }
}
