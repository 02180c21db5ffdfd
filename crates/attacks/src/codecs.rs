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

/// The image as 8-bit samples a codec takes: grey stays grey, colour loses alpha (borrowed when
/// it already is so).
fn flat8(image: &DynamicImage) -> std::borrow::Cow<'_, DynamicImage> {
    use std::borrow::Cow;
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => Cow::Borrowed(image),
        _ if image.color().has_color() => Cow::Owned(DynamicImage::ImageRgb8(image.to_rgb8())),
        _ => Cow::Owned(DynamicImage::ImageLuma8(image.to_luma8())),
    }
}

/// A JPEG file of `image` at `quality` (1–100): the IJG tables (Annex K) scaled the way
/// libjpeg's `jpeg_quality_scaling` does, baseline, the given chroma layout.
pub fn jpeg_bytes(image: &DynamicImage, quality: u8, chroma: Chroma) -> Result<Vec<u8>, String> {
    jpeg_file(image, quality, chroma, None, None)
}

/// [`jpeg_bytes`] with an ICC profile (APP2 chunks) and EXIF (APP1) when given; metadata that
/// does not fit its segments is left out, not fatal. A large image is encoded in horizontal
/// bands on every core and the bands' entropy-coded data joined by restart markers
/// ([`stitch_bands`]): the same quantized coefficients as one pass, so the same decoded pixels.
pub fn jpeg_file(
    image: &DynamicImage,
    quality: u8,
    chroma: Chroma,
    icc_profile: Option<&[u8]>,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let threads = rayon::current_num_threads();
    jpeg_file_in_bands(image, quality, chroma, icc_profile, exif, threads)
}

/// [`jpeg_file`] banded for `threads` threads.
fn jpeg_file_in_bands(
    image: &DynamicImage,
    quality: u8,
    chroma: Chroma,
    icc_profile: Option<&[u8]>,
    exif: Option<&[u8]>,
    threads: usize,
) -> Result<Vec<u8>, String> {
    let (w, h) = image.dimensions();
    let (w16, h16) = match (u16::try_from(w), u16::try_from(h)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(format!("{w}×{h} is larger than JPEG's 65535 px a side")),
    };
    let flat = flat8(image);
    let settings = JpegSettings {
        quality,
        chroma,
        colour: flat.color().has_color(),
    };
    let (samples, width) = (flat.as_bytes(), usize::from(w16));
    let row_len = width * usize::from(flat.color().channel_count());
    let band_rows = settings.band_rows(w16, h16, threads);
    if band_rows >= usize::from(h16) {
        return settings.encode(samples, w16, h16, icc_profile, exif);
    }
    use rayon::prelude::*;
    let bands: Vec<Vec<u8>> = samples
        .par_chunks(band_rows * row_len)
        .enumerate()
        .map(|(i, band)| {
            let rows = (band.len() / row_len) as u16; // at most h16
            // the first band carries the file's header and metadata
            let (icc, exif) = if i == 0 {
                (icc_profile, exif)
            } else {
                (None, None)
            };
            settings.encode(band, w16, rows, icc, exif)
        })
        .collect::<Result<_, _>>()?;
    let mcus = settings.mcus_per_row(w16) * band_rows / settings.mcu_side();
    stitch_bands(&bands, h16, mcus as u16)
}

/// How [`jpeg_file`] encodes: one setting for the whole file and each of its bands.
#[derive(Debug, Clone, Copy)]
struct JpegSettings {
    quality: u8,
    chroma: Chroma,
    /// RGB (else one grey component).
    colour: bool,
}

impl JpegSettings {
    /// Smallest image, in pixels, encoded in bands: below it a band's header and thread cost
    /// more than they save.
    const BANDED_FROM_PIXELS: usize = 1 << 19;

    /// The side of an MCU, in pixels: 16 for 4:2:0 colour, else 8 (one block per component;
    /// a grey scan's MCU is one block).
    fn mcu_side(self) -> usize {
        match (self.colour, self.chroma) {
            (true, Chroma::Subsampled) => 16,
            _ => 8,
        }
    }

    fn mcus_per_row(self, width: u16) -> usize {
        usize::from(width).div_ceil(self.mcu_side())
    }

    /// The rows of each band of a `width`×`height` image for `threads` threads: whole MCU rows,
    /// two bands a thread, a band's MCUs within a restart interval (16 bits); the whole height
    /// when banding does not pay.
    fn band_rows(self, width: u16, height: u16, threads: usize) -> usize {
        let (side, height) = (self.mcu_side(), usize::from(height));
        if threads < 2 || usize::from(width) * height < Self::BANDED_FROM_PIXELS {
            return height;
        }
        let mcu_rows = height.div_ceil(side);
        let most = usize::from(u16::MAX) / self.mcus_per_row(width);
        mcu_rows.div_ceil(2 * threads).clamp(1, most.max(1)) * side
    }

    /// One baseline JPEG file of 8-bit `samples` (RGB or grey, as `colour` says).
    fn encode(
        self,
        samples: &[u8],
        width: u16,
        height: u16,
        icc_profile: Option<&[u8]>,
        exif: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, self.quality);
        encoder.set_sampling_factor(match self.chroma {
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
        let kind = if self.colour {
            ColorType::Rgb
        } else {
            ColorType::Luma
        };
        encoder
            .encode(samples, width, height, kind)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}

/// One baseline JPEG of `height` rows from the files of its horizontal `bands` (each encoded
/// alone with the same tables; every band but the last `interval` MCUs): the first band's
/// header with the full height and a restart interval (DRI), then each band's entropy-coded
/// data, a restart marker between two. A band's data starts its DC predictions from zero and
/// ends padded to a byte, as a restart interval does.
fn stitch_bands(bands: &[Vec<u8>], height: u16, interval: u16) -> Result<Vec<u8>, String> {
    let parts: Vec<JpegParts<'_>> = bands
        .iter()
        .map(|b| JpegParts::of(b))
        .collect::<Result<_, _>>()?;
    let first = &parts[0];
    let mut out = Vec::with_capacity(bands.iter().map(Vec::len).sum());
    out.extend_from_slice(&first.header[..first.sos]);
    out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(&first.header[first.sos..]);
    let at = first.height_at;
    out[at..at + 2].copy_from_slice(&height.to_be_bytes());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0xFF, 0xD0 + ((i - 1) % 8) as u8]);
        }
        out.extend_from_slice(part.scan);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

/// A baseline JPEG file's header (up to its scan's data), where its SOS segment starts and
/// where SOF0's height lies in it, its frame and restart interval, and its entropy-coded data
/// (before EOI).
struct JpegParts<'a> {
    header: &'a [u8],
    sos: usize,
    height_at: usize,
    /// Width and height from SOF0, and each component's sampling factors (H << 4 | V).
    size: [u16; 2],
    sampling: Vec<u8>,
    /// The restart interval (DRI), in MCUs; 0 without one.
    interval: u16,
    scan: &'a [u8],
}

impl<'a> JpegParts<'a> {
    fn of(file: &'a [u8]) -> Result<Self, String> {
        let bad = || "the encoder wrote a JPEG this cannot split".to_string();
        Self::parse(file).ok_or_else(bad)
    }

    /// The parts of a baseline (SOF0) file with one scan, its EOI last; `None` for any other.
    fn parse(file: &'a [u8]) -> Option<Self> {
        if !file.starts_with(&[0xFF, 0xD8]) || !file.ends_with(&[0xFF, 0xD9]) {
            return None;
        }
        let (mut at, mut frame, mut interval) = (2, None, 0);
        loop {
            let marker = match file.get(at..at + 2)? {
                &[0xFF, marker] => marker,
                _ => return None,
            };
            let len = usize::from(u16::from_be_bytes([*file.get(at + 2)?, *file.get(at + 3)?]));
            let end = at + 2 + len;
            let segment = file.get(at + 4..end)?;
            match marker {
                // SOF0: precision, height, width, components (id, sampling, table)
                0xC0 => {
                    let count = usize::from(*segment.get(5)?);
                    let components = segment.get(6..6 + 3 * count)?;
                    let size = [
                        u16::from_be_bytes([segment[3], segment[4]]),
                        u16::from_be_bytes([segment[1], segment[2]]),
                    ];
                    frame = Some((at + 5, size, components.chunks(3).map(|c| c[1]).collect()));
                }
                // other frames (progressive, arithmetic, lossless) are not split
                0xC1..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => return None,
                0xDD => interval = u16::from_be_bytes([*segment.first()?, *segment.get(1)?]),
                0xDA => {
                    let (height_at, size, sampling) = frame?;
                    return Some(Self {
                        header: &file[..end],
                        sos: at,
                        height_at,
                        size,
                        sampling,
                        interval,
                        scan: file.get(end..file.len() - 2)?,
                    });
                }
                _ => {}
            }
            at = end;
        }
    }
}

/// A large baseline JPEG split into at most `parts` files of whole rows, where that decodes to
/// the same pixels as the whole file: every component at full resolution (4:4:4 colour or grey,
/// so no sample depends on another MCU row's), one scan, and restart intervals of whole MCU
/// rows (each starts its DC predictions afresh) — what [`jpeg_file`] writes. Each part is the
/// file's header with the part's height, then its intervals' data, restart markers numbered
/// from 0. Returns the parts with their first row and rows, in order; `None` for other files
/// (4:2:0, no or ragged restart intervals, progressive, a marker inside the scan, small images).
pub fn jpeg_row_parts(file: &[u8], parts: usize) -> Option<Vec<(Vec<u8>, u32, u32)>> {
    let p = JpegParts::parse(file)?;
    let [width, height] = p.size.map(usize::from);
    let interval = usize::from(p.interval);
    let mcus_per_row = width.div_ceil(8);
    if parts < 2
        || width * height < JpegSettings::BANDED_FROM_PIXELS
        || !p.sampling.iter().all(|&s| s == 0x11)
        || !matches!(p.sampling.len(), 1 | 3)
        || interval == 0
        || interval % mcus_per_row != 0
    {
        return None;
    }
    // the intervals' data, between restart markers; any other marker: not one plain scan
    let mut intervals = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i + 1 < p.scan.len() {
        if p.scan[i] != 0xFF {
            i += 1;
            continue;
        }
        match p.scan[i + 1] {
            0x00 | 0xFF => i += 1,
            0xD0..=0xD7 => {
                intervals.push(&p.scan[start..i]);
                i += 2;
                start = i;
            }
            _ => return None,
        }
    }
    intervals.push(&p.scan[start..]);
    let rows_per_interval = interval / mcus_per_row * 8;
    if intervals.len() != height.div_ceil(rows_per_interval) {
        return None;
    }
    let per_part = intervals.len().div_ceil(parts);
    let files = intervals
        .chunks(per_part)
        .enumerate()
        .map(|(k, chunk)| {
            let first = k * per_part * rows_per_interval;
            let rows = (chunk.len() * rows_per_interval).min(height - first);
            let mut part = Vec::with_capacity(
                p.header.len() + chunk.iter().map(|c| c.len() + 2).sum::<usize>() + 2,
            );
            part.extend_from_slice(p.header);
            part[p.height_at..p.height_at + 2].copy_from_slice(&(rows as u16).to_be_bytes());
            for (j, data) in chunk.iter().enumerate() {
                if j > 0 {
                    part.extend_from_slice(&[0xFF, 0xD0 + ((j - 1) % 8) as u8]);
                }
                part.extend_from_slice(data);
            }
            part.extend_from_slice(&[0xFF, 0xD9]);
            (part, first as u32, rows as u32)
        })
        .collect();
    Some(files)
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

#[cfg(test)]
mod tests {
    use image::{GrayImage, ImageDecoder, RgbImage};
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A seeded photo-like image: gradients with noise, so every block has detail.
    fn textured(width: u32, height: u32, grey: bool) -> DynamicImage {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let rgb = RgbImage::from_fn(width, height, |x, y| {
            let n = |rng: &mut rand::rngs::StdRng| rng.random_range(0..48u32);
            image::Rgb([
                ((x * 255 / width + n(&mut rng)) % 256) as u8,
                ((y * 255 / height + n(&mut rng)) % 256) as u8,
                (((x + y) % 256 + n(&mut rng)) % 256) as u8,
            ])
        });
        match grey {
            true => DynamicImage::ImageLuma8(GrayImage::from_fn(width, height, |x, y| {
                image::Luma([rgb.get_pixel(x, y).0[0]])
            })),
            false => DynamicImage::ImageRgb8(rgb),
        }
    }

    fn markers(bytes: &[u8], marker: impl Fn(u8) -> bool) -> usize {
        bytes
            .windows(2)
            .filter(|w| w[0] == 0xFF && marker(w[1]))
            .count()
    }

    #[test]
    fn a_jpeg_in_bands_decodes_to_the_pixels_of_one_pass() {
        let icc = vec![7u8; 300];
        let exif = b"MM\0*\0\0\0\x08\0\0".to_vec();
        // sizes off the MCU grid, 4:2:0 and 4:4:4 colour, grey
        for (width, height, grey, chroma) in [
            (1013, 701, false, Chroma::Subsampled),
            (1013, 701, false, Chroma::Full),
            (800, 777, true, Chroma::Subsampled),
        ] {
            let image = textured(width, height, grey);
            let settings = JpegSettings {
                quality: 90,
                chroma,
                colour: !grey,
            };
            let one_pass = settings
                .encode(
                    image.as_bytes(),
                    width as u16,
                    height as u16,
                    Some(&icc),
                    Some(&exif),
                )
                .unwrap();
            let banded =
                jpeg_file_in_bands(&image, 90, chroma, Some(&icc), Some(&exif), 4).unwrap();
            let case = format!("{width}×{height} grey {grey} {chroma:?}");
            // eight bands for four threads: seven restart markers, one interval
            assert_eq!(
                markers(&banded, |m| (0xD0..=0xD7).contains(&m)),
                7,
                "{case}"
            );
            assert_eq!(markers(&banded, |m| m == 0xDD), 1, "{case}");
            assert_eq!(markers(&one_pass, |m| m == 0xDD), 0, "{case}");
            let decode = |bytes: &[u8]| {
                let mut decoder =
                    image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes)).unwrap();
                let icc = decoder.icc_profile().unwrap();
                (icc, DynamicImage::from_decoder(decoder).unwrap())
            };
            let ((icc_one, one), (icc_banded, banded_pixels)) =
                (decode(&one_pass), decode(&banded));
            assert_eq!(banded_pixels.dimensions(), (width, height), "{case}");
            assert!(
                one.as_bytes() == banded_pixels.as_bytes(),
                "{case}: pixels differ"
            );
            assert_eq!(icc_banded, Some(icc.clone()), "{case}");
            assert_eq!(icc_one, icc_banded, "{case}");
            assert!(
                banded.windows(exif.len()).any(|w| w == exif),
                "{case}: EXIF kept"
            );
            // and through the public door, on however many threads there are
            let public = jpeg_file(&image, 90, chroma, None, None).unwrap();
            assert!(decode(&public).1.as_bytes() == one.as_bytes(), "{case}");
        }
    }

    #[test]
    fn a_jpeg_of_restart_intervals_splits_into_rows_that_decode_to_its_pixels() {
        let decode = |bytes: &[u8]| {
            DynamicImage::from_decoder(
                image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes)).unwrap(),
            )
            .unwrap()
        };
        for (width, height, grey) in [(1013, 701, false), (800, 777, true)] {
            let image = textured(width, height, grey);
            // eight intervals (four threads), in parts of three, three and two
            let file =
                jpeg_file_in_bands(&image, 90, Chroma::Full, Some(&[7u8; 30]), None, 4).unwrap();
            let whole = decode(&file);
            let parts = jpeg_row_parts(&file, 3).unwrap();
            assert_eq!(parts.len(), 3);
            let mut stacked = Vec::new();
            let mut next = 0;
            for (part, first, rows) in &parts {
                assert_eq!(*first, next);
                next += rows;
                let pixels = decode(part);
                assert_eq!(pixels.dimensions(), (width, *rows));
                stacked.extend_from_slice(pixels.as_bytes());
            }
            assert_eq!(next, height);
            assert!(
                stacked == whole.as_bytes(),
                "{width}×{height}: pixels differ"
            );
            // one part per interval at most
            assert_eq!(jpeg_row_parts(&file, 64).unwrap().len(), 8);
            // a restart marker lost: the intervals no longer fill the image
            let at = file.windows(2).position(|w| w == [0xFF, 0xD3]).unwrap();
            let broken = [&file[..at], &file[at + 2..]].concat();
            assert!(jpeg_row_parts(&broken, 3).is_none());
            // a second scan's marker inside the data
            let other = [&file[..at], &[0xFF, 0xC4], &file[at + 2..]].concat();
            assert!(jpeg_row_parts(&other, 3).is_none());
        }
        let image = textured(1013, 701, false);
        // 4:2:0: a row's chroma is upsampled from its neighbours'; no restart intervals; one part
        for file in [
            jpeg_file_in_bands(&image, 90, Chroma::Subsampled, None, None, 4).unwrap(),
            jpeg_file_in_bands(&image, 90, Chroma::Full, None, None, 1).unwrap(),
        ] {
            assert!(jpeg_row_parts(&file, 3).is_none());
        }
        let file = jpeg_file_in_bands(&image, 90, Chroma::Full, None, None, 4).unwrap();
        assert!(jpeg_row_parts(&file, 1).is_none());
    }

    #[test]
    fn bands_are_whole_mcu_rows_within_a_restart_interval() {
        let colour = |chroma| JpegSettings {
            quality: 90,
            chroma,
            colour: true,
        };
        let (sub, full) = (colour(Chroma::Subsampled), colour(Chroma::Full));
        // 1080p on 2 threads: 4 bands of 17 MCU rows (4:2:0) or 34 (4:4:4)
        assert_eq!(sub.band_rows(1920, 1080, 2), 17 * 16);
        assert_eq!(full.band_rows(1920, 1080, 2), 34 * 8);
        // one thread, or a small image: one pass
        assert_eq!(sub.band_rows(1920, 1080, 1), 1080);
        assert_eq!(sub.band_rows(512, 512, 2), 512);
        // the widest JPEG: 8,192 MCUs a row at 4:4:4, so 7 rows an interval (57,344 MCUs)
        let rows = full.band_rows(65535, 4000, 2);
        assert_eq!(rows, 7 * 8);
        assert!(full.mcus_per_row(65535) * rows / 8 <= usize::from(u16::MAX));
    }
}
