//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine and its I/O. Each variant names the file at fault;
/// "no tag found" is not an error but a [`crate::Detection`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an image this build can decode, or it is corrupt or truncated.
    #[error("{}: cannot decode image: {reason}", path.display())]
    BadImage {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image's dimensions exceed the limits in [`crate::io`] (decompression-bomb guard).
    #[error("{}: image is {width}×{height}, over the limit of {max_side} px a side or {max_mp} megapixels", path.display(), max_side = crate::io::MAX_SIDE, max_mp = *max_pixels as f64 / 1e6)]
    ImageTooLarge {
        /// The file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The pixel limit it broke.
        max_pixels: u64,
    },
    /// The image is too small to carry a tag.
    #[error("{}: image is {width}×{height}, under the minimum of {min} px a side", path.display(), min = crate::io::MIN_SIDE)]
    ImageTooSmall {
        /// The file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// The output exists and replacing it was not allowed.
    #[error("{}: output exists", path.display())]
    OutputExists {
        /// The output.
        path: PathBuf,
    },
    /// The output is one of the inputs.
    #[error("{}: output is also an input; inputs are never overwritten", path.display())]
    OutputIsInput {
        /// The output.
        path: PathBuf,
    },
    /// An image could not be encoded in the output format.
    #[error("{}: cannot encode image: {reason}", path.display())]
    Encode {
        /// The output.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
    /// A value outside its range.
    #[error("{what} = {value}: {expected}")]
    OutOfRange {
        /// The parameter.
        what: &'static str,
        /// The value.
        value: f64,
        /// The accepted range.
        expected: &'static str,
    },
    /// An attack could not be applied.
    #[error(transparent)]
    Attack(#[from] faketagger_attacks::AttackError),
    /// The tag codec refused its input.
    #[error(transparent)]
    Codec(#[from] faketagger_codec::CodecError),
    /// The tag registry failed or refused a record.
    #[error(transparent)]
    Registry(#[from] faketagger_registry::RegistryError),
    /// Weights that cannot be loaded, or a backend that is not in this build.
    #[error(transparent)]
    Model(#[from] faketagger_model::ModelError),
}
