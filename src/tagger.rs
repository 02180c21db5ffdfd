//! The embed/decode engine: codec + scheme, on whole photos.

use std::path::Path;
use std::sync::Arc;

use faketagger_codec::{ChannelBits, Codec, Decoding, Tag};
use faketagger_model::Device;
use image::DynamicImage;

use crate::Error;
use crate::classic::{ClassicScheme, DEFAULT_AMPLITUDE, GRIDS};
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

/// Largest number of wrong channel bits a crop hypothesis of the decoder's search may have: the
/// union bound at this radius is 2.0e-11 per hypothesis (`Codec::false_positive_bound_at`),
/// against 3.0e-7 at the codec's own radius of 46, so 48 hypotheses add about 1e-9 to a clean
/// photo's false-positive bound. Un-cropped 80% crops of tagged faces decode at 6–37 wrong bits.
pub const SEARCH_RADIUS: usize = 40;

/// Default embedding strength.
pub const DEFAULT_STRENGTH: f32 = 1.0;
/// Strengths accepted: above 8 the residual is plainly visible.
pub const STRENGTH_RANGE: std::ops::RangeInclusive<f32> = 0.05..=8.0;

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
    /// The tagged image, same size, colour type and depth as the input.
    pub image: DynamicImage,
    /// The channel word that was embedded.
    pub channel_bits: ChannelBits,
    /// PSNR of the tagged image against the input, in dB over 8-bit RGB.
    pub psnr: f64,
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
        let scheme =
            LearnedScheme::from_bytes(BUILTIN_CONFIG, BUILTIN_RECORD.to_vec(), &source, device)?;
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

    /// Tags `image` with `tag` at `strength` (see [`STRENGTH_RANGE`]).
    pub fn embed(&self, image: &DynamicImage, tag: Tag, strength: f32) -> Result<Embedded, Error> {
        if !STRENGTH_RANGE.contains(&strength) {
            return Err(Error::OutOfRange {
                what: "strength",
                value: f64::from(strength),
                expected: "0.05 to 8",
            });
        }
        let channel_bits = self.codec.encode(tag);
        let tagged = match &self.scheme {
            Scheme::Classic(schemes) => Self::grid_for(schemes, image).embed(
                image,
                &channel_bits,
                DEFAULT_AMPLITUDE * strength,
            ),
            Scheme::Learned(learned) => {
                self.embed_checked(learned, image, tag, &channel_bits, strength)?
            }
        };
        let psnr = psnr(image, &tagged);
        Ok(Embedded {
            image: tagged,
            channel_bits,
            psnr,
        })
    }

    /// Embeds with the networks, then decodes the output as it will be saved: when the tag
    /// does not come back clean (a photo the encoder handles poorly, such as a grey one, which
    /// drops the residual's colour), the strength is raised by [`BOOST`] up to [`MAX_BOOSTS`]
    /// times. The first output that decodes is returned, else the last one.
    fn embed_checked(
        &self,
        learned: &LearnedScheme,
        image: &DynamicImage,
        tag: Tag,
        bits: &ChannelBits,
        strength: f32,
    ) -> Result<DynamicImage, Error> {
        // the encoder runs once; only the strength changes between attempts
        let residual = learned.residual(image, bits);
        let mut strength = strength;
        let mut tagged = learned.apply(image, &residual, strength);
        for _ in 0..MAX_BOOSTS {
            let decoded = self.codec.decode_soft(&learned.logits(&tagged))?;
            if decoded.tag() == Some(tag)
                && decoded.hard_bits.distance(bits) <= Some(CLEAN_MARGIN_BITS)
            {
                break;
            }
            strength *= BOOST;
            tagged = learned.apply(image, &residual, strength);
        }
        Ok(tagged)
    }

    /// The learned scheme's decoding: the photo as it is, then, when no tag is found, the crop
    /// search (see [`Tagger::decode`]).
    fn decode_learned(
        &self,
        learned: &LearnedScheme,
        image: &DynamicImage,
    ) -> Result<Detection, Error> {
        let plain = self.codec.decode_soft(&learned.logits(image))?;
        if plain.tag().is_some() {
            return Ok(plain.into());
        }
        let mut best: Option<Decoding> = None;
        for logits in learned.logits_placed(image, &crate::learned::crop_placements()) {
            let decoding = self.codec.decode_soft(&logits)?;
            let Some(found) = decoding.found else {
                continue;
            };
            let closer = best
                .and_then(|b| b.found)
                .is_none_or(|b| found.corrected_bits < b.corrected_bits);
            if found.corrected_bits <= SEARCH_RADIUS && closer {
                best = Some(decoding);
            }
        }
        Ok(best.unwrap_or(plain).into())
    }

    /// Looks for a tag in `image`.
    ///
    /// The learned scheme reads the photo as it is; when that finds no tag, it tries the photo as
    /// a crop of a larger original ([`crate::learned::crop_placements`]: 4 areas from 90% to
    /// 60%, each centred, at the edges and in the corners, and strips of 10% or 20% cut off one
    /// side: 48 hypotheses in one decoder pass), accepting a hypothesis only within
    /// [`SEARCH_RADIUS`] bit errors of a codeword. The false-positive bound of a clean photo is
    /// then the plain decode's (3.0e-7 for scheme 1) plus 48 times the bound at the tighter
    /// radius (2.0e-11 each), 3.0e-7 in all.
    ///
    /// The classical baseline tries the grid a photo
    /// of its size is tagged on, then the other grid, in case the photo was resized across the
    /// boundary: two attempts at most double the codec's false-positive bound (2 · 3.0e-7 for
    /// scheme 1, still under 1e-6).
    pub fn decode(&self, image: &DynamicImage) -> Result<Detection, Error> {
        let schemes = match &self.scheme {
            Scheme::Learned(learned) => return self.decode_learned(learned, image),
            Scheme::Classic(schemes) => schemes,
        };
        let first = Self::grid_for(schemes, image);
        let mut best: Option<Detection> = None;
        for scheme in
            std::iter::once(first).chain(schemes.iter().filter(|s| s.grid() != first.grid()))
        {
            let detection: Detection = self.codec.decode_soft(&scheme.extract(image))?.into();
            if detection.tag.is_some() {
                return Ok(detection);
            }
            if best.is_none_or(|b| detection.confidence > b.confidence) {
                best = Some(detection);
            }
        }
        best.ok_or_else(|| unreachable!("at least one scheme"))
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
    /// Reads and decodes each file with `threads` workers; results come back in input order.
    pub fn decode_files(
        &self,
        paths: &[std::path::PathBuf],
        threads: usize,
    ) -> Vec<Result<Detection, Error>> {
        crate::io::map_files(paths, threads, |loaded| self.decode(&loaded.image))
    }
}

/// PSNR in dB between two images of the same size, over 8-bit RGB (∞ for identical images,
/// NaN for images of different sizes).
pub fn psnr(a: &DynamicImage, b: &DynamicImage) -> f64 {
    faketagger_attacks::metrics::psnr(&a.to_rgb8(), &b.to_rgb8()).unwrap_or(f64::NAN)
}
