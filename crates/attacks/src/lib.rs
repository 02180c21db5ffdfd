//! # faketagger-attacks
//!
//! Real, non-differentiable attacks on images, the ones a tag must survive: what platforms do to
//! photos (JPEG, resizing, cropping, blur, noise, colour changes). They drive the evaluation, the
//! tests and `faketagger attack`. No ML dependency. The DeepFake attacks (simulators and the
//! landmark face swap) join with the model and evaluation issues.
//!
//! An [`Attack`] is parsed from `KIND[:PARAM]` text and applied with a seed, so every run is
//! reproducible:
//!
//! ```
//! use faketagger_attacks::Attack;
//! use image::{DynamicImage, RgbImage};
//!
//! let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(200, 100, image::Rgb([120, 80, 40])));
//! let attack: Attack = "resize:0.5".parse()?;
//! let smaller = attack.apply(&photo, 7)?;
//! assert_eq!((smaller.width(), smaller.height()), (100, 50));
//! # Ok::<(), faketagger_attacks::AttackError>(())
//! ```
#![deny(missing_docs)]

pub mod faceswap;
pub mod metrics;

use std::fmt;
use std::str::FromStr;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, Rgba, Rgba32FImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Smallest side an attack may produce: below it nothing meaningful is left.
pub const MIN_SIDE: u32 = 8;

/// The one error type of this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AttackError {
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
    /// The image encoder or decoder failed (JPEG round trip).
    #[error("attack {attack}: {reason}")]
    Codec {
        /// The attack.
        attack: String,
        /// What failed.
        reason: String,
    },
}

/// One attack and its strength.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Attack {
    /// No change (the baseline row of a table).
    Identity,
    /// JPEG re-encoding at quality 1–100.
    Jpeg(u8),
    /// Lossy WebP re-encoding (libwebp) at quality 1–100; `webp` alone means
    /// [`DEFAULT_WEBP_QUALITY`].
    Webp(u8),
    /// Scaling both sides by a factor in (0, 4], bilinear with antialiasing.
    Resize(f32),
    /// A centred crop keeping this fraction (0, 1] of the area (aspect ratio kept).
    Crop(f32),
    /// Rotation about the centre by degrees in [−45, 45], same size, black corners.
    Rotate(f32),
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
    /// What a social network does to an upload: downscale by this factor in (0, 1], then JPEG at
    /// [`SOCIAL_JPEG_QUALITY`].
    Social(f32),
}

/// JPEG quality of the [`Attack::Social`] pipeline (what large platforms re-encode at, 70–85).
pub const SOCIAL_JPEG_QUALITY: u8 = 75;

impl Attack {
    /// The kinds this crate parses, for messages.
    pub const KINDS: &'static str = "identity, jpeg:Q, webp[:Q], resize:F, crop:F, rotate:DEG, blur:SIGMA, noise:SIGMA, brightness:F, contrast:F, saturation:F, social:F";

    /// Applies the attack; `seed` drives the random ones (noise).
    pub fn apply(&self, image: &DynamicImage, seed: u64) -> Result<DynamicImage, AttackError> {
        let (w, h) = image.dimensions();
        let scaled = |f: f32| ((w as f32 * f).round() as u32, (h as f32 * f).round() as u32);
        let out = match *self {
            Attack::Identity => image.clone(),
            Attack::Jpeg(quality) => self.jpeg(image, quality)?,
            Attack::Webp(quality) => self.webp(image, quality)?,
            Attack::Resize(f) => {
                let (nw, nh) = scaled(f);
                self.check_size(nw, nh)?;
                image.resize_exact(nw, nh, FilterType::Triangle)
            }
            Attack::Crop(area) => {
                let (nw, nh) = scaled(area.sqrt());
                self.check_size(nw, nh)?;
                image.crop_imm((w - nw) / 2, (h - nh) / 2, nw, nh)
            }
            Attack::Rotate(degrees) => rotate(image, degrees),
            Attack::Blur(sigma) => image.blur(sigma),
            Attack::Noise(sigma) => {
                let mut rng = StdRng::seed_from_u64(seed);
                map_colour(image, |c| c + sigma * standard_normal(&mut rng))
            }
            Attack::Brightness(f) => map_colour(image, |c| c * f),
            Attack::Contrast(f) => map_colour(image, |c| 0.5 + (c - 0.5) * f),
            Attack::Saturation(f) => {
                let mut rgba = image.to_rgba32f();
                for p in rgba.pixels_mut() {
                    let [r, g, b, _] = p.0;
                    let grey = 0.299 * r + 0.587 * g + 0.114 * b;
                    for c in &mut p.0[..3] {
                        *c = (grey + (*c - grey) * f).clamp(0.0, 1.0);
                    }
                }
                same_layout(DynamicImage::ImageRgba32F(rgba), image)
            }
            Attack::Social(f) => {
                let (nw, nh) = scaled(f);
                self.check_size(nw, nh)?;
                self.jpeg(
                    &image.resize_exact(nw, nh, FilterType::Triangle),
                    SOCIAL_JPEG_QUALITY,
                )?
            }
        };
        Ok(out)
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), AttackError> {
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(AttackError::TooSmall {
                attack: self.to_string(),
                width,
                height,
            });
        }
        Ok(())
    }

    fn jpeg(&self, image: &DynamicImage, quality: u8) -> Result<DynamicImage, AttackError> {
        let err = |e: image::ImageError| AttackError::Codec {
            attack: self.to_string(),
            reason: e.to_string(),
        };
        let flat = if image.color().has_color() {
            DynamicImage::ImageRgb8(image.to_rgb8())
        } else {
            DynamicImage::ImageLuma8(image.to_luma8())
        };
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(&flat)
            .map_err(err)?;
        // decoders may hand grayscale back as RGB: restore the input's layout
        Ok(same_layout(
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).map_err(err)?,
            image,
        ))
    }
}

impl Attack {
    fn webp(&self, image: &DynamicImage, quality: u8) -> Result<DynamicImage, AttackError> {
        let (w, h) = image.dimensions();
        let alpha = image.color().has_alpha();
        let pixels = if alpha {
            image.to_rgba8().into_raw()
        } else {
            image.to_rgb8().into_raw()
        };
        let encoder = if alpha {
            webp::Encoder::from_rgba(&pixels, w, h)
        } else {
            webp::Encoder::from_rgb(&pixels, w, h)
        };
        let bytes = encoder.encode(f32::from(quality));
        let err = |reason: &str| AttackError::Codec {
            attack: self.to_string(),
            reason: reason.to_owned(),
        };
        let decoded = webp::Decoder::new(&bytes)
            .decode()
            .ok_or_else(|| err("libwebp could not decode its own output"))?;
        let raw = decoded.to_vec();
        let back = if decoded.is_alpha() {
            image::RgbaImage::from_raw(w, h, raw).map(DynamicImage::ImageRgba8)
        } else {
            image::RgbImage::from_raw(w, h, raw).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(|| err("decoded size differs from the input"))?;
        Ok(same_layout(back, image))
    }
}

/// WebP quality of a bare `webp` attack: libwebp's and most platforms' default.
pub const DEFAULT_WEBP_QUALITY: u8 = 75;

/// Applies `f` to every colour sample on the [0, 1] scale (alpha kept), clamping the result,
/// and returns the image in its original layout.
fn map_colour(image: &DynamicImage, mut f: impl FnMut(f32) -> f32) -> DynamicImage {
    let mut rgba = image.to_rgba32f();
    for p in rgba.pixels_mut() {
        for c in &mut p.0[..3] {
            *c = f(*c).clamp(0.0, 1.0);
        }
    }
    same_layout(DynamicImage::ImageRgba32F(rgba), image)
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

/// Bilinear rotation about the centre, same canvas; samples outside the source are black and
/// keep the source's alpha model (opaque black).
fn rotate(image: &DynamicImage, degrees: f32) -> DynamicImage {
    let src = image.to_rgba32f();
    let (w, h) = src.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let sample = |x: f32, y: f32| -> [f32; 4] {
        if x < 0.0 || y < 0.0 || x > (w - 1) as f32 || y > (h - 1) as f32 {
            return [0.0, 0.0, 0.0, 1.0];
        }
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x, y| src.get_pixel(x, y).0;
        std::array::from_fn(|c| {
            let top = p(x0, y0)[c] * (1.0 - fx) + p(x1, y0)[c] * fx;
            let bottom = p(x0, y1)[c] * (1.0 - fx) + p(x1, y1)[c] * fx;
            top * (1.0 - fy) + bottom * fy
        })
    };
    let out = Rgba32FImage::from_fn(w, h, |x, y| {
        // inverse mapping: where in the source does this output pixel come from
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        Rgba(sample(cx + cos * dx + sin * dy, cy - sin * dx + cos * dy))
    });
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

fn standard_normal(rng: &mut StdRng) -> f32 {
    // Box–Muller
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::Identity => write!(f, "identity"),
            Attack::Jpeg(q) => write!(f, "jpeg:{q}"),
            Attack::Webp(q) => write!(f, "webp:{q}"),
            Attack::Resize(x) => write!(f, "resize:{x}"),
            Attack::Crop(x) => write!(f, "crop:{x}"),
            Attack::Rotate(x) => write!(f, "rotate:{x}"),
            Attack::Blur(x) => write!(f, "blur:{x}"),
            Attack::Noise(x) => write!(f, "noise:{x}"),
            Attack::Brightness(x) => write!(f, "brightness:{x}"),
            Attack::Contrast(x) => write!(f, "contrast:{x}"),
            Attack::Saturation(x) => write!(f, "saturation:{x}"),
            Attack::Social(x) => write!(f, "social:{x}"),
        }
    }
}

impl FromStr for Attack {
    type Err = AttackError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, param) = match s.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (s, None),
        };
        let number = |kind: &'static str,
                      lo: f32,
                      lo_inclusive: bool,
                      hi: f32|
         -> Result<f32, AttackError> {
            let bad = |problem: String| AttackError::BadParameter {
                kind,
                param: param.unwrap_or("").to_owned(),
                problem,
            };
            let text = param.ok_or_else(|| bad(format!("is missing: write {kind}:VALUE")))?;
            let value: f32 = text
                .trim()
                .parse()
                .map_err(|_| bad("is not a number".into()))?;
            let above_lo = if lo_inclusive {
                value >= lo
            } else {
                value > lo
            };
            if !(above_lo && value <= hi) {
                let open = if lo_inclusive { '[' } else { '(' };
                return Err(bad(format!("is outside {open}{lo}, {hi}]")));
            }
            Ok(value)
        };
        let quality = |kind: &'static str| -> Result<u8, AttackError> {
            let q = number(kind, 1.0, true, 100.0)?;
            if q.fract() != 0.0 {
                return Err(AttackError::BadParameter {
                    kind,
                    param: q.to_string(),
                    problem: "is not a whole quality".into(),
                });
            }
            Ok(q as u8)
        };
        match kind.to_ascii_lowercase().as_str() {
            "identity" | "none" => Ok(Attack::Identity),
            "jpeg" | "jpg" => Ok(Attack::Jpeg(quality("jpeg")?)),
            "webp" if param.is_none() => Ok(Attack::Webp(DEFAULT_WEBP_QUALITY)),
            "webp" => Ok(Attack::Webp(quality("webp")?)),
            "resize" => Ok(Attack::Resize(number("resize", 0.0, false, 4.0)?)),
            "crop" => Ok(Attack::Crop(number("crop", 0.0, false, 1.0)?)),
            "rotate" => Ok(Attack::Rotate(number("rotate", -45.0, true, 45.0)?)),
            "blur" => Ok(Attack::Blur(number("blur", 0.0, false, 20.0)?)),
            "noise" => Ok(Attack::Noise(number("noise", 0.0, false, 1.0)?)),
            "brightness" => Ok(Attack::Brightness(number("brightness", 0.0, false, 4.0)?)),
            "contrast" => Ok(Attack::Contrast(number("contrast", 0.0, false, 4.0)?)),
            "saturation" => Ok(Attack::Saturation(number("saturation", 0.0, true, 4.0)?)),
            "social" => Ok(Attack::Social(number("social", 0.0, false, 1.0)?)),
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
            "resize:0.5",
            "crop:0.8",
            "rotate:-5",
            "blur:1",
            "noise:0.02",
            "brightness:1.2",
            "contrast:0.8",
            "saturation:0",
            "social:0.5",
        ] {
            let attack: Attack = text.parse().unwrap();
            assert_eq!(attack.to_string(), text);
        }
    }

    #[test]
    fn bad_text_names_the_problem() {
        let cases = [
            ("sharpen:2", "unknown attack"),
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
            (Attack::Jpeg(30), 0.5, 20.0),
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
}
