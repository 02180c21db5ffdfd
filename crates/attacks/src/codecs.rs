//! Lossy re-encoding as platforms do it: JPEG with libjpeg's tables, quality scaling and 4:2:0
//! chroma (or 4:4:4), lossy WebP with libwebp, AVIF with the system's libavif (feature `avif`) and
//! PNG's 8-bit round trip.

use image::{DynamicImage, GenericImageView};

use crate::{AttackError, same_layout};

/// How a JPEG stores its chroma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0: chroma averaged over 2×2 pixels (libjpeg's `h2v2_downsample`), what libjpeg,
    /// browsers, phones and platforms write by default.
    Subsampled,
    /// 4:4:4: chroma at full resolution.
    Full,
}

/// The image as 8-bit samples a codec takes: grey stays grey, colour loses alpha.
fn flat8(image: &DynamicImage) -> DynamicImage {
    if image.color().has_color() {
        DynamicImage::ImageRgb8(image.to_rgb8())
    } else {
        DynamicImage::ImageLuma8(image.to_luma8())
    }
}

/// A JPEG file of `image` at `quality` (1–100): the IJG tables (Annex K) scaled the way
/// libjpeg's `jpeg_quality_scaling` does, baseline, the given chroma layout.
pub fn jpeg_bytes(image: &DynamicImage, quality: u8, chroma: Chroma) -> Result<Vec<u8>, String> {
    jpeg_file(image, quality, chroma, None, None)
}

/// [`jpeg_bytes`] with an ICC profile (APP2 chunks) and EXIF (APP1) when given; metadata that
/// does not fit its segments is left out, not fatal.
pub fn jpeg_file(
    image: &DynamicImage,
    quality: u8,
    chroma: Chroma,
    icc_profile: Option<&[u8]>,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
    let (w, h) = image.dimensions();
    let (w16, h16) = match (u16::try_from(w), u16::try_from(h)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(format!("{w}×{h} is larger than JPEG's 65535 px a side")),
    };
    let flat = flat8(image);
    let colour = flat.color().has_color();
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, quality);
    encoder.set_sampling_factor(match chroma {
        Chroma::Subsampled => SamplingFactor::F_2_2,
        Chroma::Full => SamplingFactor::F_1_1,
    });
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    if let Some(icc) = icc_profile {
        let _ = encoder.add_icc_profile(icc);
    }
    if let Some(exif) = exif {
        let _ = encoder.add_app_segment(1, [b"Exif\0\0".as_slice(), exif].concat());
    }
    let kind = if colour {
        ColorType::Rgb
    } else {
        ColorType::Luma
    };
    encoder
        .encode(flat.as_bytes(), w16, h16, kind)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// JPEG round trip: encode (see [`jpeg_bytes`]), decode, hand back the input's layout.
pub(crate) fn jpeg(
    image: &DynamicImage,
    quality: u8,
    chroma: Chroma,
    attack: &dyn Fn() -> String,
) -> Result<DynamicImage, AttackError> {
    let err = |reason: String| AttackError::Codec {
        attack: attack(),
        reason,
    };
    let bytes = jpeg_bytes(image, quality, chroma).map_err(err)?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| err(e.to_string()))?;
    // decoders may hand grayscale back as RGB: restore the input's layout
    Ok(same_layout(decoded, image))
}

/// Lossy WebP round trip through libwebp at `quality`.
pub(crate) fn webp(
    image: &DynamicImage,
    quality: u8,
    attack: &dyn Fn() -> String,
) -> Result<DynamicImage, AttackError> {
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
        attack: attack(),
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

/// AVIF round trip through libavif (`crates/avif`) at `quality` 0–100: 8 bits, 4:2:0 chroma
/// (4:0:0 for a grey photo), encoder speed 6; hands back the input's layout.
pub(crate) fn avif(
    image: &DynamicImage,
    quality: u8,
    attack: &dyn Fn() -> String,
) -> Result<DynamicImage, AttackError> {
    let err = |reason: String| AttackError::Codec {
        attack: attack(),
        reason,
    };
    #[cfg(feature = "avif")]
    {
        let flat = flat8(image);
        let (w, h) = flat.dimensions();
        let colour = flat.color().has_color();
        let trip = faketagger_avif::round_trip(
            flat.as_bytes(),
            w,
            h,
            if colour { 3 } else { 1 },
            quality,
            faketagger_avif::DEFAULT_SPEED,
        )
        .map_err(err)?;
        let back = if colour {
            image::RgbImage::from_raw(w, h, trip.pixels).map(DynamicImage::ImageRgb8)
        } else {
            image::GrayImage::from_raw(w, h, trip.pixels).map(DynamicImage::ImageLuma8)
        }
        .ok_or_else(|| err("decoded size differs from the input".into()))?;
        Ok(same_layout(back, image))
    }
    #[cfg(not(feature = "avif"))]
    {
        let _ = (image, quality);
        Err(err(
            "this build has no AVIF (built without the `avif` feature, which needs libavif)".into(),
        ))
    }
}

/// PNG round trip at 8 bits a sample (what a screenshot tool saves).
pub(crate) fn png8(
    image: &DynamicImage,
    attack: &dyn Fn() -> String,
) -> Result<DynamicImage, AttackError> {
    let err = |e: image::ImageError| AttackError::Codec {
        attack: attack(),
        reason: e.to_string(),
    };
    let flat = flat8(image);
    let mut bytes = std::io::Cursor::new(Vec::new());
    flat.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(err)?;
    image::load_from_memory_with_format(bytes.get_ref(), image::ImageFormat::Png).map_err(err)
}
