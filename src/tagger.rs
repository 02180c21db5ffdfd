//! The embed/decode engine: codec + scheme, on whole photos.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use faketagger_codec::{ChannelBits, Codec, Decoding, Tag};
use faketagger_model::Device;
use image::{DynamicImage, ImageFormat};
use rayon::prelude::*;

use crate::Error;
use crate::classic::{ClassicScheme, DEFAULT_AMPLITUDE, GRIDS};
use crate::io::{self, Metadata};
use crate::learned::LearnedScheme;

/// The weights compiled into this build ([`Tagger::builtin`]): `weights/faketagger-v1`.
pub const BUILTIN_WEIGHTS: &str = "faketagger-v1";
const BUILTIN_CONFIG: &[u8] = include_bytes!("../weights/faketagger-v1/tagger.json");
const BUILTIN_RECORD: &[u8] = include_bytes!("../weights/faketagger-v1/tagger.bpk");

/// Strength factor per retry of an embedding whose output does not decode clean.
pub const BOOST: f32 = 1.5;
/// Retries at most (strength up to 1.5³ ≈ 3.4× the requested one).
pub const MAX_BOOSTS: usize = 3;
/// Channel bits an unattacked output may get wrong and still count as clean: 2% of 256, a
/// margin the attacks that follow need.
const CLEAN_MARGIN_BITS: usize = 5;
/// On a retry of the whole photo's embedding, the encoder's message input of a bit the failed
/// output read wrong is multiplied by this, of one read right by a logit under
/// [`BIT_MARGIN`] by [`BIT_BOOST_WEAK`]. On `assets/astronaut.jpg`'s 128 px copy, v2b's float
/// read stayed at 0.918 / 0.961 / 0.898 of the channel bits at strengths 1 / 2 / 4, under the
/// clean margin, and went 0.918 → 0.961 → 0.988 in two rounds of ×3 / ×1.5 at strength 1
/// (`diagnose_photo`). The milder ×2 / ×1.25 in three rounds keep more PSNR: through the
/// engine, v2b tags the astronaut at strength 1 and 36.7 dB (refused before), v1 a flat grey
/// photo at 39.5 dB (31.6 dB at strength 3.375 before).
const BIT_BOOST_WRONG: f32 = 2.0;
/// See [`BIT_BOOST_WRONG`].
const BIT_BOOST_WEAK: f32 = 1.25;
/// See [`BIT_BOOST_WRONG`]: a logit (ln P(1)/P(0)) this close to 0 is barely right.
const BIT_MARGIN: f32 = 1.0;
/// Retries of the whole photo with per-bit boosts ([`BIT_BOOST_WRONG`]) before its strength is
/// raised ([`BOOST`]); the strength still reaches [`BOOST`]^[`MAX_BOOSTS`].
const BIT_BOOST_ROUNDS: usize = 3;

/// Largest number of wrong channel bits a crop hypothesis of the decoder's search may have: the
/// union bound at this radius is 2.0e-11 per hypothesis (`Codec::false_positive_bound_at`),
/// against 3.0e-7 at the codec's own radius of 46, so 53 hypotheses add about 1e-9 to a clean
/// photo's false-positive bound. Un-cropped 80% crops of tagged faces decode at 6–37 wrong bits.
pub const SEARCH_RADIUS: usize = 40;

/// Default embedding strength.
pub const DEFAULT_STRENGTH: f32 = 1.0;
/// Strengths accepted: above 8 the residual is plainly visible.
pub const STRENGTH_RANGE: std::ops::RangeInclusive<f32> = 0.05..=8.0;
/// [`STRENGTH_RANGE`] in words, for messages.
pub const STRENGTH_EXPECTED: &str = "between 0.05 and 8";

/// `strength` when it lies in [`STRENGTH_RANGE`], else [`Error::OutOfRange`]: the one check of
/// an embedding strength, for the engine, the CLI and the service.
pub fn check_strength(strength: f32) -> Result<f32, Error> {
    if STRENGTH_RANGE.contains(&strength) {
        Ok(strength)
    } else {
        Err(Error::OutOfRange {
            what: "strength",
            value: f64::from(strength),
            expected: STRENGTH_EXPECTED,
        })
    }
}

/// Which embedding scheme a [`Tagger`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeKind {
    /// The classical DCT spread-spectrum baseline ([`crate::classic`]).
    Classic,
    /// The trained encoder/decoder ([`crate::learned`]).
    Learned,
}

/// A tagged image and what went into it.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The tagged image, same size, colour type and depth as the input; for
    /// [`Tagger::embed_saved`], the pixels of the file as it will be read back.
    pub image: DynamicImage,
    /// The channel word that was embedded.
    pub channel_bits: ChannelBits,
    /// PSNR of the tagged image (as saved, for [`Tagger::embed_saved`]) against the input, in dB
    /// over 8-bit RGB.
    pub psnr: f64,
    /// The strength the output carries: the one asked for, raised by [`BOOST`] (up to
    /// [`MAX_BOOSTS`] times) when the output did not decode clean.
    pub strength: f32,
    /// Whether the output, as saved, decodes to its tag with at most a small margin of wrong
    /// channel bits. `false` means the photo would leave untagged: callers must not hand it out
    /// as tagged ([`Embedded::require_carried`]).
    pub verified: bool,
    /// The file's bytes, for [`Tagger::embed_saved`].
    pub bytes: Option<Vec<u8>>,
    /// The faces that carry their own residual ([`TagSites::faces`]), in the order given.
    pub faces: Vec<FaceEmbedded>,
}

/// Where an embedding puts the tag (issue 18): over the whole photo, on faces (each its own
/// residual, computed on the face aligned as DeepFake tools align it: [`crate::faces`]), or both.
#[derive(Debug, Clone, Copy)]
pub struct TagSites<'a> {
    /// The whole photo carries the tag.
    pub whole: bool,
    /// These faces carry it too.
    pub faces: &'a [crate::faces::Face],
}

impl TagSites<'static> {
    /// The whole photo, no faces.
    pub const WHOLE: Self = Self {
        whole: true,
        faces: &[],
    };
}

/// Which faces `embed --faces` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceTagging {
    /// The whole photo, and each face found on top.
    #[default]
    Auto,
    /// The whole photo only: no face detection.
    Off,
    /// The faces only; the rest of the photo is left as it was. A photo without a face is an
    /// error ([`Error::NoFaces`]).
    Only,
}

impl FaceTagging {
    /// The mode a tagger of `scheme` runs: the classical baseline tags whole photos, so `auto`
    /// is `off` for it and `only` an error.
    pub fn for_scheme(self, scheme: SchemeKind) -> Result<Self, Error> {
        match (scheme, self) {
            (SchemeKind::Learned, mode) => Ok(mode),
            (_, Self::Only) => Err(Error::Unsupported(
                "faces only needs the learned networks; the classical baseline tags whole photos"
                    .into(),
            )),
            _ => Ok(Self::Off),
        }
    }

    /// The sites for these `faces` (the detector's, for [`FaceTagging::Auto`] and
    /// [`FaceTagging::Only`]).
    pub fn sites<'a>(self, faces: &'a [crate::faces::Face]) -> TagSites<'a> {
        match self {
            Self::Auto => TagSites { whole: true, faces },
            Self::Off => TagSites::WHOLE,
            Self::Only => TagSites {
                whole: false,
                faces,
            },
        }
    }
}

impl std::str::FromStr for FaceTagging {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        faces_mode(
            s,
            &[
                ("auto", Self::Auto),
                ("off", Self::Off),
                ("only", Self::Only),
            ],
        )
    }
}

/// The faces mode named `text` among `choices`, or an error listing them.
fn faces_mode<T: Copy>(text: &str, choices: &[(&str, T)]) -> Result<T, Error> {
    choices
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, mode)| *mode)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            Error::Unsupported(format!(
                "faces mode {text:?}: expected {}",
                names.join(", ")
            ))
        })
}

/// When [`Tagger::decode_with_faces`] looks at the faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceMode {
    /// Only when the whole photo carries no tag (the common case costs nothing more for a
    /// tagged photo).
    #[default]
    Auto,
    /// Always: every face is read and reported.
    All,
    /// Never: the whole photo only.
    Off,
}

impl std::str::FromStr for FaceMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        faces_mode(
            s,
            &[("auto", Self::Auto), ("all", Self::All), ("off", Self::Off)],
        )
    }
}

/// How one face was tagged.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEmbedded {
    /// The face.
    pub face: crate::faces::Face,
    /// The strength its residual was added at (0 for landmarks that cannot be aligned, and for
    /// faces left untagged because their residuals cost the whole photo its tag).
    pub strength: f32,
    /// The strength its inner crop's residual was added at ([`crate::faces::INNER_ZOOM`]: what
    /// a face swap moves into another photo); 0 where there is none.
    pub inner_strength: f32,
    /// Whether its aligned crop, as saved, reads back the tag within the clean margin.
    pub verified: bool,
    /// Whether its inner crop, as saved, reads back the tag in place within the clean margin
    /// (false where it has no residual of its own: `inner_strength` 0). A face moved into
    /// another photo is read with a search around its inner crop ([`crate::faces::inner_hypotheses`]),
    /// which finds more than this one read in place does.
    pub inner_verified: bool,
}

impl Embedded {
    /// This embedding, or [`Error::NotCarried`] when its output does not decode to its tag.
    pub fn require_carried(self, saving: &Saving<'_>) -> Result<Self, Error> {
        if self.verified {
            return Ok(self);
        }
        Err(Error::NotCarried {
            path: saving.path.to_path_buf(),
            saved_as: saving.describe(),
            strength: self.strength,
        })
    }

    /// Whether the tag may be visible: PSNR under [`PSNR_FLOOR_DB`].
    pub fn may_show(&self) -> bool {
        self.psnr < PSNR_FLOOR_DB
    }
}

/// PSNR (dB) under which a tagged photo may show its tag (flat, grey and graphic photos, where the
/// engine had to raise the strength): the CLI and the service warn below it. The one floor of the
/// engine; a per-photo strength aims above it.
pub const PSNR_FLOOR_DB: f64 = 35.0;

/// How a tagged photo is to be saved: [`Tagger::embed_saved`] checks the file, not the pixels
/// before encoding.
#[derive(Debug, Clone, Copy)]
pub struct Saving<'a> {
    /// The output format.
    pub format: ImageFormat,
    /// JPEG quality (1–100), unused by the lossless formats.
    pub quality: u8,
    /// ICC profile and EXIF to carry.
    pub metadata: &'a Metadata,
    /// The output, for errors.
    pub path: &'a Path,
}

impl Saving<'_> {
    /// "JPEG q95", "PNG": how the output is saved, for messages.
    pub fn describe(&self) -> String {
        match self.format {
            ImageFormat::Jpeg => format!("JPEG q{}", self.quality),
            other => other
                .extensions_str()
                .first()
                .map_or_else(|| format!("{other:?}"), |ext| ext.to_ascii_uppercase()),
        }
    }

    /// Whether the file's pixels may differ from the 8-bit image saved: JPEG is the one lossy
    /// format written ([`io::encode_image`]: WebP lossless).
    fn lossy(&self) -> bool {
        self.format == ImageFormat::Jpeg
    }

    /// The file's bytes for `image`, and its pixels as a reader will see them.
    fn save(&self, image: &DynamicImage) -> Result<(Vec<u8>, DynamicImage), Error> {
        let bytes = io::encode_image(image, self.format, self.quality, self.metadata, self.path)?;
        let name = self.path.to_string_lossy();
        let back = io::read_image_bytes(&bytes, &name, io::MAX_PIXELS)?.image;
        Ok((bytes, back))
    }
}

/// The start and length of the span of whole 16-pixel blocks of a side `limit` long that holds
/// `len` pixels from `start`, widened by blocks to [`io::MIN_SIDE`] where the side allows (a
/// photo's part saved and read alone as the photo will be: its JPEG blocks where the photo's
/// fall, and no smaller than a photo may be).
fn block_span(start: u32, len: u32, limit: u32) -> [u32; 2] {
    let mut from = start / 16 * 16;
    let mut to = (start + len).div_ceil(16).saturating_mul(16).min(limit);
    while to - from < io::MIN_SIDE && (from > 0 || to < limit) {
        if to < limit {
            to = (to + 16).min(limit);
        } else {
            from = from.saturating_sub(16);
        }
    }
    [from, to - from]
}

/// Whether `decoded` is `tag`, its channel word within [`CLEAN_MARGIN_BITS`] of `bits`: the
/// check an embedding (of the photo or of a face) must pass.
fn carries(decoded: &Decoding, tag: Tag, bits: &ChannelBits) -> bool {
    decoded.tag() == Some(tag) && decoded.hard_bits.distance(bits) <= Some(CLEAN_MARGIN_BITS)
}

/// What makes an embedding's pixels at a given strength.
enum Embedder<'a> {
    /// The networks' residual, computed once for all attempts.
    Learned(&'a LearnedScheme, crate::learned::Residual),
    /// The classical scheme of the photo's grid.
    Classic(&'a ClassicScheme),
    /// Nothing over the whole photo (faces only).
    Untouched,
}

/// A face's own residual: three `side`² planes in its aligned crop (`None` when the whole
/// photo's covers the face), and the map onto it.
struct FaceResidual {
    residual: Option<Vec<f32>>,
    to_crop: faketagger_attacks::faceswap::Similarity,
    side: u32,
    /// An inner crop's residual: [`crate::faces::WHOLE_KEPT_UNDER_INNER`] of what lies under
    /// it (the face's or the whole photo's residual) stays.
    inner: bool,
}

/// What decoding an image found. "No tag" is a normal outcome, not an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The tag, if the image carries one.
    pub tag: Option<Tag>,
    /// 0–1: how far the nearest valid codeword is, see [`Decoding::confidence`].
    pub confidence: f32,
    /// Hard decisions on the channel bits.
    pub channel_bits: ChannelBits,
    /// Symbols the codec corrected (0 when no tag was found).
    pub corrected: usize,
}

impl From<Decoding> for Detection {
    fn from(d: Decoding) -> Self {
        Self {
            tag: d.tag(),
            confidence: d.confidence(),
            channel_bits: d.hard_bits,
            corrected: d.found.map_or(0, |f| f.corrected_symbols),
        }
    }
}

/// Embeds and decodes tags. Build once, share across threads (`&self` everywhere).
#[derive(Debug, Clone)]
pub struct Tagger {
    codec: Codec,
    scheme: Scheme,
}

#[derive(Debug, Clone)]
enum Scheme {
    /// One scheme per grid of [`crate::classic::GRIDS`].
    Classic(Vec<ClassicScheme>),
    Learned(Arc<LearnedScheme>),
}

impl Tagger {
    /// The classical baseline with codec scheme 1.
    pub fn classic() -> Self {
        let codec = Codec::v1();
        let schemes = GRIDS
            .iter()
            .map(|&g| ClassicScheme::new(codec.channel_bits(), g))
            .collect();
        Self {
            codec,
            scheme: Scheme::Classic(schemes),
        }
    }

    /// The trained networks in `weights_dir` (`tagger.json` + `tagger.bpk`) on `device`, with
    /// codec scheme 1.
    pub fn load(weights_dir: &Path, device: &Device) -> Result<Self, Error> {
        Self::learned(LearnedScheme::load(weights_dir, device)?, weights_dir)
    }

    /// The weights compiled into this build ([`BUILTIN_WEIGHTS`]) on `device`.
    pub fn builtin(device: &Device) -> Result<Self, Error> {
        let source = Path::new("weights").join(BUILTIN_WEIGHTS);
        let scheme = LearnedScheme::from_bytes(BUILTIN_CONFIG, BUILTIN_RECORD, &source, device)?;
        Self::learned(scheme, &source)
    }

    fn learned(scheme: LearnedScheme, source: &Path) -> Result<Self, Error> {
        let codec = Codec::v1();
        if scheme.channel_bits() != codec.channel_bits() {
            return Err(Error::Model(faketagger_model::ModelError::BadWeights {
                path: source.to_path_buf(),
                reason: format!(
                    "the networks carry {} channel bits, codec scheme 1 needs {}",
                    scheme.channel_bits(),
                    codec.channel_bits()
                ),
            }));
        }
        Ok(Self {
            codec,
            scheme: Scheme::Learned(Arc::new(scheme)),
        })
    }

    /// The scheme this tagger runs.
    pub fn scheme(&self) -> SchemeKind {
        match self.scheme {
            Scheme::Classic(_) => SchemeKind::Classic,
            Scheme::Learned(_) => SchemeKind::Learned,
        }
    }

    /// The codec.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Tags `image` with `tag` at `strength` (see [`STRENGTH_RANGE`]), in memory: the check that
    /// the tag decodes is made on the pixels. To save the result, use [`Tagger::embed_saved`].
    pub fn embed(&self, image: &DynamicImage, tag: Tag, strength: f32) -> Result<Embedded, Error> {
        self.embed_at(image, tag, strength, TagSites::WHOLE, None)
    }

    /// Tags `image` and encodes it as `saving` says; the check, the strength boosts and the PSNR
    /// are made on the file as written and read back ([`Embedded::bytes`] holds it).
    pub fn embed_saved(
        &self,
        image: &DynamicImage,
        tag: Tag,
        strength: f32,
        saving: &Saving<'_>,
    ) -> Result<Embedded, Error> {
        self.embed_at(image, tag, strength, TagSites::WHOLE, Some(saving))
    }

    /// The photo read as it is, without the decoder's crop search ([`Tagger::decode`] runs it
    /// when this finds no tag): one decoder pass. The quick check before tagging a photo again
    /// (a tagged photo that was cropped may pass it unnoticed).
    pub fn decode_as_is(&self, image: &DynamicImage) -> Result<Detection, Error> {
        Ok(self.decode_plain(image)?.into())
    }

    /// Reads the photo whole ([`Tagger::decode`]) and, when `faces` asks and there is a
    /// `detector` (`None`: the whole photo only, as the classical baseline reads), each face it
    /// finds ([`crate::faces::find_faces`]: at most [`crate::faces::MAX_FACES`]), aligned as
    /// DeepFake tools align faces. A face's read is accepted only within
    /// [`SEARCH_RADIUS`] bit errors of a codeword, so each adds at most the crop search's bound
    /// per hypothesis (2.0e-11): with 16 faces the photo's bound goes from 3.0e-7 to 3.003e-7.
    pub fn decode_with_faces(
        &self,
        image: &DynamicImage,
        detector: Option<&crate::faces::Detector>,
        faces: FaceMode,
        options: &crate::faces::DetectOptions,
    ) -> Result<crate::faces::PhotoRead, Error> {
        self.decode_with_faces_on_demand(image, &|| Ok(detector), faces, options)
    }

    /// [`Tagger::decode_with_faces`] with the detector made only when the read needs it:
    /// `detector` is called at most once, when faces are to be looked for (the whole photo
    /// carries no tag, or `faces` is [`FaceMode::All`]), alongside the crop search. A command
    /// reading tagged photos then never loads the detector, and an untagged photo loads it while
    /// the search runs. An error it returns counts as a detection error: only where the faces
    /// are read.
    pub fn decode_with_faces_on_demand<'d>(
        &self,
        image: &DynamicImage,
        detector: &(dyn Fn() -> Result<Option<&'d crate::faces::Detector>, Error> + Sync),
        faces: FaceMode,
        options: &crate::faces::DetectOptions,
    ) -> Result<crate::faces::PhotoRead, Error> {
        let plain = self.decode_plain(image)?;
        self.read_after_plain(plain, || Ok(Cow::Borrowed(image)), detector, faces, options)
    }

    /// [`Tagger::decode_with_faces`] of the image in `samples`: an RGB or RGBA photo is read
    /// whole from the samples where they lie (no copy); an image is made of them only when the
    /// read goes on (the crop search when the whole photo has no tag, the faces).
    pub fn decode_samples(
        &self,
        samples: &io::BorrowedSamples<'_>,
        detector: Option<&crate::faces::Detector>,
        faces: FaceMode,
        options: &crate::faces::DetectOptions,
    ) -> Result<crate::faces::PhotoRead, Error> {
        let plain = match (&self.scheme, samples.rgb()) {
            (Scheme::Learned(learned), Some((raw, channels))) => {
                let (width, height) = samples.dimensions();
                let logits = learned.logits_rgb8(raw, channels, [width, height])?;
                self.codec.decode_soft(&logits)?
            }
            _ => return self.decode_with_faces(&samples.to_image()?, detector, faces, options),
        };
        self.read_after_plain(
            plain,
            || samples.to_image().map(Cow::Owned),
            &|| Ok(detector),
            faces,
            options,
        )
    }

    /// [`Tagger::decode_with_faces`] once the photo was read as it is (`plain`): the image is
    /// made only when the read goes on.
    fn read_after_plain<'i, 'd>(
        &self,
        plain: Decoding,
        image: impl FnOnce() -> Result<Cow<'i, DynamicImage>, Error>,
        detector: &(dyn Fn() -> Result<Option<&'d crate::faces::Detector>, Error> + Sync),
        faces: FaceMode,
        options: &crate::faces::DetectOptions,
    ) -> Result<crate::faces::PhotoRead, Error> {
        let photo_only = |plain: Decoding| crate::faces::PhotoRead {
            photo: plain.into(),
            faces: Vec::new(),
        };
        if plain.tag().is_some() && faces != FaceMode::All {
            return Ok(photo_only(plain));
        }
        let image = image()?;
        let image = image.as_ref();
        // the faces are looked for (and the detector made, when it is made on demand) while the
        // crop search runs (on a 1080p photo the search's reads keep both cores busy, the
        // detector's small pyramid levels do not): with `auto` they are needed only when the
        // search finds no tag, the common case of an untagged photo; a detection error counts
        // only then
        let find = || match detector() {
            Ok(Some(detector)) => Some(crate::faces::find_faces(detector, image, options)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        };
        let (photo, found) = match faces {
            FaceMode::Off => (self.decode_after_plain(image, plain)?, None),
            // the photo's tag read: the faces only, without a search
            _ if plain.tag().is_some() => match find() {
                None => return Ok(photo_only(plain)),
                found => (plain.into(), found),
            },
            _ => {
                let (photo, found) = rayon::join(|| self.decode_after_plain(image, plain), find);
                (photo?, found)
            }
        };
        let look = match faces {
            FaceMode::Off => false,
            FaceMode::Auto => photo.tag.is_none(),
            FaceMode::All => true,
        };
        let mut reads = Vec::new();
        if let Some(found) = found.filter(|_| look) {
            let faces = found?;
            let decodings = self.decode_faces_plain(image, faces.iter().map(|f| &f.landmarks))?;
            for (face, decoding) in faces.into_iter().zip(decodings) {
                let Some(decoding) = decoding else {
                    continue;
                };
                let mut detection = within_search_radius(decoding);
                let mut inner = false;
                if detection.tag.is_none()
                    && let Some(found) = self.read_inner(image, &face.steadied)?
                {
                    (detection, inner) = (found, true);
                }
                reads.push(crate::faces::FaceRead {
                    face,
                    detection,
                    inner,
                });
            }
        }
        Ok(crate::faces::PhotoRead {
            photo,
            faces: reads,
        })
    }

    /// The inner crop of the face at `landmarks` ([`crate::faces::inner_hypotheses`], in one
    /// decoder pass): the read with the fewest corrected bits within [`SEARCH_RADIUS`], if one
    /// carries a tag.
    fn read_inner(
        &self,
        image: &DynamicImage,
        landmarks: &faketagger_attacks::faceswap::Landmarks,
    ) -> Result<Option<Detection>, Error> {
        let Scheme::Learned(learned) = &self.scheme else {
            return Ok(None);
        };
        let side = learned.resolution();
        let hypotheses = crate::faces::inner_hypotheses(landmarks, side);
        let reads = self.decode_faces_plain(image, &hypotheses)?;
        if let Some(found) = closest(reads.iter().flatten().copied()) {
            return Ok(Some(found.into()));
        }
        // none: a finer look about the read nearest to a codeword
        let Some(nearest) = reads
            .iter()
            .zip(&hypotheses)
            .filter_map(|(d, h)| Some((d.as_ref()?.nearest_distance?, h)))
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, h)| h)
        else {
            return Ok(None);
        };
        let finer = crate::faces::inner_refinements(nearest, side);
        let finer = self.decode_faces_plain(image, &finer)?;
        Ok(closest(finer.into_iter().flatten()).map(Detection::from))
    }

    /// Each face at its landmarks aligned to the networks' square, all read in one decoder pass
    /// (no crop search); `None` for landmarks that cannot be aligned.
    pub(crate) fn decode_faces_plain<'a>(
        &self,
        image: &DynamicImage,
        landmarks: impl IntoIterator<Item = &'a faketagger_attacks::faceswap::Landmarks>,
    ) -> Result<Vec<Option<Decoding>>, Error> {
        let landmarks: Vec<_> = landmarks.into_iter().collect();
        if landmarks.is_empty() {
            return Ok(Vec::new()); // no face: nothing to read, with either scheme
        }
        let learned = match &self.scheme {
            Scheme::Learned(learned) => learned,
            Scheme::Classic(_) => {
                return Err(Error::Unsupported(
                    "face reads need the learned scheme".into(),
                ));
            }
        };
        // on every core: an inner search aligns a hundred crops and decodes a hundred words
        let crops: Vec<Option<DynamicImage>> = landmarks
            .par_iter()
            .map(|l| faketagger_attacks::faceswap::align_face(image, l, learned.resolution()))
            .collect();
        let aligned: Vec<DynamicImage> = crops.iter().flatten().cloned().collect();
        let mut logits = learned.logits_batch(&aligned)?.into_iter();
        let words: Vec<Option<Vec<f32>>> = crops
            .iter()
            .map(|crop| crop.as_ref().map(|_| logits.next().unwrap_or_default()))
            .collect();
        words
            .par_iter()
            .map(|word| match word {
                None => Ok(None),
                Some(logits) => Ok(Some(self.codec.decode_soft(logits)?)),
            })
            .collect()
    }

    /// The face at `landmarks` aligned to the networks' square and read as it is (one decoder
    /// pass, no crop search); `None` when the landmarks are degenerate.
    pub fn decode_face(
        &self,
        image: &DynamicImage,
        landmarks: &faketagger_attacks::faceswap::Landmarks,
    ) -> Result<Option<Detection>, Error> {
        Ok(self
            .decode_faces_plain(image, [landmarks])?
            .pop()
            .flatten()
            .map(Detection::from))
    }

    /// The photo read as it is: the learned decoder once, or the classical grid of its size.
    fn decode_plain(&self, image: &DynamicImage) -> Result<Decoding, Error> {
        Ok(self.codec.decode_soft(&self.plain_logits(image)?)?)
    }

    /// What [`Tagger::decode_plain`] decodes: the channel bits' soft values read from the photo
    /// as it is.
    fn plain_logits(&self, image: &DynamicImage) -> Result<Vec<f32>, Error> {
        Ok(match &self.scheme {
            Scheme::Learned(learned) => learned.logits(image)?,
            Scheme::Classic(schemes) => Self::grid_for(schemes, image).extract(image),
        })
    }

    /// Tags `image` at the `sites` given (the whole photo, its faces, or both), in memory when
    /// `saving` is `None`, else checked on the file as [`Tagger::embed_saved`] does. Each face
    /// gets its own residual (the encoder run on the face aligned to its R×R square, warped back
    /// with a feathered rim, replacing the whole-photo residual under it). The output is decoded
    /// as it will be saved: the whole photo as it is, each face as a DeepFake tool's aligned
    /// crop. When the tag does not come back clean (a photo the encoder handles poorly, such as
    /// a grey one, which drops the residual's colour, or one that JPEG saving damages), the
    /// learned scheme first embeds the photo's bits that read wrong or barely right more
    /// strongly, at the same strength ([`BIT_BOOST_ROUNDS`] times: their message input ×
    /// [`BIT_BOOST_WRONG`] or [`BIT_BOOST_WEAK`]), then raises the strength of the photo, or of
    /// the face, that failed by [`BOOST`], up to [`MAX_BOOSTS`] times (before a file is
    /// written, a face is first read and raised on its own patch, saved alone as the file will
    /// be, so that the whole file is not written once per raise). The first output where
    /// everything decodes is returned, else the best attempt: the whole photo's tag first, then
    /// the most faces that carry theirs, the last (strongest) of equals, so that a refusal names
    /// the highest strength tried. It is [`Embedded::verified`] when the whole photo carries the
    /// tag (with `whole`), or every face does (faces only); each face says whether it does.
    /// The classical scheme has no face residual: faces are an error with it.
    pub fn embed_at(
        &self,
        image: &DynamicImage,
        tag: Tag,
        strength: f32,
        sites: TagSites<'_>,
        saving: Option<&Saving<'_>>,
    ) -> Result<Embedded, Error> {
        check_strength(strength)?;
        let channel_bits = self.codec.encode(tag);
        // the encoder runs once (per face too); only the strengths change between attempts
        let embedder = match &self.scheme {
            Scheme::Learned(learned) if sites.whole => {
                Embedder::Learned(learned, learned.residual(image, &channel_bits)?)
            }
            Scheme::Learned(_) => Embedder::Untouched,
            Scheme::Classic(_) if !sites.faces.is_empty() => {
                return Err(Error::Unsupported(
                    "face residuals need the learned scheme".into(),
                ));
            }
            Scheme::Classic(_) if !sites.whole => {
                return Err(Error::Unsupported(
                    "the classical scheme tags whole photos".into(),
                ));
            }
            Scheme::Classic(schemes) => Embedder::Classic(Self::grid_for(schemes, image)),
        };
        // each face, then each face's inner crop as a site of its own (learned scheme only)
        let inner_faces = match &self.scheme {
            Scheme::Learned(_) => sites.faces.iter().map(crate::faces::inner_face).collect(),
            Scheme::Classic(_) => Vec::new(),
        };
        let all_faces: Vec<crate::faces::Face> =
            sites.faces.iter().cloned().chain(inner_faces).collect();
        let faces = self.face_residuals(
            image,
            &all_faces,
            sites.faces.len(),
            sites.whole,
            &channel_bits,
        )?;
        // the original's pixels under the faces, when a face carries a residual of its own: the
        // box holding every such face, as float (the faces' residuals change nothing outside it;
        // at 12 megapixels a float copy of the whole photo cost 0.5 s per attempt)
        let source = faces
            .iter()
            .filter_map(|f| match f {
                Some(FaceResidual {
                    residual: Some(_),
                    to_crop,
                    side,
                    ..
                }) => Some(crate::faces::aligned_region(
                    *to_crop,
                    *side,
                    image.width(),
                    image.height(),
                )),
                _ => None,
            })
            .reduce(|[a, b, c, d], [e, f, g, h]| [a.min(e), b.min(f), c.max(g), d.max(h)])
            .map(|region @ [x0, y0, x1, y1]| {
                (
                    region,
                    image.crop_imm(x0, y0, x1 - x0, y1 - y0).to_rgba32f(),
                )
            });
        // with faces' own residuals over a whole-photo tag, one more attempt: keeping some of
        // the whole photo's residual under the faces
        let attempts = match embedder {
            Embedder::Classic(_) => 1,
            Embedder::Learned(..) if source.is_some() => MAX_BOOSTS + BIT_BOOST_ROUNDS + 2,
            Embedder::Learned(..) if sites.whole => MAX_BOOSTS + BIT_BOOST_ROUNDS + 1,
            _ => MAX_BOOSTS + 1,
        };
        let requested = strength;
        let mut strength = strength;
        // each channel bit's factor on the encoder's message input, and the rounds taken
        let (mut bit_boosts, mut bit_rounds) = (vec![1.0f32; channel_bits.len()], 0);
        // a face's strength is raised at most MAX_BOOSTS times, however many tries the photo takes
        let face_cap = requested * BOOST.powi(MAX_BOOSTS as i32 - 1) * 1.01;
        // whether a face may still be raised: it has a residual of its own, under its cap
        let raisable = |face: &Option<FaceResidual>, result: &FaceEmbedded| {
            matches!(
                face,
                Some(FaceResidual {
                    residual: Some(_),
                    ..
                })
            ) && result.strength < face_cap
        };
        // the whole photo's residual after per-bit boosts (`BIT_BOOST_WRONG`), once a try failed
        let boosted: std::cell::RefCell<Option<crate::learned::Residual>> =
            std::cell::RefCell::new(None);
        let mut whole_kept = 0.0;
        let mut results: Vec<FaceEmbedded> = faces
            .iter()
            .zip(&all_faces)
            .map(|(prepared, face)| FaceEmbedded {
                face: face.clone(),
                strength: if prepared.is_some() { strength } else { 0.0 },
                inner_strength: 0.0,
                verified: false,
                inner_verified: false,
            })
            .collect();
        // the photo with its whole-photo embedding at `strength`, before any face's residual
        let whole_photo = |strength: f32| match &embedder {
            Embedder::Learned(learned, residual) => learned.apply(
                image,
                boosted.borrow().as_ref().unwrap_or(residual),
                strength,
            ),
            Embedder::Classic(scheme) => {
                scheme.embed(image, &channel_bits, DEFAULT_AMPLITUDE * strength)
            }
            Embedder::Untouched => image.clone(),
        };
        // the part of `tagged` (the whole photo's embedding) under the faces with residuals of
        // their own, those added at their strengths, and where it lies; `None` without such faces
        let face_patch = |tagged: &DynamicImage,
                          results: &[FaceEmbedded],
                          whole_kept: f32|
         -> Option<(DynamicImage, [u32; 2])> {
            let ([x0, y0, x1, y1], source) = source.as_ref()?;
            let mut out = tagged.crop_imm(*x0, *y0, x1 - x0, y1 - y0).to_rgba32f();
            for (face, result) in faces.iter().zip(results) {
                if let Some(FaceResidual {
                    residual: Some(residual),
                    side,
                    to_crop,
                    inner,
                }) = face
                {
                    crate::faces::add_aligned_residual(
                        &mut out,
                        source,
                        [*x0, *y0],
                        residual,
                        *side,
                        *to_crop,
                        result.strength,
                        if *inner {
                            crate::faces::WHOLE_KEPT_UNDER_INNER
                        } else {
                            whole_kept
                        },
                    );
                }
            }
            let patch = faketagger_attacks::same_layout(DynamicImage::ImageRgba32F(out), image);
            Some((patch, [*x0, *y0]))
        };
        // one attempt's output: `tagged` (the whole photo's embedding) with the faces' `patch`
        // (`face_patch`'s) in place, as saved (with its bytes)
        let render = |mut tagged: DynamicImage,
                      patch: Option<(DynamicImage, [u32; 2])>|
         -> Result<(Option<Vec<u8>>, DynamicImage), Error> {
            if let Some((patch, [x0, y0])) = patch {
                image::imageops::replace(&mut tagged, &patch, i64::from(x0), i64::from(y0));
            }
            Ok(match saving {
                Some(saving) => {
                    let (bytes, back) = saving.save(&tagged)?;
                    (Some(bytes), back)
                }
                None => (None, tagged),
            })
        };
        // before a file is written: each face with a residual of its own read from its patch
        // (a JPEG's: the patch widened to whole 16-pixel blocks, so that its blocks fall where
        // they fall in the photo, saved alone as the file will be) and raised while it does
        // not read there, up to its cap: the whole file is then written and read back once for
        // the faces, not once per raise (at 1080p, JPEG q95: ~45 ms each). Returns the faces'
        // patch as they stand.
        let raise_before_saving = |tagged: &DynamicImage,
                                   results: &mut [FaceEmbedded],
                                   whole_kept: f32,
                                   saving: &Saving<'_>|
         -> Result<Option<(DynamicImage, [u32; 2])>, Error> {
            loop {
                let Some((patch, [x0, y0])) = face_patch(tagged, results, whole_kept) else {
                    return Ok(None);
                };
                let ([bx, bw], [by, bh]) = (
                    block_span(x0, patch.width(), tagged.width()),
                    block_span(y0, patch.height(), tagged.height()),
                );
                let mut part = tagged.crop_imm(bx, by, bw, bh);
                image::imageops::replace(&mut part, &patch, i64::from(x0 - bx), i64::from(y0 - by));
                let part = if saving.lossy() {
                    saving.save(&part)?.1
                } else {
                    part
                };
                // the faces that may still be raised, read there
                let open: Vec<usize> = (0..faces.len())
                    .filter(|&i| raisable(&faces[i], &results[i]))
                    .collect();
                let moved: Vec<faketagger_attacks::faceswap::Landmarks> = open
                    .iter()
                    .map(|&i| {
                        results[i]
                            .face
                            .landmarks
                            .map(|[x, y]| [x - bx as f32, y - by as f32])
                    })
                    .collect();
                let reads = self.decode_faces_plain(&part, &moved)?;
                let mut raised = false;
                for (&i, read) in open.iter().zip(reads) {
                    if !read.is_some_and(|d| carries(&d, tag, &channel_bits)) {
                        results[i].strength *= BOOST;
                        raised = true;
                    }
                }
                if !raised {
                    return Ok(Some((patch, [x0, y0])));
                }
            }
        };
        // the best attempt so far that did not carry everything, by its settings: its pixels
        // are made again when it is not the last (a copy kept would be 432 MB at 144 megapixels)
        let mut best: Option<Attempt> = None;
        for attempt in 1..=attempts {
            let whole = whole_photo(strength);
            let patch = match saving {
                Some(saving) => raise_before_saving(&whole, &mut results, whole_kept, saving)?,
                None => face_patch(&whole, &results, whole_kept),
            };
            let (bytes, tagged) = render(whole, patch)?;
            // the whole photo's logits when it does not read back (the per-bit boosts start
            // from them)
            let whole_failed = match sites.whole {
                true => {
                    let logits = self.plain_logits(&tagged)?;
                    let decoded = self.codec.decode_soft(&logits)?;
                    (!carries(&decoded, tag, &channel_bits)).then_some(logits)
                }
                false => None,
            };
            let whole_ok = whole_failed.is_none();
            // the faces with a residual prepared, read in one decoder pass
            let read = self.decode_faces_plain(
                &tagged,
                faces
                    .iter()
                    .zip(&results)
                    .filter(|(face, _)| face.is_some())
                    .map(|(_, result)| &result.face.landmarks),
            )?;
            let mut faces_ok = true;
            let prepared = faces
                .iter()
                .zip(results.iter_mut())
                .filter(|(f, _)| f.is_some());
            for ((_, result), decoded) in prepared.zip(read) {
                result.verified = decoded.is_some_and(|d| carries(&d, tag, &channel_bits));
                faces_ok &= result.verified;
            }
            // the output: a face without a residual of its own carries the whole photo's
            let output = |tagged: DynamicImage,
                          bytes: Option<Vec<u8>>,
                          strength: f32,
                          whole_ok: bool,
                          mut results: Vec<FaceEmbedded>| {
                for (face, result) in faces.iter().zip(results.iter_mut()) {
                    if let Some(FaceResidual { residual: None, .. }) = face {
                        result.strength = strength;
                    }
                }
                let verified = if sites.whole {
                    whole_ok
                } else {
                    faces.iter().any(Option::is_some)
                        && faces
                            .iter()
                            .zip(&results)
                            .all(|(f, r)| f.is_none() || r.verified)
                };
                Embedded {
                    psnr: psnr(image, &tagged),
                    image: tagged,
                    channel_bits,
                    strength,
                    verified,
                    bytes,
                    faces: with_inner(results, sites.faces.len()),
                }
            };
            if whole_ok && faces_ok {
                return Ok(output(tagged, bytes, strength, whole_ok, results));
            }
            let this = Attempt {
                number: attempt,
                strength,
                whole_kept,
                whole_ok,
                faces: results.clone(),
            };
            if best.as_ref().is_none_or(|b| this.better_than(b)) {
                best = Some(this);
            }
            // with the photo's tag carried, only a face below its cap can still change: when
            // none can, the attempts left would all be this one
            let settled = whole_ok
                && faces
                    .iter()
                    .zip(&results)
                    .all(|(face, result)| result.verified || !raisable(face, result));
            if attempt == attempts || settled {
                let Some(Attempt {
                    number: best_attempt,
                    strength,
                    whole_kept,
                    whole_ok,
                    faces: results,
                }) = best
                else {
                    unreachable!("this attempt was kept or beaten")
                };
                if sites.whole && !whole_ok && !faces.is_empty() {
                    // the faces' residuals cost the photo its tag in every attempt: the
                    // photo's tag comes first
                    let mut plain =
                        self.embed_at(image, tag, requested, TagSites::WHOLE, saving)?;
                    plain.faces = with_inner(results, sites.faces.len())
                        .into_iter()
                        .map(|r| FaceEmbedded {
                            strength: 0.0,
                            inner_strength: 0.0,
                            verified: false,
                            inner_verified: false,
                            ..r
                        })
                        .collect();
                    return Ok(plain);
                }
                let (bytes, tagged) = if best_attempt == attempt {
                    (bytes, tagged)
                } else {
                    let whole = whole_photo(strength);
                    let patch = face_patch(&whole, &results, whole_kept);
                    render(whole, patch)?
                };
                return Ok(output(tagged, bytes, strength, whole_ok, results));
            }
            if let Some(logits) = whole_failed {
                // the faces are to blame when the photo without them reads: keep some of the
                // whole photo's residual under them; else the photo needs more strength
                // (the photo without them made again, not kept: at 144 megapixels a copy of
                // it was 432 MB of the peak)
                let faces_to_blame = source.is_some()
                    && whole_kept == 0.0
                    && carries(
                        &self.decode_plain(&whole_photo(strength))?,
                        tag,
                        &channel_bits,
                    );
                if faces_to_blame {
                    whole_kept = crate::faces::WHOLE_KEPT_UNDER_FACES;
                } else if let (Embedder::Learned(learned, _), true) =
                    (&embedder, bit_rounds < BIT_BOOST_ROUNDS)
                {
                    // first, the bits this output read wrong, or barely right, get more of the
                    // encoder's message input at the same strength (informed embedding: what
                    // the photo's content takes from each bit, its next residual gives back)
                    bit_rounds += 1;
                    for ((boost, logit), bit) in
                        bit_boosts.iter_mut().zip(&logits).zip(channel_bits.iter())
                    {
                        let margin = if bit { *logit } else { -*logit };
                        if margin <= 0.0 {
                            *boost *= BIT_BOOST_WRONG;
                        } else if margin < BIT_MARGIN {
                            *boost *= BIT_BOOST_WEAK;
                        }
                    }
                    *boosted.borrow_mut() =
                        Some(learned.residual_boosted(image, &channel_bits, &bit_boosts)?);
                } else {
                    strength *= BOOST;
                }
            }
            for (face, result) in faces.iter().zip(results.iter_mut()) {
                if !result.verified && raisable(face, result) {
                    result.strength *= BOOST;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Each face's own residual, in its aligned crop; `None` for landmarks that cannot be
    /// aligned. Over a `whole`-photo residual, a face whose aligned square covers more than
    /// [`crate::faces::OWN_RESIDUAL_MAX_SHARE`] of the photo gets none of its own: the photo's
    /// residual is already at the face's scale there (a portrait, a face crop). The faces from
    /// `inner_from` on are inner crops ([`crate::faces::inner_face`]): always a residual of
    /// their own, over what lies under them.
    fn face_residuals(
        &self,
        image: &DynamicImage,
        faces: &[crate::faces::Face],
        inner_from: usize,
        whole: bool,
        bits: &ChannelBits,
    ) -> Result<Vec<Option<FaceResidual>>, Error> {
        let Scheme::Learned(learned) = &self.scheme else {
            return Ok(Vec::new());
        };
        let side = learned.resolution();
        // each face's crop and encoder run on a core of its own
        faces
            .par_iter()
            .enumerate()
            .map(|(at, face)| {
                let inner = at >= inner_from;
                let (Some(to_crop), Some(crop)) = (
                    crate::faces::to_aligned(&face.landmarks, side),
                    faketagger_attacks::faceswap::align_face(image, &face.landmarks, side),
                ) else {
                    return Ok(None);
                };
                let square = side as f32 / to_crop.scale();
                let area = image.width() as f32 * image.height() as f32;
                let covered = !inner
                    && whole
                    && square * square > crate::faces::OWN_RESIDUAL_MAX_SHARE * area;
                Ok(Some(FaceResidual {
                    residual: if covered {
                        None
                    } else {
                        Some(learned.residual_square(&crop.to_rgb32f(), bits)?)
                    },
                    to_crop,
                    side,
                    inner,
                }))
            })
            .collect()
    }

    /// The learned scheme's search (see [`Tagger::decode`]), once the photo read as it is
    /// (`plain`) found no tag: the photo inside its flat border, then the crop placements; the
    /// closest hypothesis within [`SEARCH_RADIUS`], else `plain`.
    fn search_crops(
        &self,
        learned: &LearnedScheme,
        image: &DynamicImage,
        plain: Decoding,
    ) -> Result<Detection, Error> {
        let mut hypotheses = Vec::new();
        // the photo inside a flat border (frame, letterbox, screenshot window) first
        if let Some([x, y, width, height]) = crate::learned::content_box(image) {
            let inner = image.crop_imm(x, y, width, height);
            hypotheses.push(self.codec.decode_soft(&learned.logits(&inner)?)?);
        }
        let placed = learned.logits_placed(image, &crate::learned::crop_placements())?;
        let placed: Vec<Decoding> = placed
            .par_iter()
            .map(|logits| self.codec.decode_soft(logits))
            .collect::<Result<_, _>>()?;
        hypotheses.extend(placed);
        Ok(closest(hypotheses).unwrap_or(plain).into())
    }

    /// Looks for a tag in `image`.
    ///
    /// The learned scheme reads the photo as it is; when that finds no tag, it tries the photo
    /// inside a flat border when it has one ([`crate::learned::content_box`]: frames,
    /// letterboxing, a screenshot's window), then the photo as a crop of a larger original
    /// ([`crate::crop_placements`]: 4 areas from 90% to 60%, each centred, at the edges and in
    /// the corners, strips of 10% or 20% cut off one side, and a turn of ±4° on the same canvas
    /// or straightened: 52 hypotheses in one decoder pass), accepting a hypothesis only within
    /// [`SEARCH_RADIUS`] bit errors of a codeword. The false-positive bound of a clean photo is
    /// then the plain decode's (3.0e-7 for scheme 1) plus 53 times the bound at the tighter
    /// radius (2.0e-11 each), 3.0e-7 in all.
    ///
    /// The classical baseline tries the grid a photo
    /// of its size is tagged on, then the other grid, in case the photo was resized across the
    /// boundary: two attempts at most double the codec's false-positive bound (2 · 3.0e-7 for
    /// scheme 1, still under 1e-6).
    pub fn decode(&self, image: &DynamicImage) -> Result<Detection, Error> {
        self.decode_after_plain(image, self.decode_plain(image)?)
    }

    /// [`Tagger::decode`] once the photo was read as it is ([`Tagger::decode_plain`]).
    fn decode_after_plain(
        &self,
        image: &DynamicImage,
        plain: Decoding,
    ) -> Result<Detection, Error> {
        if plain.tag().is_some() {
            return Ok(plain.into());
        }
        let schemes = match &self.scheme {
            Scheme::Learned(learned) => return self.search_crops(learned, image, plain),
            Scheme::Classic(schemes) => schemes,
        };
        // the plain read was the grid of the photo's size
        let first = Self::grid_for(schemes, image);
        let mut best = Detection::from(plain);
        for scheme in schemes.iter().filter(|s| s.grid() != first.grid()) {
            let detection: Detection = self.codec.decode_soft(&scheme.extract(image))?.into();
            if detection.tag.is_some() {
                return Ok(detection);
            }
            if detection.confidence > best.confidence {
                best = detection;
            }
        }
        Ok(best)
    }

    fn grid_for<'a>(schemes: &'a [ClassicScheme], image: &DynamicImage) -> &'a ClassicScheme {
        let grid = ClassicScheme::grid_for(image.width(), image.height());
        schemes
            .iter()
            .find(|s| s.grid() == grid)
            .unwrap_or(&schemes[0])
    }
}

impl Tagger {
    /// Reads (with `options`) and decodes each file with `threads` workers; results come back in
    /// input order.
    pub fn decode_files(
        &self,
        paths: &[std::path::PathBuf],
        threads: usize,
        options: io::ReadOptions,
    ) -> Vec<Result<Detection, Error>> {
        io::map_files(paths, threads, options, |loaded| self.decode(&loaded.image))
    }
}

/// PSNR in dB between two images of the same size, over 8-bit RGB (∞ for identical images,
/// NaN for images of different sizes).
pub fn psnr(a: &DynamicImage, b: &DynamicImage) -> f64 {
    use faketagger_attacks::metrics::psnr;
    match (a, b) {
        // no 8-bit copies of 8-bit photos
        (DynamicImage::ImageRgb8(a), DynamicImage::ImageRgb8(b)) => psnr(a, b),
        _ => psnr(&a.to_rgb8(), &b.to_rgb8()),
    }
    .unwrap_or(f64::NAN)
}

/// Of `hypotheses` (reads of one photo), the one whose tag lies closest to its codeword, the
/// first of equals, counting only tags within [`SEARCH_RADIUS`] bit errors: each hypothesis
/// adds the bound at that radius to the photo's.
fn closest(hypotheses: impl IntoIterator<Item = Decoding>) -> Option<Decoding> {
    hypotheses
        .into_iter()
        .filter_map(|d| Some((d.found?.corrected_bits, d)))
        .filter(|(corrected, _)| *corrected <= SEARCH_RADIUS)
        .min_by_key(|(corrected, _)| *corrected)
        .map(|(_, d)| d)
}

/// A face's read as a [`Detection`], its tag kept only within [`SEARCH_RADIUS`] bit errors of
/// a codeword (each face read is one more hypothesis on the photo).
fn within_search_radius(decoding: Decoding) -> Detection {
    let mut detection = Detection::from(decoding);
    if closest([decoding]).is_none() {
        detection.tag = None;
        detection.corrected = 0;
    }
    detection
}

/// The faces of [`Tagger::embed_at`]'s sites (its first `faces` results) with their inner
/// crops' results (the rest, in the same order) folded in: each face's inner strength and
/// whether its inner crop read back, beside its aligned crop's.
fn with_inner(mut results: Vec<FaceEmbedded>, faces: usize) -> Vec<FaceEmbedded> {
    let inner = results.split_off(faces.min(results.len()));
    for (face, inner) in results.iter_mut().zip(inner) {
        face.inner_strength = inner.strength;
        face.inner_verified = inner.verified && inner.strength > 0.0;
    }
    results
}

/// An attempt of [`Tagger::embed_at`] that did not carry the tag everywhere, by its settings.
#[derive(Debug, Clone)]
struct Attempt {
    number: usize,
    strength: f32,
    whole_kept: f32,
    whole_ok: bool,
    faces: Vec<FaceEmbedded>,
}

impl Attempt {
    /// The whole photo's tag first, then the most faces that carry theirs; of equals, the later
    /// attempt (the strongest tried, which a refusal names).
    fn better_than(&self, other: &Attempt) -> bool {
        let score = |a: &Attempt| (a.whole_ok, a.faces.iter().filter(|f| f.verified).count());
        score(self) >= score(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One site's result as `embed_at` first records it, before the inner crops are folded in.
    fn site(strength: f32, verified: bool) -> FaceEmbedded {
        FaceEmbedded {
            face: crate::faces::Face {
                bbox: [0.0, 0.0, 10.0, 10.0],
                score: 1.0,
                landmarks: [[0.0; 2]; 5],
                steadied: [[0.0; 2]; 5],
            },
            strength,
            inner_strength: 0.0,
            verified,
            inner_verified: false,
        }
    }

    #[test]
    fn a_face_keeps_its_aligned_read_beside_its_inner_crop_s() {
        // two faces, then their inner crops: the first's inner crop failed at 2.25, the
        // second face failed aligned and its inner crop read; a third without an inner residual
        let folded = with_inner(
            vec![
                site(1.0, true),
                site(1.5, false),
                site(1.0, true),
                site(2.25, false),
                site(1.0, true),
                site(0.0, false),
            ],
            3,
        );
        let got: Vec<(bool, f32, bool)> = folded
            .iter()
            .map(|f| (f.verified, f.inner_strength, f.inner_verified))
            .collect();
        assert_eq!(
            got,
            [(true, 2.25, false), (false, 1.0, true), (true, 0.0, false)]
        );
    }

    #[test]
    fn the_best_attempt_carries_the_photo_then_the_most_faces_then_is_the_strongest() {
        let attempt = |number, whole_ok, verified: &[bool]| Attempt {
            number,
            strength: 1.5f32.powi(number as i32 - 1),
            whole_kept: 0.0,
            whole_ok,
            faces: verified
                .iter()
                .map(|&verified| site(1.0, verified))
                .collect(),
        };
        // (why, each attempt's (whole photo carries, faces carry), the attempt picked)
        // an attempt: (the whole photo carries the tag, each face carries it)
        type Attempts<'a> = &'a [(bool, &'a [bool])];
        let cases: [(&str, Attempts<'_>, usize); 4] = [
            (
                "a later attempt that loses the photo's tag to its faces",
                &[(true, &[false, false]), (false, &[true, true])],
                1,
            ),
            (
                "more faces win over fewer, later or not",
                &[
                    (true, &[false, false]),
                    (true, &[true, true]),
                    (true, &[false, true]),
                    (true, &[true, false]),
                ],
                2,
            ),
            (
                "of equals the later",
                &[
                    (true, &[true, false]),
                    (true, &[false, true]),
                    (true, &[false, false]),
                ],
                2,
            ),
            ("nothing carries", &[(false, &[]), (false, &[])], 2),
        ];
        for (why, attempts, picked) in cases {
            // picked as embed_at does, attempt by attempt
            let best = attempts
                .iter()
                .enumerate()
                .map(|(i, &(whole_ok, faces))| attempt(i + 1, whole_ok, faces))
                .reduce(|best, this| if this.better_than(&best) { this } else { best })
                .map(|a| a.number);
            assert_eq!(best, Some(picked), "{why}");
        }
    }

    #[test]
    fn block_spans_hold_their_pixels_in_whole_blocks_at_least_a_photo_wide() {
        for (start, len, limit) in [
            (0, 10, 128),
            (37, 20, 128),
            (100, 28, 128),
            (120, 8, 128),
            (5, 300, 1080),
            (1000, 80, 1080),
            (1070, 10, 1080),
            (3, 50, 70),
        ] {
            let [from, n] = block_span(start, len, limit);
            assert!(
                from <= start && start + len <= from + n,
                "{start} {len} {limit}"
            );
            assert!(from + n <= limit && from % 16 == 0, "{start} {len} {limit}");
            assert!(
                (from + n) % 16 == 0 || from + n == limit,
                "{start} {len} {limit}"
            );
            assert!(n >= io::MIN_SIDE.min(limit), "{start} {len} {limit}: {n}");
            assert!(n < len + 32 + io::MIN_SIDE, "{start} {len} {limit}: {n}");
        }
        assert_eq!(block_span(37, 20, 128), [32, 64]);
        assert_eq!(block_span(120, 8, 128), [64, 64]);
        assert_eq!(block_span(5, 300, 1080), [0, 320]);
    }

    #[test]
    fn strength_check_and_its_words_agree_with_the_range() {
        assert_eq!(
            STRENGTH_EXPECTED,
            format!(
                "between {} and {}",
                STRENGTH_RANGE.start(),
                STRENGTH_RANGE.end()
            )
        );
        for ok in [*STRENGTH_RANGE.start(), 1.0, *STRENGTH_RANGE.end()] {
            assert_eq!(check_strength(ok).unwrap(), ok);
        }
        for bad in [0.0, -1.0, 8.01, f32::NAN, f32::INFINITY] {
            assert!(check_strength(bad).is_err(), "{bad}");
        }
    }
}
