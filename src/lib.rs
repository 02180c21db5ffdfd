//! # faketagger
//!
//! Proactive tagging of face images (after FakeTagger, arXiv 2009.09869): a learned encoder hides
//! an error-corrected 64-bit [`Tag`] in a photo; a learned decoder recovers it after DeepFake and
//! platform pipelines. This crate is the front door over the workspace's focused crates:
//!
//! - [`codec`]: tag ⇄ channel bits (Reed–Solomon with soft-decision decoding), re-exported from
//!   `faketagger-codec`;
//! - [`attacks`]: real attacks on images (JPEG, resize, crop, rotate, blur, noise, colour),
//!   re-exported from `faketagger-attacks`;
//! - [`io`]: reading images safely (limits against decompression bombs, clear errors) and writing
//!   outputs atomically without ever replacing an input.
//!
//! - [`registry`] and [`provenance`]: signed records of issued tags, and tracing a photo back to
//!   its record (`faketagger-registry`);
//! - [`Tagger`]: embed a tag in a photo of any size and decode it back into a [`Detection`].
//!
//! Until the learned encoder/decoder ship with trained weights, [`Tagger`] runs the classical
//! baseline of [`classic`] (DCT spread spectrum); it stays as a comparison point afterwards.
//!
//! ```no_run
//! use faketagger::{Tag, Tagger, io};
//! let tagger = Tagger::classic();
//! let photo = io::read_image("photo.jpg".as_ref())?;
//! let tag: Tag = "0123456789abcdef".parse()?;
//! let tagged = tagger.embed(&photo.image, tag, 1.0)?;
//! assert_eq!(tagger.decode(&tagged.image)?.tag, Some(tag));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod classic;
mod error;
pub mod eval;
pub mod io;
pub mod learned;
pub mod provenance;
mod tagger;

pub use error::Error;
pub use faketagger_attacks as attacks;
pub use faketagger_codec as codec;
pub use faketagger_codec::{ChannelBits, Codec, Decoding, Tag};
pub use faketagger_model as model;
pub use faketagger_registry as registry;
pub use tagger::{
    BOOST, BUILTIN_WEIGHTS, DEFAULT_STRENGTH, Detection, Embedded, MAX_BOOSTS, PSNR_FLOOR_DB,
    SEARCH_RADIUS, STRENGTH_EXPECTED, STRENGTH_RANGE, Saving, SchemeKind, Tagger, check_strength,
    psnr,
};
