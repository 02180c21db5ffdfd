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
    /// The image file ends before its image does: decoding it would fill the missing part.
    #[error("{}: the {format} file is truncated: it ends before the image does", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its format, as a name ("JPEG").
        format: &'static str,
    },
    /// The photo already carries a tag; tagging it again needs an explicit choice.
    #[error("{}: already carries tag {tag}{}", path.display(), owner.as_ref().map(|o| format!(" (registered to {o:?})")).unwrap_or_default())]
    AlreadyTagged {
        /// The photo.
        path: PathBuf,
        /// The tag it carries.
        tag: faketagger_codec::Tag,
        /// Its owner in the registry, when the registry knows the tag.
        owner: Option<String>,
    },
    /// The tagged output, as it would be saved, does not decode to its tag: nothing is written.
    #[error("{}: the tag does not survive being saved as {saved_as}, even at strength {strength}: nothing written", path.display())]
    NotCarried {
        /// The output.
        path: PathBuf,
        /// How it was to be saved ("JPEG q95").
        saved_as: String,
        /// The last strength tried (after the engine's boosts).
        strength: f32,
    },
    /// Faces only were to carry the tag (`--faces only`) and the photo has none.
    #[error("{}: no face found to carry the tag; hint: --faces auto tags the whole photo as well", path.display())]
    NoFaces {
        /// The photo.
        path: PathBuf,
    },
    /// A network's output could not be read: never turned into an empty residual or logits.
    #[error("the {network} network failed: {reason}")]
    Network {
        /// Which network ("encoder", "decoder").
        network: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// An operation the chosen scheme does not have (face residuals with the classical baseline).
    #[error("not supported: {0}")]
    Unsupported(String),
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
    /// The face detector failed.
    #[error(transparent)]
    Faces(#[from] faketagger_faces::FaceError),
}
