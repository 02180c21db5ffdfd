//! Reading images safely and writing outputs atomically.
//!
//! Reading: the format is sniffed from the bytes (not the extension), dimensions and memory are
//! capped before any pixel is decoded (decompression bombs), EXIF orientation is applied, and
//! every failure names the file. Writing: outputs go to a temporary file in the destination
//! directory and are renamed into place, so a crash never leaves half a file; an existing file is
//! refused unless the caller forces it, and an input is never replaced.

use rayon::prelude::*;
use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::Error;

/// Largest width or height accepted: 2^14, above the largest camera sensors (≈ 14,200 px wide).
pub const MAX_SIDE: u32 = 1 << 14;
/// Largest pixel count accepted: 200 megapixels.
pub const MAX_PIXELS: u64 = 200_000_000;
/// Memory the decoder may allocate: 200 MP of 8-bit RGBA plus headroom for 16-bit inputs.
pub const MAX_DECODE_BYTES: u64 = 2 << 30;
/// JPEG quality of JPEG outputs when none is asked for (embed, attack, the service).
pub const DEFAULT_JPEG_QUALITY: u8 = 95;

/// A JPEG quality when it lies in 1–100, else [`Error::OutOfRange`]: the one check, for the CLI
/// and the service.
pub fn check_jpeg_quality(quality: i64) -> Result<u8, Error> {
    match u8::try_from(quality) {
        Ok(q @ 1..=100) => Ok(q),
        _ => Err(Error::OutOfRange {
            what: "JPEG quality",
            value: quality as f64,
            expected: "between 1 and 100",
        }),
    }
}

/// Smallest width or height accepted: below 64 px there is no room to hide 256 channel bits
/// invisibly (the models work on 128 px faces).
pub const MIN_SIDE: u32 = 64;

/// An image read from disk, with what the writer needs to keep.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Pixels, EXIF orientation applied.
    pub image: DynamicImage,
    /// The container format the bytes were in.
    pub format: ImageFormat,
    /// Colour profile and EXIF to carry into outputs.
    pub metadata: Metadata,
}

/// What outputs keep of an input besides its pixels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Embedded ICC profile, if any.
    pub icc_profile: Option<Vec<u8>>,
    /// The raw EXIF block (TIFF structure), if any, with its orientation reset to "upright":
    /// the pixels were already turned.
    pub exif: Option<Vec<u8>>,
}

/// How images are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Decode a file that ends before its image does (a partial download or copy), with the
    /// missing part filled by the decoder, instead of refusing it with [`Error::Truncated`].
    pub allow_truncated: bool,
}

/// Reads an image with the limits above; a truncated file is refused ([`Error::Truncated`]).
pub fn read_image(path: &Path) -> Result<LoadedImage, Error> {
    read_image_with(path, ReadOptions::default())
}

/// Reads an image with the limits above and `options`.
pub fn read_image_with(path: &Path, options: ReadOptions) -> Result<LoadedImage, Error> {
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Error::BadImage {
            path: path.to_owned(),
            reason: format!(
                "the file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes for an image"
            ),
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(&mut BufReader::new(file), &mut bytes).map_err(io_err)?;
    decode(&bytes, path, MAX_PIXELS, options)
}

/// Largest image file read: [`MAX_DECODE_BYTES`], more than any 200-megapixel photo's file.
pub const MAX_FILE_BYTES: u64 = MAX_DECODE_BYTES;

/// Reads an image from memory (an upload, a request body) with the limits above and at most
/// `max_pixels` (capped at [`MAX_PIXELS`]), checked before any pixel is decoded; `name` stands
/// for the file in errors. A truncated image is refused ([`Error::Truncated`]).
pub fn read_image_bytes(bytes: &[u8], name: &str, max_pixels: u64) -> Result<LoadedImage, Error> {
    decode(
        bytes,
        Path::new(name),
        max_pixels.min(MAX_PIXELS),
        ReadOptions::default(),
    )
}

/// Where a JPEG's marker walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JpegEnd {
    /// The end-of-image marker was reached.
    Complete,
    /// The bytes ran out first.
    Truncated,
}

/// Walks a JPEG's markers (segments by their lengths, entropy-coded data up to the next real
/// marker) to its end-of-image marker, so that the end marker of an EXIF thumbnail does not
/// count. Where the structure is not what the standard says, it falls back to looking for any
/// end marker in the rest: only bytes that run out count as truncation.
///
/// Not caught: a file whose data runs short *before* an end marker (a header that promises more
/// rows than the scan holds, `tests/corpus/jpeg-lying.jpg`, or a cut file with an end marker
/// appended). The decoder fills the rest with grey, and zune-jpeg's strict mode does not flag
/// these either (tried: both decode "Ok").
fn jpeg_end(b: &[u8]) -> JpegEnd {
    const MARKER: u8 = 0xFF;
    const EOI: u8 = 0xD9;
    const SOS: u8 = 0xDA;
    let rest_has_eoi = |from: usize| {
        if b.get(from..)
            .is_some_and(|r| r.windows(2).any(|w| w == [MARKER, EOI]))
        {
            JpegEnd::Complete
        } else {
            JpegEnd::Truncated
        }
    };
    let mut i = 2; // after SOI
    loop {
        while b.get(i) == Some(&MARKER) && b.get(i + 1) == Some(&MARKER) {
            i += 1; // fill bytes
        }
        let (Some(&MARKER), Some(&marker)) = (b.get(i), b.get(i + 1)) else {
            return if i + 1 >= b.len() {
                JpegEnd::Truncated
            } else {
                rest_has_eoi(i)
            };
        };
        i += 2;
        match marker {
            EOI => return JpegEnd::Complete,
            // markers without a length: restart intervals, TEM, a second SOI
            0xD0..=0xD8 | 0x01 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return JpegEnd::Truncated;
        };
        if len < 2 {
            return rest_has_eoi(i);
        }
        i += len;
        if i > b.len() {
            return JpegEnd::Truncated;
        }
        if marker == SOS {
            // entropy-coded data: up to a marker that is not a stuffed zero, a restart or a fill
            loop {
                let Some(at) = b[i..].iter().position(|&x| x == MARKER) else {
                    return JpegEnd::Truncated;
                };
                i += at;
                match b.get(i + 1) {
                    None => return JpegEnd::Truncated,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(&MARKER) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// A PNG palette (`PLTE`) whose length is not a whole number of RGB entries, at most 256: the
/// standard makes it an error, and png 0.18.1 panics expanding such a palette (found by the
/// fuzzer, `fuzz/README.md`; regression file `tests/corpus/png-palette-short.png`). The chunks
/// before the image data are walked; `None` when the palette is sound or the walk ends early
/// (truncation is the decoder's to report).
fn png_bad_palette(b: &[u8]) -> Option<usize> {
    let mut i = 8; // after the signature
    while let Some(head) = b.get(i..i + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"PLTE" if !len.is_multiple_of(3) || len > 3 * 256 => return Some(len),
            b"IDAT" | b"IEND" => return None,
            _ => {}
        }
        i = i.checked_add(12)?.checked_add(len)?;
    }
    None
}

/// [`decode_unguarded`] with a net under the image decoders: a panic inside one (a decoder bug
/// on malformed data, as the fuzzer found in zune-jpeg 0.5.15's IDCT, `fuzz/README.md`) is the
/// file's error, not a crash of the CLI, a dropped service request or a Python exception from
/// nowhere; its message is kept off stderr. Fuzz builds (`cfg(fuzzing)`) leave the panic
/// through, so that the fuzzer still reports every such bug.
fn decode(
    bytes: &[u8],
    path: &Path,
    max_pixels: u64,
    options: ReadOptions,
) -> Result<LoadedImage, Error> {
    guarded(|| decode_unguarded(bytes, path, max_pixels, options)).unwrap_or_else(|| {
        Err(Error::BadImage {
            path: path.to_owned(),
            reason: "the image decoder failed on malformed data in it".into(),
        })
    })
}

/// `f` inside the decoders' net: a panic in it (a decoder's, on malformed data) becomes `None`,
/// silently ([`quiet_decoder_panics`]); fuzzing builds let it through.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    #[cfg(fuzzing)]
    return Some(f());
    #[cfg(not(fuzzing))]
    {
        quiet_decoder_panics();
        let outer = IN_DECODER.replace(true);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
        IN_DECODER.set(outer);
        result
    }
}

#[cfg(not(fuzzing))]
thread_local! {
    /// Whether this thread is inside [`decode`]'s net.
    static IN_DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent for panics inside [`decode`]'s net (they
/// become errors) and hands every other panic to the hook that was there before.
#[cfg(not(fuzzing))]
fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_DECODER.get() {
                previous(info);
            }
        }));
    });
}

fn decode_unguarded(
    bytes: &[u8],
    path: &Path,
    max_pixels: u64,
    options: ReadOptions,
) -> Result<LoadedImage, Error> {
    let size = bytes.len();
    let reader = std::io::Cursor::new(bytes);
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if size == 0 {
        return Err(Error::BadImage {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(io_err)?;
    let Some(format) = reader.format() else {
        return Err(Error::BadImage {
            path: path.to_owned(),
            reason: "not a recognised image format (PNG, JPEG, WebP, TIFF, BMP)".into(),
        });
    };
    if format == ImageFormat::Jpeg
        && !options.allow_truncated
        && jpeg_end(bytes) == JpegEnd::Truncated
    {
        return Err(Error::Truncated {
            path: path.to_owned(),
            format: "JPEG",
        });
    }
    if format == ImageFormat::Png
        && let Some(len) = png_bad_palette(bytes)
    {
        return Err(Error::BadImage {
            path: path.to_owned(),
            reason: format!(
                "its palette (PLTE chunk) is {len} bytes, not whole RGB entries (at most 256 of 3 bytes)"
            ),
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut decoder = reader.into_decoder().map_err(|e| image_error(path, e))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(path, width, height, max_pixels)?;
    decoder
        .set_limits(limits)
        .map_err(|e| image_error(path, e))?;
    let icc_profile = decoder.icc_profile().ok().flatten();
    let mut exif = decoder.exif_metadata().ok().flatten();
    if let Some(chunk) = exif.as_mut() {
        // the orientation it held is applied below; outputs are stored upright
        let _ = image::metadata::Orientation::remove_from_exif_chunk(chunk);
    }
    let orientation = decoder.orientation().map_err(|e| image_error(path, e))?;
    let strips = match format {
        ImageFormat::Jpeg => jpeg_in_row_parts(bytes, [width, height], decoder.color_type()),
        _ => None,
    };
    let mut image = match strips {
        Some(image) => image,
        None => DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, e))?,
    };
    image.apply_orientation(orientation);
    Ok(LoadedImage {
        image,
        format,
        metadata: Metadata { icc_profile, exif },
    })
}

/// A large JPEG whose rows decode apart ([`faketagger_attacks::codecs::jpeg_row_parts`]: 4:4:4
/// or grey, restart intervals of whole MCU rows, as this project writes them) decoded part by
/// part on every core: the pixels of one pass, in a fraction of the time (1080p, 2 cores: 14 →
/// 8 ms). `None` where the file does not split, or any part fails: the caller decodes it whole,
/// as for any other file.
fn jpeg_in_row_parts(
    bytes: &[u8],
    [width, height]: [u32; 2],
    colour: image::ColorType,
) -> Option<DynamicImage> {
    use image::codecs::jpeg::JpegDecoder;
    let parts =
        faketagger_attacks::codecs::jpeg_row_parts(bytes, 2 * rayon::current_num_threads())?;
    let channels = match colour {
        image::ColorType::Rgb8 => 3,
        image::ColorType::L8 => 1,
        _ => return None,
    };
    let row_len = width as usize * channels;
    let mut samples = vec![0u8; row_len * height as usize];
    // every part but the last has the first's rows
    let rows = parts.first()?.2 as usize;
    let decoded = samples
        .par_chunks_mut(row_len * rows)
        .zip(&parts)
        .enumerate()
        .all(|(k, (out, (file, first, part_rows)))| {
            let fits = *first as usize == k * rows && out.len() == row_len * *part_rows as usize;
            fits && guarded(|| {
                let decoder = JpegDecoder::new(std::io::Cursor::new(file)).ok()?;
                (decoder.dimensions() == (width, *part_rows) && decoder.color_type() == colour)
                    .then(|| decoder.read_image(out).ok())
                    .flatten()
            })
            .flatten()
            .is_some()
        });
    if !decoded {
        return None;
    }
    match channels {
        3 => image::RgbImage::from_raw(width, height, samples).map(DynamicImage::ImageRgb8),
        _ => image::GrayImage::from_raw(width, height, samples).map(DynamicImage::ImageLuma8),
    }
}

/// Pixel samples handed over in memory (a NumPy array, a PIL image), row by row: 8- or 16-bit.
/// Owned, so that the image takes them without another copy.
#[derive(Debug, Clone)]
pub enum Samples {
    /// One byte a sample.
    U8(Vec<u8>),
    /// Two bytes a sample.
    U16(Vec<u16>),
}

/// An image from `samples` in rows of `width` pixels of `channels` samples (1 grey, 2 grey +
/// alpha, 3 RGB, 4 RGBA), with the size limits files have; `name` names it in errors.
pub fn image_from_samples(
    name: &str,
    width: u32,
    height: u32,
    channels: u8,
    samples: Samples,
) -> Result<DynamicImage, Error> {
    let (count, bits) = match &samples {
        Samples::U8(s) => (s.len(), 8),
        Samples::U16(s) => (s.len(), 16),
    };
    check_samples(name, width, height, channels, count, bits)?;
    use image::{Luma, LumaA, Rgb, Rgba};
    match (samples, channels) {
        (Samples::U8(s), 1) => layout::<Luma<u8>>(width, height, s),
        (Samples::U8(s), 2) => layout::<LumaA<u8>>(width, height, s),
        (Samples::U8(s), 3) => layout::<Rgb<u8>>(width, height, s),
        (Samples::U8(s), _) => layout::<Rgba<u8>>(width, height, s),
        (Samples::U16(s), 1) => layout::<Luma<u16>>(width, height, s),
        (Samples::U16(s), 2) => layout::<LumaA<u16>>(width, height, s),
        (Samples::U16(s), 3) => layout::<Rgb<u16>>(width, height, s),
        (Samples::U16(s), _) => layout::<Rgba<u16>>(width, height, s),
    }
    .ok_or_else(|| Error::BadImage {
        path: name.into(),
        reason: "the samples do not fill the image".into(),
    })
}

/// The checks [`image_from_samples`] makes: the size limits files have, 1 to 4 channels, and
/// `count` samples of `bits` bits exactly filling `width` × `height` pixels.
fn check_samples(
    name: &str,
    width: u32,
    height: u32,
    channels: u8,
    count: usize,
    bits: u8,
) -> Result<(), Error> {
    let path = Path::new(name);
    check_dimensions(path, width, height, MAX_PIXELS)?;
    let bad = |reason: String| Error::BadImage {
        path: path.to_owned(),
        reason,
    };
    if !(1..=4).contains(&channels) {
        return Err(bad(format!(
            "{channels} channels a pixel; 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) expected"
        )));
    }
    let expected = u64::from(width) * u64::from(height) * u64::from(channels);
    if count as u64 != expected {
        return Err(bad(format!(
            "{count} samples for {width}×{height}×{channels} at {bits} bits, {expected} expected"
        )));
    }
    Ok(())
}

/// 8-bit samples read where they lie, in memory nobody writes to while they are read (a Python
/// `bytes`), checked as [`image_from_samples`] checks them. [`crate::Tagger::decode_samples`]
/// reads an RGB or RGBA photo whole from them as they are, and makes an image of them (one copy)
/// only when the read needs more (the crop search, the faces).
#[derive(Debug, Clone, Copy)]
pub struct BorrowedSamples<'a> {
    name: &'a str,
    width: u32,
    height: u32,
    channels: u8,
    samples: &'a [u8],
}

impl<'a> BorrowedSamples<'a> {
    /// `samples` in rows of `width` pixels of `channels` samples, as for [`image_from_samples`];
    /// `name` names the image in errors.
    pub fn new(
        name: &'a str,
        width: u32,
        height: u32,
        channels: u8,
        samples: &'a [u8],
    ) -> Result<Self, Error> {
        check_samples(name, width, height, channels, samples.len(), 8)?;
        Ok(Self {
            name,
            width,
            height,
            channels,
            samples,
        })
    }

    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The samples and their count a pixel, when the image is RGB (3) or RGBA (4).
    pub fn rgb(&self) -> Option<(&'a [u8], usize)> {
        matches!(self.channels, 3 | 4).then_some((self.samples, usize::from(self.channels)))
    }

    /// The image, its samples copied.
    pub fn to_image(&self) -> Result<DynamicImage, Error> {
        image_from_samples(
            self.name,
            self.width,
            self.height,
            self.channels,
            Samples::U8(self.samples.to_vec()),
        )
    }
}

/// `samples` as an image of pixel type `P`, when there are enough of them.
fn layout<P>(width: u32, height: u32, samples: Vec<P::Subpixel>) -> Option<DynamicImage>
where
    P: image::Pixel,
    DynamicImage: From<image::ImageBuffer<P, Vec<P::Subpixel>>>,
{
    image::ImageBuffer::<P, _>::from_raw(width, height, samples).map(DynamicImage::from)
}

fn check_dimensions(path: &Path, width: u32, height: u32, max_pixels: u64) -> Result<(), Error> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > max_pixels {
        return Err(Error::ImageTooLarge {
            path: path.to_owned(),
            width,
            height,
            max_pixels,
        });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::ImageTooSmall {
            path: path.to_owned(),
            width,
            height,
        });
    }
    Ok(())
}

fn image_error(path: &Path, error: image::ImageError) -> Error {
    match error {
        image::ImageError::Limits(_) => Error::BadImage {
            path: path.to_owned(),
            reason: format!("over the decoding limits: {error}"),
        },
        image::ImageError::IoError(source)
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Error::BadImage {
                path: path.to_owned(),
                reason: "the file is truncated (unexpected end of file)".into(),
            }
        }
        image::ImageError::IoError(source) => Error::Io {
            path: path.to_owned(),
            source,
        },
        other => Error::BadImage {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// How an output file may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse when the output exists (the default).
    #[default]
    Refuse,
    /// Replace an existing output (never an input).
    Replace,
}

/// Writes `bytes` to `output` atomically (temporary file in the same directory, then rename).
/// `inputs` are the files this run reads: none of them is ever replaced.
pub fn write_atomic(
    output: &Path,
    bytes: &[u8],
    overwrite: Overwrite,
    inputs: &[PathBuf],
) -> Result<(), Error> {
    check_output(output, overwrite, inputs)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let io_err = |source| Error::Io {
        path: output.to_owned(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".faketagger-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err)?;
    tmp.write_all(bytes).map_err(io_err)?;
    set_output_permissions(tmp.as_file(), output).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    match overwrite {
        Overwrite::Replace => tmp.persist(output).map(drop).map_err(|e| io_err(e.error)),
        // no-clobber rename: fails if the output appeared meanwhile
        Overwrite::Refuse => tmp.persist_noclobber(output).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists {
                    path: output.to_owned(),
                }
            } else {
                io_err(e.error)
            }
        }),
    }
}

/// Temporary files are created private (0600); an output is an ordinary file. A replaced output
/// keeps its mode, a new one gets [`NEW_FILE_MODE`].
#[cfg(unix)]
fn set_output_permissions(file: &fs::File, output: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(output).map_or(NEW_FILE_MODE, |m| m.permissions().mode() & 0o7777);
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_output_permissions(_file: &fs::File, _output: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Mode of new outputs on Unix: readable by all, writable by the owner, as most tools write.
#[cfg(unix)]
pub const NEW_FILE_MODE: u32 = 0o644;

/// Checks an output path before any work is done on it.
pub fn check_output(output: &Path, overwrite: Overwrite, inputs: &[PathBuf]) -> Result<(), Error> {
    if let Ok(out) = fs::canonicalize(output) {
        if inputs
            .iter()
            .filter_map(|i| fs::canonicalize(i).ok())
            .any(|i| i == out)
        {
            return Err(Error::OutputIsInput {
                path: output.to_owned(),
            });
        }
        if overwrite == Overwrite::Refuse {
            return Err(Error::OutputExists {
                path: output.to_owned(),
            });
        }
        if out.is_dir() {
            return Err(Error::Io {
                path: output.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "the output is a directory",
                ),
            });
        }
    }
    Ok(())
}

/// Encodes `image` in `format` (JPEG at `quality`), keeping the ICC profile and EXIF where the
/// format carries them (JPEG and PNG). Formats without alpha or 16-bit samples get the nearest
/// layout they support.
pub fn encode_image(
    image: &DynamicImage,
    format: ImageFormat,
    quality: u8,
    metadata: &Metadata,
    path: &Path,
) -> Result<Vec<u8>, Error> {
    use image::codecs::png::PngEncoder;

    let encode_err = |reason: String| Error::Encode {
        path: path.to_owned(),
        reason,
    };
    let image_err = |e: image::ImageError| encode_err(e.to_string());
    let mut bytes = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            // the attacks' encoder (IJG tables, libjpeg's quality scaling; 3–4x faster than the
            // image crate's), 4:4:4: a tagged photo loses no chroma before anyone re-encodes it
            return faketagger_attacks::codecs::jpeg_file(
                image,
                quality,
                faketagger_attacks::Chroma::Full,
                metadata.icc_profile.as_deref(),
                metadata.exif.as_deref(),
            )
            .map_err(encode_err);
        }
        ImageFormat::Png => {
            let layout = match image {
                DynamicImage::ImageRgb32F(_) => DynamicImage::ImageRgb16(image.to_rgb16()),
                DynamicImage::ImageRgba32F(_) => DynamicImage::ImageRgba16(image.to_rgba16()),
                other => other.clone(),
            };
            write_with_profile(PngEncoder::new(&mut bytes), &layout, metadata)
                .map_err(image_err)?;
        }
        ImageFormat::WebP | ImageFormat::Bmp => {
            // 8-bit only
            let layout = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            layout
                .write_to(&mut std::io::Cursor::new(&mut bytes), format)
                .map_err(image_err)?;
        }
        other => {
            image
                .write_to(&mut std::io::Cursor::new(&mut bytes), other)
                .map_err(image_err)?;
        }
    }
    Ok(bytes)
}

/// Writes `image` with `encoder`, embedding the ICC profile and EXIF first; metadata the encoder
/// refuses is dropped, not fatal.
fn write_with_profile(
    mut encoder: impl image::ImageEncoder,
    image: &DynamicImage,
    metadata: &Metadata,
) -> image::ImageResult<()> {
    if let Some(icc) = &metadata.icc_profile {
        let _ = encoder.set_icc_profile(icc.clone());
    }
    if let Some(exif) = &metadata.exif {
        let _ = encoder.set_exif_metadata(exif.clone());
    }
    encoder.write_image(
        image.as_bytes(),
        image.width(),
        image.height(),
        image.color().into(),
    )
}

/// Reads each file and runs `work` on it, on up to `threads` threads; results come back in the
/// order of `paths`, one per path (batch decoding and tracing).
pub fn map_files<T: Send>(
    paths: &[PathBuf],
    threads: usize,
    options: ReadOptions,
    work: impl Fn(&LoadedImage) -> Result<T, Error> + Sync,
) -> Vec<Result<T, Error>> {
    par_map(paths, threads, |_, path| {
        read_image_with(path, options).and_then(|loaded| work(&loaded))
    })
}

/// `work(index, item)` for every item, up to `threads` at once, results in item order.
///
/// The items run as tasks of a rayon pool of `threads` threads (the global pool when it has as
/// many), so that the engine's own parallel loops inside `work` (a photo's rows, a face's
/// hundred reads) run on the same threads. From threads of their own, each such loop waited
/// for the pool, busy with the other items' loops, while the pool's threads spun: `eval` of
/// 100 test faces, two at once, took 35.8 s that way and 34.1 s in one pool. One thread: the
/// items one after another on the caller's thread, each with the whole global pool.
pub fn par_map<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    work: impl Fn(usize, &I) -> T + Sync,
) -> Vec<T> {
    let run = || {
        items
            .par_iter()
            .enumerate()
            .with_max_len(1)
            .map(|(i, item)| work(i, item))
            .collect()
    };
    if threads <= 1 || items.len() <= 1 {
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| work(i, item))
            .collect();
    }
    if threads == rayon::current_num_threads() {
        return run();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_this_project_wrote_decodes_in_row_parts_to_the_pixels_of_one_pass() {
        use faketagger_attacks::{Chroma, codecs::jpeg_bytes};
        let textured = |w: u32, h: u32| {
            DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
                let v = (x * 7 + y * 13 + (x * y) % 97) as u8;
                image::Rgb([v, v.wrapping_mul(3), (x ^ y) as u8])
            }))
        };
        let whole = |bytes: &[u8]| {
            let decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes));
            DynamicImage::from_decoder(decoder.unwrap()).unwrap()
        };
        // on four threads: eight restart intervals written, read in eight parts
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        pool.install(|| {
            for (image, chroma, split) in [
                (textured(1100, 701), Chroma::Full, true),
                (textured(1100, 701).grayscale(), Chroma::Full, true),
                (textured(1100, 701), Chroma::Subsampled, false),
                (textured(400, 300), Chroma::Full, false),
            ] {
                let bytes = jpeg_bytes(&image, 92, chroma).unwrap();
                let expected = whole(&bytes);
                let colour = expected.color();
                let size = [image.width(), image.height()];
                let parts = jpeg_in_row_parts(&bytes, size, colour);
                assert_eq!(parts.is_some(), split, "{chroma:?} {size:?} {colour:?}");
                let read = read_image_bytes(&bytes, "t.jpg", MAX_PIXELS).unwrap().image;
                assert_eq!(read.color(), colour);
                assert!(
                    read.as_bytes() == expected.as_bytes(),
                    "{chroma:?} {size:?}"
                );
                // a marker inside the scan: the file is read whole, as before
                if split {
                    let at = bytes.windows(2).position(|w| w == [0xFF, 0xD5]).unwrap();
                    let mut broken = bytes.clone();
                    broken[at + 2..at + 40].fill(0xFF);
                    let read = read_image_bytes(&broken, "t.jpg", MAX_PIXELS).map(|l| l.image);
                    let expected = std::panic::catch_unwind(|| whole(&broken)).ok();
                    assert_eq!(
                        read.ok().map(|i| i.into_bytes()),
                        expected.map(|i| i.into_bytes())
                    );
                }
            }
        });
    }

    #[test]
    fn par_map_keeps_the_items_order_whatever_the_threads() {
        let items: Vec<u64> = (0..37).map(|i| i * 7 % 37).collect();
        // each item's work runs a parallel loop of its own, as the engine's do
        let work = |i: usize, &item: &u64| -> (usize, u64) {
            (i, (0..=item).into_par_iter().map(|v| v * v).sum())
        };
        let expected: Vec<(usize, u64)> = items
            .iter()
            .enumerate()
            .map(|(i, &item)| (i, (0..=item).map(|v| v * v).sum()))
            .collect();
        for threads in [0, 1, 2, 3, 64] {
            assert_eq!(
                par_map(&items, threads, work),
                expected,
                "{threads} threads"
            );
        }
        assert!(par_map(&[] as &[u64], 4, work).is_empty());
    }
}
