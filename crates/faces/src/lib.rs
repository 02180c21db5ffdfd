//! # faketagger-faces
//!
//! Finds faces and their five landmarks in any photo, as DeepFake tools do before they align a
//! face to a canonical crop: MTCNN (Zhang et al., IEEE SPL 2016) on burn, with the pretrained
//! weights facenet-pytorch 2.6.0 ships (MIT), converted once by `examples/convert_mtcnn.rs` and
//! kept in `weights/mtcnn/` with their card.
//!
//! - [`Detector`]: the three networks, loaded from their weights; [`Detector::detect`] runs the
//!   cascade (image pyramid → PNet proposals → RNet → ONet) and returns [`Face`]s.
//! - [`DetectOptions`]: the smallest face searched for, the three thresholds, the pyramid step;
//!   the defaults are the reference implementation's.
//! - [`nets`]: the burn modules. On the flex backend the detector runs the same weights on the
//!   CPU without burn (`cpu_nets`: register-tiled convolutions, AVX2/FMA chosen at run time),
//!   about five times faster on a 1080p photo; on a GPU backend it runs the burn modules.
//!
//! The cascade follows facenet-pytorch's `detect_face` step by step (area resampling, the same
//! box arithmetic, the same suppression rules), so that its outputs can be checked against the
//! reference's own on the same photos (`weights/mtcnn/reference.py`, the crate's tests).
//!
//! ```no_run
//! use faketagger_faces::{DetectOptions, Detector};
//! use faketagger_model::Backend;
//! let device = Backend::Flex.device()?;
//! let detector = Detector::load("weights/mtcnn".as_ref(), &device)?;
//! let photo = image::open("assets/astronaut.jpg").expect("photo").to_rgb8();
//! for face in detector.detect(&photo, &DetectOptions::default())? {
//!     println!("{:?} {:.3} {:?}", face.bbox, face.score, face.landmarks);
//! }
//! # Ok::<(), faketagger_faces::FaceError>(())
//! ```
#![deny(missing_docs)]

mod cpu_nets;
mod detect;
pub mod nets;

pub use detect::{DetectOptions, Detector, Face, STEADY_SCALES, mirrored};
pub use faketagger_attacks::faceswap::Landmarks;

/// The name of the detector's files in its weights folder (`mtcnn.json`, `mtcnn.bpk`).
pub const MTCNN_NAME: &str = "mtcnn";

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The detector's weights could not be read or do not fit.
    #[error(transparent)]
    Weights(#[from] faketagger_model::ModelError),
    /// Options outside their meaningful range.
    #[error("invalid detection options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// A network's output could not be read back from the device.
    #[error("the {network} network's output could not be read: {reason}")]
    Network {
        /// Which network.
        network: &'static str,
        /// What failed.
        reason: String,
    },
}
