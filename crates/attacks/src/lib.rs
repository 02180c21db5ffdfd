//! # faketagger-attacks
//!
//! Real, non-differentiable attacks on images, the ones a tag must survive, done the way the world
//! does them: JPEG as libjpeg writes it (4:2:0 chroma by default), WebP through libwebp, AVIF through libavif
//! (`avif` feature, `crates/avif`), resizing,
//! cropping, rotation and straightening, borders and canvases (a colour or another photo),
//! letterboxing, screenshots, grey copies, colour and filter changes, palette quantisation,
//! platform pipelines and chains of them. They drive the evaluation, the tests, the training's
//! validation and `faketagger attack`. No ML dependency. The landmark face swap lives in
//! [`faceswap`]; the learned DeepFake simulators live with the networks (`faketagger-model`).
//!
//! An [`Attack`] is parsed from `KIND[:PARAM][@FILL]` text, chained with `+`, and applied with a
//! seed, so every run is reproducible:
//!
//! ```
//! use faketagger_attacks::Attack;
//! use image::{DynamicImage, RgbImage};
//!
//! let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(200, 100, image::Rgb([120, 80, 40])));
//! let attack: Attack = "resize:0.5".parse()?;
//! let smaller = attack.apply(&photo, 7)?;
//! assert_eq!((smaller.width(), smaller.height()), (100, 50));
//! // a double JPEG, then a 10% white border on every side
//! let chain: Attack = "jpeg:90+jpeg:70+border:0.1@white".parse()?;
//! assert_eq!(chain.apply(&photo, 7)?.width(), 240);
//! # Ok::<(), faketagger_attacks::AttackError>(())
//! ```
#![deny(missing_docs)]

pub mod codecs;
pub mod composite;
pub mod dataset;
pub mod faceswap;
mod filters;
pub mod geometry;
pub mod metrics;

use std::fmt;
use std::str::FromStr;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use codecs::Chroma;
pub use filters::LUMA_601;
pub use geometry::Sides;

/// Smallest side an attack may produce: below it nothing meaningful is left.
pub const MIN_SIDE: u32 = 8;

/// Most pixels an attack may produce (2²⁸, 268 megapixels: a 16k × 16k photo): a border or a
/// ×4 resize of a huge photo is refused instead of exhausting memory.
pub const MAX_PIXELS: u64 = 1 << 28;

/// The one error type of this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AttackError {
    /// A face folder or its `meta.csv` that cannot be read ([`dataset`]).
    #[error("{}: {reason}", path.display())]
    Dataset {
        /// The folder or file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The text is not `KIND[:PARAM]` with a known kind.
    #[error("unknown attack {text:?}: expected one of {}", Attack::KINDS)]
    UnknownKind {
        /// The text given.
        text: String,
    },
    /// The parameter is missing, not a number, or out of range.
    #[error("attack {kind}: parameter {param:?} {problem}")]
    BadParameter {
        /// The attack kind.
        kind: &'static str,
        /// The parameter text.
        param: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The attack would leave an image under [`MIN_SIDE`] pixels a side.
    #[error("attack {attack} leaves a {width}×{height} image, under {min} px a side", min = MIN_SIDE)]
    TooSmall {
        /// The attack.
        attack: String,
        /// Resulting width.
        width: u32,
        /// Resulting height.
        height: u32,
    },
    /// The attack would make an image of more than [`MAX_PIXELS`] pixels.
    #[error("attack {attack} makes a {width}×{height} image, over {max} pixels", max = MAX_PIXELS)]
    TooLarge {
        /// The attack.
        attack: String,
        /// Resulting width.
        width: u64,
        /// Resulting height.
        height: u64,
    },
    /// The image encoder or decoder failed (JPEG round trip).
    #[error("attack {attack}: {reason}")]
    Codec {
        /// The attack.
        attack: String,
        /// What failed.
        reason: String,
    },
    /// The attack puts the photo on another photo, and none was given.
    #[error("attack {attack} needs a backdrop photo (`@photo`): none was given")]
    NoBackdrop {
        /// The attack.
        attack: String,
    },
}

/// What fills the space an attack adds around a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A solid colour (8-bit RGB).
    Colour([u8; 3]),
    /// Another photo (the backdrop handed to [`Attack::apply_on`]), scaled to cover the canvas.
    Photo,
}

impl Fill {
    /// Named fills: `white`, `black`, `grey`, `photo`, or a colour as six hex digits.
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "white" => Fill::Colour([255; 3]),
            "black" => Fill::Colour([0; 3]),
            "grey" | "gray" => Fill::Colour([128; 3]),
            "photo" => Fill::Photo,
            hex if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
                Fill::Colour([byte(0)?, byte(2)?, byte(4)?])
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fill::Colour([255, 255, 255]) => write!(f, "white"),
            Fill::Colour([0, 0, 0]) => write!(f, "black"),
            Fill::Colour([128, 128, 128]) => write!(f, "grey"),
            Fill::Colour([r, g, b]) => write!(f, "{r:02x}{g:02x}{b:02x}"),
            Fill::Photo => write!(f, "photo"),
        }
    }
}

/// One attack and its strength.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Attack {
    /// No change (the baseline row of a table).
    Identity,
    /// JPEG re-encoding at quality 1–100 with 4:2:0 chroma, as libjpeg, browsers, phones and
    /// platforms write it.
    Jpeg(u8),
    /// JPEG re-encoding at quality 1–100 with full-resolution (4:4:4) chroma.
    Jpeg444(u8),
    /// Lossy WebP re-encoding (libwebp) at quality 1–100; `webp` alone means
    /// [`DEFAULT_WEBP_QUALITY`].
    Webp(u8),
    /// AVIF re-encoding through libavif at quality 0–100 (libavif 1.x's scale, 4:2:0, encoder
    /// speed 6), as image CDNs and browsers write it; needs the `avif` feature.
    Avif(u8),
    /// Scaling both sides by a factor in (0, 4], bilinear with antialiasing.
    Resize(f32),
    /// Scaling width and height by different factors in (0, 4] (a non-uniform resize).
    Stretch(f32, f32),
    /// A centred crop keeping this fraction (0, 1] of the area (aspect ratio kept).
    Crop(f32),
    /// Rotation about the centre by degrees in [−45, 45], same size, black corners.
    Rotate(f32),
    /// A photo editor's straighten: rotation by degrees in [−45, 45], then the largest centred
    /// crop of the same aspect ratio without corners.
    Straighten(f32),
    /// The content moved by these fractions of the width and height in [−0.5, 0.5] on the same
    /// canvas, the uncovered part black.
    Shift(f32, f32),
    /// A border: the photo on a larger canvas, these fractions added on each side (each in
    /// [0, 1]), filled with a colour or another photo.
    Border(Sides, Fill),
    /// The photo padded, centred, to this aspect ratio (width / height, in [0.2, 5]).
    Letterbox(f32, Fill),
    /// A screenshot of the photo shown at this scale in [0.25, 4] (non-integer rescale, a window
    /// frame around it, saved as PNG).
    Screenshot(f32),
    /// Gaussian blur with this σ in pixels, (0, 20].
    Blur(f32),
    /// Additive Gaussian noise with this σ on the [0, 1] scale, (0, 1].
    Noise(f32),
    /// Brightness factor in (0, 4]: every channel multiplied.
    Brightness(f32),
    /// Contrast factor in (0, 4] around mid-grey.
    Contrast(f32),
    /// Saturation factor in [0, 4]: each pixel's distance from its grey (Rec. 601 luma) scaled;
    /// 0 turns the photo grey.
    Saturation(f32),
    /// A grey copy: one channel of Rec. 601 luma.
    Grey,
    /// Gamma in (0, 5]: every channel raised to this power.
    Gamma(f32),
    /// Unsharp masking (σ = 1 px) with this amount in (0, 5].
    Sharpen(f32),
    /// Median filter over a (2r+1)² window, radius r in 1–5.
    Median(u32),
    /// The photo reduced to this many colours (2–256, NeuQuant, no dithering), as a GIF.
    Palette(u16),
    /// What a social network does to an upload: downscale by this factor in (0, 1], then JPEG
    /// 4:2:0 at [`SOCIAL_JPEG_QUALITY`].
    Social(f32),
    /// Like [`Attack::Social`], the long side brought down to this many pixels (never up).
    SocialLong(u32),
    /// Attacks one after another (written `a+b+c`).
    Chain(Vec<Attack>),
}

/// JPEG quality of the [`Attack::Social`] pipelines (what large platforms re-encode at, 70–85).
pub const SOCIAL_JPEG_QUALITY: u8 = 75;

/// WebP quality of a bare `webp` attack: libwebp's and most platforms' default.
pub const DEFAULT_WEBP_QUALITY: u8 = 75;

impl Attack {
    /// The kinds this crate parses, for messages.
    pub const KINDS: &'static str = "identity, jpeg:Q (4:2:0), jpeg444:Q, webp[:Q], avif:Q, resize:F, \
        stretch:FX/FY, crop:F, rotate:DEG, straighten:DEG, shift:F[/FY], border:F[/R/B/L][@FILL], \
        letterbox:W/H[@FILL], screenshot:SCALE, blur:SIGMA, noise:SIGMA, brightness:F, \
        contrast:F, saturation:F, grey, gamma:G, sharpen:AMOUNT, median:R, palette:COLOURS, \
        social:F, social:PIXELSpx, and chains A+B (FILL: white, black, grey, photo or RRGGBB)";

    /// Applies the attack; `seed` drives the random ones (noise). An attack on another photo
    /// (`@photo`) fails with [`AttackError::NoBackdrop`]: use [`Attack::apply_on`].
    pub fn apply(&self, image: &DynamicImage, seed: u64) -> Result<DynamicImage, AttackError> {
        self.apply_on(image, seed, None)
    }

    /// Whether the attack (or a link of the chain) puts the photo on a backdrop photo.
    pub fn needs_backdrop(&self) -> bool {
        match self {
            Attack::Border(_, fill) | Attack::Letterbox(_, fill) => *fill == Fill::Photo,
            Attack::Chain(links) => links.iter().any(Attack::needs_backdrop),
            _ => false,
        }
    }

    /// Applies the attack, with `backdrop` as the other photo of `@photo` fills.
    pub fn apply_on(
        &self,
        image: &DynamicImage,
        seed: u64,
        backdrop: Option<&DynamicImage>,
    ) -> Result<DynamicImage, AttackError> {
        let (w, h) = image.dimensions();
        let scaled = |fx: f32, fy: f32| {
            (
                (w as f32 * fx).round() as u32,
                (h as f32 * fy).round() as u32,
            )
        };
        let name = || self.to_string();
        let fill_ok = |fill: Fill| {
            if fill == Fill::Photo && backdrop.is_none() {
                return Err(AttackError::NoBackdrop { attack: name() });
            }
            Ok(fill)
        };
        let grown = |[top, right, bottom, left]: [u32; 4]| {
            self.check_pixels(
                u64::from(w) + u64::from(left) + u64::from(right),
                u64::from(h) + u64::from(top) + u64::from(bottom),
            )
        };
        let out = match self {
            Attack::Identity => image.clone(),
            Attack::Jpeg(quality) => codecs::jpeg(image, *quality, Chroma::Subsampled, &name)?,
            Attack::Jpeg444(quality) => codecs::jpeg(image, *quality, Chroma::Full, &name)?,
            Attack::Webp(quality) => codecs::webp(image, *quality, &name)?,
            Attack::Avif(quality) => codecs::avif(image, *quality, &name)?,
            Attack::Resize(f) => self.resized(image, scaled(*f, *f))?,
            Attack::Stretch(fx, fy) => self.resized(image, scaled(*fx, *fy))?,
            Attack::Crop(area) => {
                let (nw, nh) = scaled(area.sqrt(), area.sqrt());
                self.check_size(nw, nh)?;
                image.crop_imm((w - nw) / 2, (h - nh) / 2, nw, nh)
            }
            Attack::Rotate(degrees) => geometry::rotate(image, *degrees),
            Attack::Straighten(degrees) => {
                let out = geometry::straighten(image, *degrees);
                self.check_size(out.width(), out.height())?;
                out
            }
            Attack::Shift(fx, fy) => geometry::shift(
                image,
                (fx * w as f32).round() as i64,
                (fy * h as f32).round() as i64,
            ),
            Attack::Border(sides, fill) => {
                grown(sides.pixels(w, h))?;
                geometry::canvas(image, sides.pixels(w, h), fill_ok(*fill)?, backdrop)
            }
            Attack::Letterbox(aspect, fill) => {
                let pad = geometry::letterbox_pad(w, h, *aspect);
                grown(pad)?;
                geometry::canvas(image, pad, fill_ok(*fill)?, backdrop)
            }
            Attack::Screenshot(scale) => {
                let (sw, sh) = scaled(*scale, *scale);
                self.check_size(sw, sh)?;
                // the frame adds under a fifth of each side
                self.check_pixels(u64::from(sw) * 6 / 5, u64::from(sh) * 6 / 5)?;
                codecs::png8(&geometry::screenshot(image, *scale), &name)?
            }
            Attack::Blur(sigma) => image.blur(*sigma),
            Attack::Noise(sigma) => {
                let mut rng = StdRng::seed_from_u64(seed);
                filters::map_colour(image, |c| c + sigma * standard_normal(&mut rng))
            }
            Attack::Brightness(f) => filters::map_colour(image, |c| c * f),
            Attack::Contrast(f) => filters::map_colour(image, |c| 0.5 + (c - 0.5) * f),
            Attack::Saturation(f) => filters::saturation(image, *f),
            Attack::Grey => filters::grey(image),
            Attack::Gamma(g) => filters::map_colour(image, |c| c.max(0.0).powf(*g)),
            Attack::Sharpen(amount) => filters::sharpen(image, *amount),
            Attack::Median(radius) => filters::median(image, *radius),
            Attack::Palette(colours) => filters::palette(image, *colours),
            Attack::Social(f) => {
                let smaller = self.resized(image, scaled(*f, *f))?;
                codecs::jpeg(&smaller, SOCIAL_JPEG_QUALITY, Chroma::Subsampled, &name)?
            }
            Attack::SocialLong(long) => {
                let f = (*long as f32 / w.max(h) as f32).min(1.0);
                let smaller = if f < 1.0 {
                    self.resized(image, scaled(f, f))?
                } else {
                    image.clone()
                };
                codecs::jpeg(&smaller, SOCIAL_JPEG_QUALITY, Chroma::Subsampled, &name)?
            }
            Attack::Chain(links) => {
                let mut out = image.clone();
                for (i, link) in links.iter().enumerate() {
                    out =
                        link.apply_on(&out, seed ^ (i as u64).wrapping_mul(LINK_SEED), backdrop)?;
                }
                out
            }
        };
        Ok(out)
    }

    fn resized(
        &self,
        image: &DynamicImage,
        (w, h): (u32, u32),
    ) -> Result<DynamicImage, AttackError> {
        self.check_size(w, h)?;
        Ok(image.resize_exact(w, h, FilterType::Triangle))
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), AttackError> {
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(AttackError::TooSmall {
                attack: self.to_string(),
                width,
                height,
            });
        }
        self.check_pixels(width.into(), height.into())
    }

    fn check_pixels(&self, width: u64, height: u64) -> Result<(), AttackError> {
        if width.saturating_mul(height) > MAX_PIXELS {
            return Err(AttackError::TooLarge {
                attack: self.to_string(),
                width,
                height,
            });
        }
        Ok(())
    }
}

/// Spreads a chain's seed over its links (the golden-ratio increment of SplitMix64).
const LINK_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

fn standard_normal(rng: &mut StdRng) -> f32 {
    // Box–Muller
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// `image` converted to the colour type and bit depth of `original`: attacks (and embedders)
/// work in floating point and hand back the layout they were given.
pub fn same_layout(image: DynamicImage, original: &DynamicImage) -> DynamicImage {
    use DynamicImage as D;
    match original {
        D::ImageLuma8(_) => D::ImageLuma8(image.to_luma8()),
        D::ImageLumaA8(_) => D::ImageLumaA8(image.to_luma_alpha8()),
        D::ImageRgb8(_) => D::ImageRgb8(image.to_rgb8()),
        D::ImageLuma16(_) => D::ImageLuma16(image.to_luma16()),
        D::ImageLumaA16(_) => D::ImageLumaA16(image.to_luma_alpha16()),
        D::ImageRgb16(_) => D::ImageRgb16(image.to_rgb16()),
        D::ImageRgba16(_) => D::ImageRgba16(image.to_rgba16()),
        D::ImageRgb32F(_) => D::ImageRgb32F(image.to_rgb32f()),
        D::ImageRgba32F(_) => D::ImageRgba32F(image.to_rgba32f()),
        _ => D::ImageRgba8(image.to_rgba8()),
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::Identity => write!(f, "identity"),
            Attack::Jpeg(q) => write!(f, "jpeg:{q}"),
            Attack::Jpeg444(q) => write!(f, "jpeg444:{q}"),
            Attack::Webp(q) => write!(f, "webp:{q}"),
            Attack::Avif(q) => write!(f, "avif:{q}"),
            Attack::Resize(x) => write!(f, "resize:{x}"),
            Attack::Stretch(x, y) => write!(f, "stretch:{x}/{y}"),
            Attack::Crop(x) => write!(f, "crop:{x}"),
            Attack::Rotate(x) => write!(f, "rotate:{x}"),
            Attack::Straighten(x) => write!(f, "straighten:{x}"),
            Attack::Shift(x, y) if x == y => write!(f, "shift:{x}"),
            Attack::Shift(x, y) => write!(f, "shift:{x}/{y}"),
            Attack::Border(s, fill) => {
                if s.top == s.right && s.right == s.bottom && s.bottom == s.left {
                    write!(f, "border:{}@{fill}", s.top)
                } else {
                    write!(
                        f,
                        "border:{}/{}/{}/{}@{fill}",
                        s.top, s.right, s.bottom, s.left
                    )
                }
            }
            Attack::Letterbox(a, fill) => write!(f, "letterbox:{a}@{fill}"),
            Attack::Screenshot(x) => write!(f, "screenshot:{x}"),
            Attack::Blur(x) => write!(f, "blur:{x}"),
            Attack::Noise(x) => write!(f, "noise:{x}"),
            Attack::Brightness(x) => write!(f, "brightness:{x}"),
            Attack::Contrast(x) => write!(f, "contrast:{x}"),
            Attack::Saturation(x) => write!(f, "saturation:{x}"),
            Attack::Grey => write!(f, "grey"),
            Attack::Gamma(x) => write!(f, "gamma:{x}"),
            Attack::Sharpen(x) => write!(f, "sharpen:{x}"),
            Attack::Median(r) => write!(f, "median:{r}"),
            Attack::Palette(n) => write!(f, "palette:{n}"),
            Attack::Social(x) => write!(f, "social:{x}"),
            Attack::SocialLong(px) => write!(f, "social:{px}px"),
            Attack::Chain(links) => {
                for (i, link) in links.iter().enumerate() {
                    if i > 0 {
                        write!(f, "+")?;
                    }
                    write!(f, "{link}")?;
                }
                Ok(())
            }
        }
    }
}

/// Parses the parameter of one attack kind: numbers in ranges, `a/b` pairs, `@FILL`.
struct Param<'a> {
    kind: &'static str,
    text: Option<&'a str>,
}

impl Param<'_> {
    fn bad(&self, problem: impl Into<String>) -> AttackError {
        AttackError::BadParameter {
            kind: self.kind,
            param: self.text.unwrap_or("").to_owned(),
            problem: problem.into(),
        }
    }

    fn text(&self) -> Result<&str, AttackError> {
        self.text
            .ok_or_else(|| self.bad(format!("is missing: write {}:VALUE", self.kind)))
    }

    /// One number in `lo..=hi` (`lo` excluded unless `lo_inclusive`).
    fn number_in(
        &self,
        text: &str,
        lo: f32,
        lo_inclusive: bool,
        hi: f32,
    ) -> Result<f32, AttackError> {
        let value: f32 = text
            .trim()
            .parse()
            .map_err(|_| self.bad(format!("{text:?} is not a number")))?;
        let above_lo = if lo_inclusive {
            value >= lo
        } else {
            value > lo
        };
        if !(above_lo && value <= hi) {
            let open = if lo_inclusive { '[' } else { '(' };
            return Err(self.bad(format!("is outside {open}{lo}, {hi}]")));
        }
        Ok(value)
    }

    fn number(&self, lo: f32, lo_inclusive: bool, hi: f32) -> Result<f32, AttackError> {
        self.number_in(self.text()?, lo, lo_inclusive, hi)
    }

    /// `N` numbers separated by `/`; one number alone stands for all when `repeat`.
    fn numbers<const N: usize>(
        &self,
        lo: f32,
        lo_inclusive: bool,
        hi: f32,
    ) -> Result<[f32; N], AttackError> {
        let parts: Vec<&str> = self.text()?.split('/').collect();
        let values = parts
            .iter()
            .map(|p| self.number_in(p, lo, lo_inclusive, hi))
            .collect::<Result<Vec<f32>, _>>()?;
        match values.len() {
            1 => Ok([values[0]; N]),
            n if n == N => Ok(std::array::from_fn(|i| values[i])),
            _ => Err(self.bad(format!("needs 1 or {N} values separated by '/'"))),
        }
    }

    fn whole(&self, lo: f32, hi: f32) -> Result<u32, AttackError> {
        let v = self.number(lo, true, hi)?;
        if v.fract() != 0.0 {
            return Err(self.bad("is not a whole number"));
        }
        Ok(v as u32)
    }

    fn quality(&self) -> Result<u8, AttackError> {
        Ok(self.whole(1.0, 100.0)? as u8)
    }
}

impl FromStr for Attack {
    type Err = AttackError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('+') {
            let links = s
                .split('+')
                .map(str::parse)
                .collect::<Result<Vec<Attack>, _>>()?;
            return Ok(Attack::Chain(links));
        }
        let (body, fill_text) = match s.split_once('@') {
            Some((b, f)) => (b, Some(f)),
            None => (s, None),
        };
        let (kind, text) = match body.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (body, None),
        };
        let kind = kind.to_ascii_lowercase();
        let p = |kind: &'static str| Param { kind, text };
        let fill = |kind: &'static str| -> Result<Fill, AttackError> {
            match fill_text {
                None => Ok(Fill::Colour([0; 3])),
                Some(t) => Fill::parse(t).ok_or_else(|| AttackError::BadParameter {
                    kind,
                    param: t.to_owned(),
                    problem: "is not a fill: white, black, grey, photo or RRGGBB".into(),
                }),
            }
        };
        let takes_fill = matches!(kind.as_str(), "border" | "letterbox");
        if fill_text.is_some() && !takes_fill {
            return Err(AttackError::BadParameter {
                kind: "@",
                param: s.to_owned(),
                problem: "a fill (@…) goes with border and letterbox only".into(),
            });
        }
        match kind.as_str() {
            "identity" | "none" => Ok(Attack::Identity),
            "jpeg" | "jpg" => Ok(Attack::Jpeg(p("jpeg").quality()?)),
            "jpeg444" => Ok(Attack::Jpeg444(p("jpeg444").quality()?)),
            "webp" if text.is_none() => Ok(Attack::Webp(DEFAULT_WEBP_QUALITY)),
            "webp" => Ok(Attack::Webp(p("webp").quality()?)),
            "avif" => Ok(Attack::Avif(p("avif").whole(0.0, 100.0)? as u8)),
            "resize" => Ok(Attack::Resize(p("resize").number(0.0, false, 4.0)?)),
            "stretch" => {
                let [x, y] = p("stretch").numbers(0.0, false, 4.0)?;
                Ok(Attack::Stretch(x, y))
            }
            "crop" => Ok(Attack::Crop(p("crop").number(0.0, false, 1.0)?)),
            "rotate" => Ok(Attack::Rotate(p("rotate").number(-45.0, true, 45.0)?)),
            "straighten" => Ok(Attack::Straighten(
                p("straighten").number(-45.0, true, 45.0)?,
            )),
            "shift" => {
                let [x, y] = p("shift").numbers(-0.5, true, 0.5)?;
                Ok(Attack::Shift(x, y))
            }
            "border" => {
                let [top, right, bottom, left] = p("border").numbers(0.0, true, 1.0)?;
                Ok(Attack::Border(
                    Sides {
                        top,
                        right,
                        bottom,
                        left,
                    },
                    fill("border")?,
                ))
            }
            "letterbox" => {
                let param = p("letterbox");
                let aspect = match param.numbers::<2>(0.0, false, 10_000.0)? {
                    [a, b] if text.is_some_and(|t| t.contains('/')) => a / b,
                    [a, _] => a,
                };
                if !(0.2..=5.0).contains(&aspect) {
                    return Err(param.bad("gives an aspect ratio outside [0.2, 5]"));
                }
                Ok(Attack::Letterbox(aspect, fill("letterbox")?))
            }
            "screenshot" => Ok(Attack::Screenshot(p("screenshot").number(0.25, true, 4.0)?)),
            "blur" => Ok(Attack::Blur(p("blur").number(0.0, false, 20.0)?)),
            "noise" => Ok(Attack::Noise(p("noise").number(0.0, false, 1.0)?)),
            "brightness" => Ok(Attack::Brightness(p("brightness").number(0.0, false, 4.0)?)),
            "contrast" => Ok(Attack::Contrast(p("contrast").number(0.0, false, 4.0)?)),
            "saturation" => Ok(Attack::Saturation(p("saturation").number(0.0, true, 4.0)?)),
            "grey" | "gray" if text.is_none() => Ok(Attack::Grey),
            "gamma" => Ok(Attack::Gamma(p("gamma").number(0.0, false, 5.0)?)),
            "sharpen" => Ok(Attack::Sharpen(p("sharpen").number(0.0, false, 5.0)?)),
            "median" => Ok(Attack::Median(p("median").whole(1.0, 5.0)?)),
            "palette" => Ok(Attack::Palette(p("palette").whole(2.0, 256.0)? as u16)),
            "social" => match text.and_then(|t| t.trim().strip_suffix("px")) {
                Some(px) => Ok(Attack::SocialLong(
                    Param {
                        kind: "social",
                        text: Some(px),
                    }
                    .whole(MIN_SIDE as f32, 65_535.0)?,
                )),
                None => Ok(Attack::Social(p("social").number(0.0, false, 1.0)?)),
            },
            _ => Err(AttackError::UnknownKind { text: s.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};

    use super::*;

    fn photo() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(160, 120, |x, y| {
            Rgb([
                (x * 255 / 160) as u8,
                (y * 255 / 120) as u8,
                ((x * y) % 256) as u8,
            ])
        }))
    }

    fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f32 {
        let (a, b) = (a.to_rgb8(), b.to_rgb8());
        let total: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        total as f32 / a.as_raw().len() as f32
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for text in [
            "identity",
            "jpeg:50",
            "webp:60",
            "avif:30",
            "resize:0.5",
            "crop:0.8",
            "rotate:-5",
            "blur:1",
            "noise:0.02",
            "brightness:1.2",
            "contrast:0.8",
            "saturation:0",
            "social:0.5",
            "jpeg444:70",
            "stretch:1.2/0.9",
            "straighten:3",
            "shift:0.05",
            "shift:0.05/-0.1",
            "border:0.1@white",
            "border:0.02/0.1/0.05/0.2@photo",
            "border:0.05@ff8000",
            "letterbox:2@black",
            "screenshot:1.25",
            "grey",
            "gamma:0.8",
            "sharpen:1.5",
            "median:1",
            "palette:256",
            "social:1080px",
            "jpeg:90+jpeg:70",
            "resize:0.5+border:0.1@photo+jpeg:80",
        ] {
            let attack: Attack = text.parse().unwrap();
            assert_eq!(attack.to_string(), text);
        }
    }

    #[test]
    fn bad_text_names_the_problem() {
        let cases = [
            ("unsharp:2", "unknown attack"),
            ("grey:2", "unknown attack"),
            ("border:0.1@pink", "not a fill"),
            ("blur:1@white", "goes with border"),
            ("border:0.1/0.2", "1 or 4 values"),
            ("border:1.5", "outside"),
            ("letterbox:10/1", "aspect ratio"),
            ("median:1.5", "whole"),
            ("palette:1", "outside"),
            ("social:2px", "outside"),
            ("jpeg:90+jpeg:abc", "not a number"),
            ("jpeg", "missing"),
            ("jpeg:abc", "not a number"),
            ("jpeg:0", "outside"),
            ("jpeg:50.5", "whole"),
            ("resize:0", "outside"),
            ("crop:1.5", "outside"),
            ("rotate:90", "outside"),
            ("noise:NaN", "outside"),
            ("saturation:-1", "outside"),
            ("social:2", "outside"),
        ];
        for (text, needle) in cases {
            let err = text.parse::<Attack>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn geometry_attacks_have_the_right_size() {
        let p = photo();
        assert_eq!(
            Attack::Resize(0.5).apply(&p, 0).unwrap().dimensions(),
            (80, 60)
        );
        assert_eq!(
            Attack::Crop(0.81).apply(&p, 0).unwrap().dimensions(),
            (144, 108)
        );
        assert_eq!(
            Attack::Rotate(5.0).apply(&p, 0).unwrap().dimensions(),
            (160, 120)
        );
        assert!(matches!(
            Attack::Resize(0.01).apply(&p, 0),
            Err(AttackError::TooSmall { .. })
        ));
        assert_eq!(
            Attack::Social(0.5).apply(&p, 0).unwrap().dimensions(),
            (80, 60)
        );
    }

    #[test]
    fn saturation_zero_is_grey_and_one_is_unchanged() {
        let p = photo();
        let grey = Attack::Saturation(0.0).apply(&p, 0).unwrap().to_rgb8();
        assert!(
            grey.pixels()
                .all(|q| q[0].abs_diff(q[1]) <= 1 && q[1].abs_diff(q[2]) <= 1)
        );
        assert_eq!(
            mean_abs_diff(&p, &Attack::Saturation(1.0).apply(&p, 0).unwrap()),
            0.0
        );
    }

    #[test]
    fn every_attack_changes_the_photo_by_a_plausible_amount() {
        let p = photo();
        assert_eq!(
            mean_abs_diff(&p, &Attack::Identity.apply(&p, 0).unwrap()),
            0.0
        );
        assert_eq!(
            mean_abs_diff(&p, &Attack::Rotate(0.0).apply(&p, 0).unwrap()),
            0.0
        );
        for (attack, lo, hi) in [
            // the synthetic photo's blue channel is 1-px chroma texture: 4:2:0 averages it away
            (Attack::Jpeg(30), 0.5, 35.0),
            (Attack::Jpeg444(30), 0.5, 20.0),
            (Attack::Webp(30), 0.5, 40.0),
            (Attack::Blur(2.0), 0.5, 40.0),
            (Attack::Noise(0.05), 5.0, 15.0),
            (Attack::Brightness(1.2), 5.0, 40.0),
            (Attack::Contrast(0.5), 10.0, 60.0),
            (Attack::Saturation(1.5), 2.0, 60.0),
            (Attack::Rotate(5.0), 2.0, 60.0),
        ] {
            let d = mean_abs_diff(&p, &attack.apply(&p, 1).unwrap());
            assert!((lo..hi).contains(&d), "{attack}: mean |Δ| = {d}");
        }
        // stronger JPEG compression damages more
        let q90 = mean_abs_diff(&p, &Attack::Jpeg(90).apply(&p, 0).unwrap());
        let q30 = mean_abs_diff(&p, &Attack::Jpeg(30).apply(&p, 0).unwrap());
        assert!(q30 > q90, "{q30} vs {q90}");
    }

    #[test]
    fn noise_is_seeded() {
        let p = photo();
        let a = Attack::Noise(0.05);
        assert_eq!(a.apply(&p, 3).unwrap(), a.apply(&p, 3).unwrap());
        assert_ne!(a.apply(&p, 3).unwrap(), a.apply(&p, 4).unwrap());
    }

    #[test]
    fn layout_and_alpha_are_kept() {
        let rgba = DynamicImage::ImageRgba16(photo().to_rgba16());
        let out = Attack::Contrast(1.5).apply(&rgba, 0).unwrap();
        assert_eq!(out.color(), rgba.color());
        let gray = DynamicImage::ImageLuma8(photo().to_luma8());
        assert_eq!(
            Attack::Jpeg(80).apply(&gray, 0).unwrap().color(),
            gray.color()
        );
        for image in [&rgba, &gray] {
            let out = Attack::Webp(80).apply(image, 0).unwrap();
            assert_eq!(out.color(), image.color());
            assert_eq!(out.dimensions(), image.dimensions());
        }
        assert_eq!(
            "webp".parse::<Attack>().unwrap(),
            Attack::Webp(DEFAULT_WEBP_QUALITY)
        );
    }

    #[cfg(feature = "avif")]
    #[test]
    fn avif_keeps_layout_and_damages_more_at_low_quality() {
        let p = photo();
        let q80 = mean_abs_diff(&p, &Attack::Avif(80).apply(&p, 0).unwrap());
        let q20 = mean_abs_diff(&p, &Attack::Avif(20).apply(&p, 0).unwrap());
        assert!(0.3 < q80 && q80 < q20 && q20 < 40.0, "q80 {q80}, q20 {q20}");
        let gray = DynamicImage::ImageLuma16(photo().to_luma16());
        let out = Attack::Avif(50).apply(&gray, 0).unwrap();
        assert_eq!(
            (out.color(), out.dimensions()),
            (gray.color(), gray.dimensions())
        );
    }

    #[cfg(not(feature = "avif"))]
    #[test]
    fn avif_without_the_feature_is_a_clear_error() {
        let e = Attack::Avif(50).apply(&photo(), 0).unwrap_err().to_string();
        assert!(e.contains("no AVIF"), "{e}");
    }

    fn chroma_checkerboard() -> DynamicImage {
        // 1-px red/green checkerboard: pure chroma detail at the finest scale
        DynamicImage::ImageRgb8(RgbImage::from_fn(64, 64, |x, y| {
            if (x + y) % 2 == 0 {
                Rgb([200, 60, 60])
            } else {
                Rgb([60, 160, 60])
            }
        }))
    }

    #[test]
    fn jpeg_subsamples_chroma_by_default_and_jpeg444_keeps_it() {
        let p = chroma_checkerboard();
        let sub = mean_abs_diff(&p, &Attack::Jpeg(95).apply(&p, 0).unwrap());
        let full = mean_abs_diff(&p, &Attack::Jpeg444(95).apply(&p, 0).unwrap());
        // 4:2:0 averages the 2×2 blocks: the checkerboard's colours collapse to their mean
        assert!(
            sub > 3.0 * full && sub > 15.0,
            "4:2:0 {sub} vs 4:4:4 {full}"
        );
        // libjpeg-style output: a valid baseline JPEG that any decoder reads, 2×2 luma/chroma
        let bytes = codecs::jpeg_bytes(&p, 75, Chroma::Subsampled).unwrap();
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // SOF0: length(2) precision(1) height(2) width(2) components(1), then id, HV factors
        assert_eq!(bytes[sof + 9], 3, "three components");
        assert_eq!(
            bytes[sof + 11],
            0x22,
            "Y sampled 2×2: chroma at half resolution"
        );
    }

    #[test]
    fn grey_is_one_channel_of_rec601_luma() {
        let p = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 10, Rgb([200, 100, 50])));
        let g = Attack::Grey.apply(&p, 0).unwrap();
        assert_eq!(g.color(), image::ColorType::L8);
        let want = (0.299f32 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0).round() as u8;
        assert_eq!(g.to_luma8().get_pixel(3, 3).0[0], want);
        let deep = DynamicImage::ImageRgb16(p.to_rgb16());
        assert_eq!(
            Attack::Grey.apply(&deep, 0).unwrap().color(),
            image::ColorType::L16
        );
    }

    #[test]
    fn borders_and_canvases_put_the_photo_where_they_say() {
        let p = photo();
        let b: Attack = "border:0.1/0.2/0.05/0@white".parse().unwrap();
        let out = b.apply(&p, 0).unwrap().to_rgb8();
        // top 12 px, right 32 px, bottom 6 px, left 0
        assert_eq!(out.dimensions(), (160 + 32, 120 + 12 + 6));
        assert_eq!(out.get_pixel(5, 5).0, [255; 3]);
        assert_eq!(out.get_pixel(190, 100).0, [255; 3]);
        assert_eq!(out.get_pixel(0, 12), p.to_rgb8().get_pixel(0, 0));
        assert_eq!(out.get_pixel(159, 131), p.to_rgb8().get_pixel(159, 119));
        // on another photo
        let backdrop = DynamicImage::ImageRgb8(RgbImage::from_pixel(50, 50, Rgb([10, 200, 30])));
        let on: Attack = "border:0.1@photo".parse().unwrap();
        assert!(matches!(
            on.apply(&p, 0),
            Err(AttackError::NoBackdrop { .. })
        ));
        assert!(on.needs_backdrop());
        let out = on.apply_on(&p, 0, Some(&backdrop)).unwrap().to_rgb8();
        assert_eq!(out.dimensions(), (192, 144));
        assert_eq!(out.get_pixel(2, 2).0, [10, 200, 30]);
        assert_eq!(out.get_pixel(16 + 7, 12 + 9), p.to_rgb8().get_pixel(7, 9));
        // letterbox 160×120 → 16:9 pads the width: 213 px, centred
        let l: Attack = "letterbox:16/9".parse().unwrap();
        let out = l.apply(&p, 0).unwrap();
        assert_eq!(out.dimensions(), (213, 120));
        assert_eq!(out.to_rgb8().get_pixel(0, 60).0, [0; 3]);
        let tall: Attack = "letterbox:9/16@grey".parse().unwrap();
        assert_eq!(tall.apply(&p, 0).unwrap().dimensions(), (160, 284));
    }

    #[test]
    fn screenshot_rescales_frames_and_quantises() {
        let p = DynamicImage::ImageRgb16(photo().to_rgb16());
        let out = Attack::Screenshot(1.25).apply(&p, 0).unwrap();
        // 200×150 shown; frame: left 1.5% + right 3.5% of 200, top 12% + bottom 5% of 150
        assert_eq!(out.dimensions(), (200 + 3 + 7, 150 + 18 + 8));
        assert_eq!(out.color(), image::ColorType::Rgb8, "saved as 8-bit PNG");
        assert_eq!(out.to_rgb8().get_pixel(100, 2).0, [236; 3]);
    }

    #[test]
    fn straighten_crops_the_corners_away_and_rotate_keeps_them() {
        let white = DynamicImage::ImageRgb8(RgbImage::from_pixel(160, 120, Rgb([255; 3])));
        let rotated = Attack::Rotate(5.0).apply(&white, 0).unwrap().to_rgb8();
        assert_eq!(rotated.get_pixel(0, 0).0, [0; 3]);
        let straight = Attack::Straighten(5.0).apply(&white, 0).unwrap();
        let (w, h) = straight.dimensions();
        assert!(
            (130..150).contains(&w) && (w as f32 / h as f32 - 4.0 / 3.0).abs() < 0.03,
            "{w}×{h}"
        );
        assert!(
            straight.to_rgb8().pixels().all(|p| p.0[0] >= 250),
            "no black corner left"
        );
        assert_eq!(
            Attack::Straighten(0.0).apply(&white, 0).unwrap().width(),
            158
        );
    }

    #[test]
    fn shift_and_stretch_move_and_scale_the_content() {
        let p = photo();
        let out = Attack::Shift(0.1, -0.1).apply(&p, 0).unwrap().to_rgb8();
        assert_eq!(out.dimensions(), (160, 120));
        assert_eq!(out.get_pixel(16 + 20, 30), p.to_rgb8().get_pixel(20, 42));
        assert_eq!(out.get_pixel(3, 30).0, [0; 3]);
        assert_eq!(out.get_pixel(50, 115).0, [0; 3]);
        let s = Attack::Stretch(1.25, 0.5).apply(&p, 0).unwrap();
        assert_eq!(s.dimensions(), (200, 60));
    }

    #[test]
    fn filters_do_what_they_say() {
        let p = photo();
        // median removes isolated specks that a blur would only smear
        let mut specks = RgbImage::from_pixel(40, 40, Rgb([100; 3]));
        for i in 0..10 {
            specks.put_pixel(3 + 3 * i, 5 + 3 * i, Rgb([255; 3]));
        }
        let specks = DynamicImage::ImageRgb8(specks);
        let cleaned = Attack::Median(1).apply(&specks, 0).unwrap().to_rgb8();
        assert!(cleaned.pixels().all(|p| p.0 == [100; 3]));
        // sharpening spreads values, gamma < 1 brightens
        let spread = |i: &DynamicImage| {
            let l = i.to_luma8();
            let m = l.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / l.len() as f64;
            l.pixels()
                .map(|p| (f64::from(p.0[0]) - m).powi(2))
                .sum::<f64>()
        };
        assert!(spread(&Attack::Sharpen(1.5).apply(&p, 0).unwrap()) > spread(&p));
        let mid = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([64; 3])));
        let brighter = Attack::Gamma(0.5).apply(&mid, 0).unwrap().to_rgb8();
        assert_eq!(brighter.get_pixel(0, 0).0, [128; 3]);
        // a palette of N colours leaves at most N
        for n in [2u16, 16, 256] {
            let out = Attack::Palette(n).apply(&p, 0).unwrap().to_rgb8();
            let colours: std::collections::HashSet<[u8; 3]> = out.pixels().map(|p| p.0).collect();
            assert!(
                colours.len() <= usize::from(n) && colours.len() > usize::from(n) / 4,
                "{n}: {}",
                colours.len()
            );
        }
    }

    #[test]
    fn attacks_that_would_make_huge_images_are_refused() {
        // 20000 × 10000 = 200 MP: a 20% border on every side would make 392 MP
        let wide = DynamicImage::ImageLuma8(image::GrayImage::new(20_000, 10_000));
        for text in [
            "border:0.2@white",
            "resize:1.5",
            "stretch:2/1",
            "letterbox:9/16",
        ] {
            let attack: Attack = text.parse().unwrap();
            assert!(
                matches!(attack.apply(&wide, 0), Err(AttackError::TooLarge { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn social_pipelines_and_chains() {
        let big = DynamicImage::ImageRgb8(RgbImage::from_pixel(2000, 1500, Rgb([90, 120, 150])));
        assert_eq!(
            Attack::SocialLong(1080)
                .apply(&big, 0)
                .unwrap()
                .dimensions(),
            (1080, 810)
        );
        let p = photo();
        assert_eq!(
            Attack::SocialLong(1080).apply(&p, 0).unwrap().dimensions(),
            (160, 120)
        );
        // a chain is its links one after another
        let chain: Attack = "jpeg:90+jpeg:70".parse().unwrap();
        let by_hand = Attack::Jpeg(70)
            .apply(&Attack::Jpeg(90).apply(&p, 0).unwrap(), 0)
            .unwrap();
        assert_eq!(chain.apply(&p, 0).unwrap(), by_hand);
        let noisy: Attack = "noise:0.05+noise:0.05".parse().unwrap();
        assert_eq!(noisy.apply(&p, 9).unwrap(), noisy.apply(&p, 9).unwrap());
        assert!(matches!(
            "resize:0.1+resize:0.1"
                .parse::<Attack>()
                .unwrap()
                .apply(&p, 0),
            Err(AttackError::TooSmall { .. })
        ));
    }
}
