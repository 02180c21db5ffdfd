//! # faketagger-train
//!
//! Training for faketagger's networks (after FakeTagger, arXiv 2009.09869):
//!
//! - [`data`]: face images from any folder, with CelebA-style `meta.csv` splits when present;
//! - [`tagger`]: the encoder/decoder training step ([`TaggerTrainer`]): cover + random channel
//!   bits → encoder → 8-bit quantisation → attack layers → decoder, with an image loss (MSE) and
//!   a message loss (binary cross-entropy on the channel bits), and evaluation per attack.
//!
//! ```no_run
//! use faketagger_model::{Backend, TaggerNetConfig};
//! use faketagger_train::{data::FaceSet, TaggerTrainer, TaggerTrainingConfig};
//! let device = Backend::Flex.device()?;
//! let faces = FaceSet::load("../shared/datasets/celeba-faces128".as_ref(), Some("train"), 128, None)?;
//! let mut trainer = TaggerTrainer::new(TaggerTrainingConfig::new(TaggerNetConfig::standard()), &device)?;
//! let stats = trainer.step(&faces);
//! println!("bit accuracy {:.3}", stats.bit_accuracy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod data;
pub mod tagger;

#[cfg(all(test, feature = "flex"))]
mod tests;

use std::path::PathBuf;

pub use tagger::{EvalStats, StepStats, TaggerTrainer, TaggerTrainingConfig};

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
}
