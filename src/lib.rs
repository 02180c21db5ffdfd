//! # faketagger
//!
//! Proactive tagging of face images (after FakeTagger, arXiv 2009.09869): a learned encoder hides
//! an error-corrected 64-bit [`Tag`] in a photo; a learned decoder recovers it after DeepFake and
//! platform pipelines. This crate is the front door over the workspace's focused crates:
//!
//! - [`codec`]: tag ⇄ channel bits (Reed–Solomon with soft-decision decoding), re-exported from
//!   `faketagger-codec`;
//! - [`attacks`]: real attacks on images as the world does them (JPEG 4:2:0, WebP, AVIF, resize,
//!   crop, rotate, borders, grey copies, screenshots, platform pipelines, a landmark face swap),
//!   re-exported from `faketagger-attacks`;
//! - [`io`]: reading images safely (limits against decompression bombs, clear errors) and writing
//!   outputs atomically without ever replacing an input.
//!
//! - [`registry`] and [`provenance`]: signed records of issued tags, and tracing a photo back to
//!   its record (`faketagger-registry`);
//! - [`Tagger`]: embed a tag in a photo of any size and decode it back into a [`Detection`].
//!
//! [`Tagger::builtin`] runs the trained networks compiled into the build (`weights/faketagger-v1`);
//! [`Tagger::classic`] runs the classical baseline of [`classic`] (DCT spread spectrum), kept as a
//! comparison point. Saving goes through [`Tagger::embed_saved`], which checks the file as
//! written and refuses one that does not carry its tag.
//!
//! ```no_run
//! use faketagger::{Saving, Tag, Tagger, io};
//! let device = faketagger::model::Backend::Flex.device()?;
//! let tagger = Tagger::builtin(&device)?;
//! let photo = io::read_image("photo.jpg".as_ref())?;
//! let tag: Tag = "0123456789abcdef".parse()?;
//! let output = std::path::Path::new("photo-tagged.jpg");
//! let saving = Saving {
//!     format: image::ImageFormat::Jpeg,
//!     quality: io::DEFAULT_JPEG_QUALITY,
//!     metadata: &photo.metadata,
//!     path: output,
//! };
//! let tagged = tagger
//!     .embed_saved(&photo.image, tag, 1.0, &saving)?
//!     .require_carried(&saving)?;
//! io::write_atomic(output, tagged.bytes.as_deref().unwrap_or_default(), io::Overwrite::Refuse, &[])?;
//! assert_eq!(tagger.decode(&tagged.image)?.tag, Some(tag));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod classic;
mod error;
pub mod eval;
pub mod faces;
pub mod io;
#[cfg(feature = "json")]
pub mod json;
mod learned;
pub mod provenance;
mod tagger;

pub use error::Error;
pub use faketagger_attacks as attacks;
pub use faketagger_codec as codec;
pub use faketagger_codec::{ChannelBits, Codec, Decoding, Tag};
pub use faketagger_model as model;
pub use faketagger_registry as registry;
pub use learned::{Placement, crop_placements};
pub use tagger::{
    BOOST, BUILTIN_WEIGHTS, DEFAULT_STRENGTH, Detection, Embedded, FaceEmbedded, FaceMode,
    FaceTagging, MAX_BOOSTS, PSNR_FLOOR_DB, SEARCH_RADIUS, STRENGTH_EXPECTED, STRENGTH_RANGE,
    Saving, SchemeKind, TagSites, Tagger, check_strength, psnr,
};
