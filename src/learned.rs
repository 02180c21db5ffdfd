//! The learned scheme: faketagger-model's trained encoder and decoder on photos of any size.
//!
//! The networks work on an R×R square (R = 128 for the shipped weights). Embedding resizes the
//! photo to R×R, lets the encoder compute a residual there, scales the residual back up to the
//! photo with bilinear interpolation and adds it (TrustMark's approach, arXiv 2311.18297, §3.3),
//! so any size and aspect ratio is tagged in one encoder pass. Decoding resizes the photo to R×R.

use std::path::Path;

use faketagger_attacks::geometry::{UNIT_OF_BYTE, round_to_u8, unit};
use faketagger_attacks::same_layout;
use faketagger_codec::ChannelBits;
use faketagger_model::burn::module::Module;
use faketagger_model::burn::tensor::{Tensor, TensorData};
use faketagger_model::cpu::{CpuDecoder, CpuEncoder};
use faketagger_model::images::from_float_images;
use faketagger_model::weights;
use faketagger_model::{Backend, Device, TaggerNet, TaggerNetConfig};
use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb32FImage};
use rayon::prelude::*;

use crate::Error;

/// Name of the tagger network's files inside a weights directory: `tagger.{json,bpk}`.
pub const NETWORK_NAME: &str = "tagger";

/// An encoder residual for a photo's size, one [`Bilinear`] upscaling per RGB channel: rows are
/// made as they are applied, so a 144-megapixel photo never holds three full-size f32 planes.
#[derive(Debug, Clone)]
pub struct Residual {
    planes: [Bilinear; 3],
}

/// A loaded encoder/decoder pair.
#[derive(Debug, Clone)]
pub struct LearnedScheme {
    config: TaggerNetConfig,
    net: TaggerNet,
    /// On the flex backend, the decoder on the CPU without burn (the same weights; 3–4× faster,
    /// on every core).
    cpu_decoder: Option<CpuDecoder>,
    /// On the flex backend, the encoder likewise (a 128 px residual in ~1.5 ms instead of ~5),
    /// made on first use: decoding never needs it, and making it costs about a millisecond.
    cpu_encoder: Option<std::sync::OnceLock<Result<CpuEncoder, String>>>,
    device: Device,
}

impl LearnedScheme {
    /// Loads `<dir>/tagger.{json,bpk}` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, Error> {
        let (config, net) = weights::load_tagger_net(dir, NETWORK_NAME, device)?;
        Self::new(config, net, device)
    }

    /// From a config file's and a record's bytes (`source` names them in errors).
    pub fn from_bytes(
        config_json: &[u8],
        record: impl Into<weights::RecordBytes>,
        source: &Path,
        device: &Device,
    ) -> Result<Self, Error> {
        let config = weights::parse_config(config_json, source)?;
        let (config, net) = weights::tagger_net_from_parts(config, record, source, device)?;
        Self::new(config, net, device)
    }

    fn new(config: TaggerNetConfig, net: TaggerNet, device: &Device) -> Result<Self, Error> {
        let on_flex = Backend::Flex.device().is_ok_and(|flex| flex == *device);
        let cpu_decoder = on_flex
            .then(|| net.decoder.cpu())
            .transpose()
            .map_err(|reason| Error::Network {
                network: "decoder",
                reason,
            })?;
        let cpu_encoder = on_flex.then(std::sync::OnceLock::new);
        Ok(Self {
            config,
            net: net.valid(),
            cpu_decoder,
            cpu_encoder,
            device: device.clone(),
        })
    }

    /// The same scheme with the decoder on burn whatever the backend (the CPU path's
    /// reference).
    #[cfg(test)]
    pub(crate) fn on_burn(mut self) -> Self {
        self.cpu_decoder = None;
        self.cpu_encoder = None;
        self
    }

    /// Side of the square the networks work on.
    pub fn resolution(&self) -> u32 {
        self.config.resolution() as u32
    }

    /// Channel bits carried.
    pub fn channel_bits(&self) -> usize {
        self.net.decoder_bits()
    }

    /// The encoder's residual for `image` and `bits`, scaled up to the image's size: one encoder
    /// pass, which [`LearnedScheme::apply`] can then add at any strength.
    pub fn residual(&self, image: &DynamicImage, bits: &ChannelBits) -> Result<Residual, Error> {
        self.residual_boosted(image, bits, &[])
    }

    /// [`LearnedScheme::residual`] with each channel bit's message input multiplied by its entry
    /// in `boosts` (missing entries: 1): the encoder's message path starts with a linear layer,
    /// so a bit read wrong is embedded more strongly on the next try without raising the rest.
    pub fn residual_boosted(
        &self,
        image: &DynamicImage,
        bits: &ChannelBits,
        boosts: &[f32],
    ) -> Result<Residual, Error> {
        let r = self.resolution();
        let residual = self.residual_square_boosted(&to_square(image, r), bits, boosts)?;
        let plane = (r * r) as usize;
        let (w, h) = (image.width(), image.height());
        let planes = std::array::from_fn(|c| {
            Bilinear::new(&residual[c * plane..(c + 1) * plane], r, r, w, h)
        });
        Ok(Residual { planes })
    }

    /// The encoder's residual for an R×R `square` (values 0..1) and `bits`: three R×R planes.
    pub fn residual_square(
        &self,
        square: &Rgb32FImage,
        bits: &ChannelBits,
    ) -> Result<Vec<f32>, Error> {
        self.residual_square_boosted(square, bits, &[])
    }

    /// [`LearnedScheme::residual_square`] with per-bit `boosts` ([`LearnedScheme::residual_boosted`]).
    fn residual_square_boosted(
        &self,
        square: &Rgb32FImage,
        bits: &ChannelBits,
        boosts: &[f32],
    ) -> Result<Vec<f32>, Error> {
        let r = self.resolution();
        let message: Vec<f32> = bits
            .iter()
            .enumerate()
            .map(|(i, b)| boosts.get(i).copied().unwrap_or(1.0) * if b { 1.0 } else { -1.0 })
            .collect();
        if let Some(cpu) = &self.cpu_encoder {
            let cpu = cpu.get_or_init(|| self.net.encoder.cpu(r as usize));
            let residual = cpu
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|cpu| cpu.forward(square.as_raw(), &message))
                .map_err(|reason| Error::Network {
                    network: "encoder",
                    reason,
                })?;
            return checked_values(residual, "encoder", 3 * (r * r) as usize);
        }
        let residual = self
            .net
            .encoder
            .forward(
                from_float_images(std::slice::from_ref(square), &self.device),
                Tensor::from_data(TensorData::new(message, [1, bits.len()]), &self.device),
            )
            .into_data();
        tensor_values(residual, "encoder", 3 * (r * r) as usize)
    }

    /// `image` plus `strength` × `residual` (made for this image), clamped, in the image's
    /// layout (alpha kept). 8-bit RGB and RGBA photos are changed in place, row by row (no f32
    /// copy of the photo); other layouts go through RGBA f32. Both give the same numbers: the
    /// `image` crate's u8 ⇄ f32 conversions (x / 255; clamp, ×255, round).
    pub fn apply(&self, image: &DynamicImage, residual: &Residual, strength: f32) -> DynamicImage {
        apply_residual(image, residual, strength)
    }

    /// Channel-bit logits (ln P(1)/P(0)) read from `image`.
    pub fn logits(&self, image: &DynamicImage) -> Result<Vec<f32>, Error> {
        let mut logits = self.logits_batch(std::slice::from_ref(image))?;
        Ok(logits.pop().unwrap_or_default())
    }

    /// [`LearnedScheme::logits`] of the photo in `raw`: 8-bit RGB (`channels` 3) or RGBA (4)
    /// samples in rows of `width` pixels, read where they lie.
    pub fn logits_rgb8(
        &self,
        raw: &[u8],
        channels: usize,
        [width, height]: [u32; 2],
    ) -> Result<Vec<f32>, Error> {
        let r = self.resolution();
        if !matches!(channels, 3 | 4)
            || [width, height, r].contains(&0)
            || raw.len() != width as usize * height as usize * channels
        {
            return Err(Error::Unsupported(format!(
                "{} samples for {width}×{height}×{channels}",
                raw.len()
            )));
        }
        let small = resized_rgb8(raw, channels, [width, height], [r, r]);
        let mut logits = self.decode_squares(std::slice::from_ref(&small))?;
        Ok(logits.pop().unwrap_or_default())
    }

    /// The logits of each image, read in one decoder pass (a photo's faces).
    pub fn logits_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<f32>>, Error> {
        let r = self.resolution();
        let small: Vec<Rgb32FImage> = images.par_iter().map(|i| to_square(i, r)).collect();
        self.decode_squares(&small)
    }

    /// The decoder on images already at the networks' square, in one pass.
    fn decode_squares(&self, squares: &[Rgb32FImage]) -> Result<Vec<Vec<f32>>, Error> {
        let n = squares.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let bits = self.channel_bits();
        if let Some(cpu) = &self.cpu_decoder {
            let raw: Vec<&[f32]> = squares.iter().map(|s| s.as_raw().as_slice()).collect();
            let logits = cpu.forward(&raw).map_err(|reason| Error::Network {
                network: "decoder",
                reason,
            })?;
            return logits
                .into_iter()
                .map(|l| checked_values(l, "decoder", bits))
                .collect();
        }
        let logits = tensor_values(
            self.net
                .decoder
                .forward(from_float_images(squares, &self.device))
                .into_data(),
            "decoder",
            n * bits,
        )?;
        Ok(logits.chunks(bits).map(<[f32]>::to_vec).collect())
    }
}

/// Where a cropped photo may have sat in its original: the fraction of the original's width and
/// height it keeps, and its position in the room the crop left (0 = left or top edge, 0.5 =
/// centred, 1 = right or bottom edge); and the turn the original took before it was cropped
/// (`rotate:θ`, or a photo editor's straighten: a turn, then a centred crop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Fraction of the original's width kept, (0, 1].
    pub width: f32,
    /// Fraction of the original's height kept, (0, 1].
    pub height: f32,
    /// Horizontal position in the room left, 0..=1.
    pub x: f32,
    /// Vertical position in the room left, 0..=1.
    pub y: f32,
    /// Degrees the original was turned, as the `rotate` attack turns (0: none); undone after the
    /// crop is put back.
    pub turn: f32,
}

/// Areas of the crops the decoder's search undoes (side fractions √0.9 … √0.6): neighbours differ
/// by about 6% in scale, within what the networks, trained on random crops, read through.
pub const SEARCH_AREAS: [f32; 4] = [0.9, 0.8, 0.7, 0.6];
/// Fractions of one side kept by the one-axis crops the search undoes (a strip cut off the top,
/// bottom, left or right).
pub const SEARCH_STRIPS: [f32; 2] = [0.9, 0.8];
/// Positions tried per axis: the centre and both edges.
pub const SEARCH_POSITIONS: [f32; 3] = [0.5, 0.0, 1.0];

/// The crop search reads a copy of the photo at most this many times the networks' side per
/// axis: placements are at most the networks' side, and a 4× larger source keeps the triangle
/// filter's antialiasing of a direct resize.
const SEARCH_SOURCE_SIDES: u32 = 4;

/// The crop hypotheses of the decoder's search, mild and centred ones first: crops that keep the
/// aspect ratio ([`SEARCH_AREAS`] × [`SEARCH_POSITIONS`]²), then one-axis crops
/// ([`SEARCH_STRIPS`] × [`SEARCH_POSITIONS`] on each axis), then each of [`SEARCH_TURNS`] either
/// way, on the same canvas and straightened. 52 in all.
pub fn crop_placements() -> Vec<Placement> {
    let mut out = Vec::new();
    for area in SEARCH_AREAS {
        for y in SEARCH_POSITIONS {
            for x in SEARCH_POSITIONS {
                let side = area.sqrt();
                out.push(Placement {
                    width: side,
                    height: side,
                    x,
                    y,
                    turn: 0.0,
                });
            }
        }
    }
    for strip in SEARCH_STRIPS {
        for at in SEARCH_POSITIONS {
            out.push(Placement {
                width: 1.0,
                height: strip,
                x: 0.5,
                y: at,
                turn: 0.0,
            });
            out.push(Placement {
                width: strip,
                height: 1.0,
                x: at,
                y: 0.5,
                turn: 0.0,
            });
        }
    }
    for turn in SEARCH_TURNS.into_iter().flat_map(|t| [t, -t]) {
        // turned on the same canvas (black corners), and straightened (the largest centred
        // square without corners kept)
        let (sin, cos) = turn.to_radians().abs().sin_cos();
        let straightened = 1.0 / (sin + cos);
        for side in [1.0, straightened] {
            out.push(Placement {
                width: side,
                height: side,
                x: 0.5,
                y: 0.5,
                turn,
            });
        }
    }
    out
}

/// Turns the search undoes, each either way: the networks read through about ±2° on their own
/// (v1: `rotate:2` 98.8% exact, `rotate:3` 24.5%).
pub const SEARCH_TURNS: [f32; 1] = [4.0];

/// `image` turned back by `degrees` (undoing `rotate:degrees`) about its centre, bilinear, the
/// corners that come from outside filled with the nearest edge pixel.
fn turned_back(image: &Rgb32FImage, degrees: f32) -> Rgb32FImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = (-degrees).to_radians().sin_cos();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let at = |x: f32, y: f32| {
        let x = x.clamp(0.0, (w - 1) as f32);
        let y = y.clamp(0.0, (h - 1) as f32);
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x, y| image.get_pixel(x, y).0;
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        image::Rgb(std::array::from_fn(|k| {
            (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy
        }))
    };
    // the attack's inverse mapping with the opposite angle
    Rgb32FImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        at(cx + cos * dx + sin * dy, cy - sin * dx + cos * dy)
    })
}

/// Largest difference (8-bit levels, any channel) between a border line's pixels and the border's
/// colour: flat fills, window frames and letterbox bars, after a JPEG round trip.
const BORDER_TOLERANCE: i16 = 12;
/// Least share of each side that must be left inside a border.
const BORDER_MIN_CONTENT: f32 = 0.4;

/// The photo inside a flat border, `[x, y, width, height]`: each side trimmed while its outermost
/// remaining line is one colour, the colour of that side's outer edge (within
/// [`BORDER_TOLERANCE`]). `None` when nothing is trimmed or less than [`BORDER_MIN_CONTENT`] of a
/// side would be left. Borders added around a photo (frames, letterboxing, a screenshot's
/// window) are undone this way before the crop search, without a hypothesis per width.
pub fn content_box(image: &DynamicImage) -> Option<[u32; 4]> {
    use image::GenericImageView;
    let (w, h) = image.dimensions();
    if w < 3 || h < 3 {
        return None;
    }
    // pixels read where they lie: only the lines the trimming looks at, no copy of the photo
    let px = |x: u32, y: u32| {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        [r, g, b].map(i16::from)
    };
    let near = |a: [i16; 3], b: [i16; 3]| (0..3).all(|k| (a[k] - b[k]).abs() <= BORDER_TOLERANCE);
    // the box left so far: x0..x1, y0..y1
    let (mut x0, mut x1, mut y0, mut y1) = (0u32, w, 0u32, h);
    loop {
        let before = (x0, x1, y0, y1);
        // each side: its outer line's middle pixel gives the colour, then lines of that colour go
        // (a frame inside another frame comes off in the next round)
        let colour = px((x0 + x1) / 2, y0);
        while y0 + 1 < y1 && (x0..x1).all(|x| near(px(x, y0), colour)) {
            y0 += 1;
        }
        let colour = px((x0 + x1) / 2, y1 - 1);
        while y1 > y0 + 1 && (x0..x1).all(|x| near(px(x, y1 - 1), colour)) {
            y1 -= 1;
        }
        let colour = px(x0, (y0 + y1) / 2);
        while x0 + 1 < x1 && (y0..y1).all(|y| near(px(x0, y), colour)) {
            x0 += 1;
        }
        let colour = px(x1 - 1, (y0 + y1) / 2);
        while x1 > x0 + 1 && (y0..y1).all(|y| near(px(x1 - 1, y), colour)) {
            x1 -= 1;
        }
        if (x0, x1, y0, y1) == before {
            break;
        }
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let enough =
        cw as f32 >= BORDER_MIN_CONTENT * w as f32 && ch as f32 >= BORDER_MIN_CONTENT * h as f32;
    (enough && (cw, ch) != (w, h)).then_some([x0, y0, cw, ch])
}

impl LearnedScheme {
    /// Logits of `image` put back where each placement says it sat in an uncropped original:
    /// scaled to the placement's share of the networks' square, the lost border filled by
    /// repeating the edge pixels. One decoder pass over all placements.
    pub fn logits_placed(
        &self,
        image: &DynamicImage,
        placements: &[Placement],
    ) -> Result<Vec<Vec<f32>>, Error> {
        let r = self.resolution();
        // converted and shrunk once: every placement then resizes a small copy (at 1080p, 16
        // full-resolution resizes were most of an untagged photo's decoding time)
        let cap = SEARCH_SOURCE_SIDES * r;
        let (w, h) = (image.width(), image.height());
        let rgb = resized(image, w.min(cap), h.min(cap));
        let share =
            |fraction: f32| ((r as f32 * fraction.clamp(0.05, 1.0)).round() as u32).clamp(1, r);
        let size = |p: &Placement| (share(p.width), share(p.height));
        // each size the placements take, resized once (each placement's index into them); then
        // the canvases, all on every core
        let mut sizes: Vec<(u32, u32)> = Vec::new();
        let of_size: Vec<usize> = placements
            .iter()
            .map(|p| match sizes.iter().position(|&s| s == size(p)) {
                Some(at) => at,
                None => {
                    sizes.push(size(p));
                    sizes.len() - 1
                }
            })
            .collect();
        let scaled: Vec<Rgb32FImage> = sizes
            .par_iter()
            .map(|&(iw, ih)| imageops::resize(&rgb, iw, ih, FilterType::Triangle))
            .collect();
        let canvases: Vec<Rgb32FImage> = placements
            .par_iter()
            .zip(&of_size)
            .map(|(p, &at)| {
                let (iw, ih) = size(p);
                let small = &scaled[at];
                let (ox, oy) = (
                    (p.x.clamp(0.0, 1.0) * (r - iw) as f32).round() as i64,
                    (p.y.clamp(0.0, 1.0) * (r - ih) as f32).round() as i64,
                );
                // the crop back in place, the lost border filled with its edge pixels
                let canvas = Rgb32FImage::from_fn(r, r, |cx, cy| {
                    let sx = (i64::from(cx) - ox).clamp(0, i64::from(iw) - 1) as u32;
                    let sy = (i64::from(cy) - oy).clamp(0, i64::from(ih) - 1) as u32;
                    *small.get_pixel(sx, sy)
                });
                if p.turn == 0.0 {
                    canvas
                } else {
                    turned_back(&canvas, p.turn)
                }
            })
            .collect();
        self.decode_squares(&canvases)
    }
}

/// A network's output as `len` floats, or an error that says which network failed: a tensor that
/// cannot be read must never become a zero residual (an untagged photo) or empty logits.
fn tensor_values(data: TensorData, network: &'static str, len: usize) -> Result<Vec<f32>, Error> {
    let values = data.try_to_vec::<f32>().map_err(|e| Error::Network {
        network,
        reason: format!("its output cannot be read as f32: {e:?}"),
    })?;
    checked_values(values, network, len)
}

/// A network's output, `len` finite values, or an error that says which network failed.
fn checked_values(values: Vec<f32>, network: &'static str, len: usize) -> Result<Vec<f32>, Error> {
    if values.len() != len {
        return Err(Error::Network {
            network,
            reason: format!("{} values where {len} were expected", values.len()),
        });
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(Error::Network {
            network,
            reason: format!("a non-finite value ({bad}) in its output"),
        });
    }
    Ok(values)
}

/// The image's RGB resized to `side`² with a triangle (antialiased bilinear) filter.
fn to_square(image: &DynamicImage, side: u32) -> Rgb32FImage {
    resized(image, side, side)
}

/// The image's RGB resized to `width` × `height` with a triangle filter: `image::imageops::resize`
/// of its `to_rgb32f` copy, the same numbers, without the copy for 8-bit RGB(A) photos.
fn resized(image: &DynamicImage, width: u32, height: u32) -> Rgb32FImage {
    let (raw, channels) = match image {
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), 3),
        DynamicImage::ImageRgba8(rgba) => (rgba.as_raw(), 4),
        _ => return resized_whole(image, width, height),
    };
    let (w, h) = (image.width(), image.height());
    if [w, h, width, height].contains(&0) {
        return resized_whole(image, width, height);
    }
    resized_rgb8(raw, channels, [w, h], [width, height])
}

/// [`resized`] of 8-bit RGB (`channels` 3) or RGBA (4) samples in rows of `w` pixels, none of
/// the sizes zero.
fn resized_rgb8(raw: &[u8], channels: usize, [w, h]: [u32; 2], to: [u32; 2]) -> Rgb32FImage {
    if [w, h] != to {
        return resized_from_bytes(raw, channels, [w, h], to);
    }
    // `to_rgb32f`, the alpha dropped
    let samples = raw
        .chunks_exact(channels)
        .flat_map(|pixel| &pixel[..3])
        .map(|&v| unit(v))
        .collect();
    Rgb32FImage::from_raw(w, h, samples).unwrap_or_else(|| unreachable!("a pixel per sample"))
}

/// [`resized`] by way of a float copy of the whole photo: other layouts than 8-bit RGB(A).
fn resized_whole(image: &DynamicImage, width: u32, height: u32) -> Rgb32FImage {
    let rgb = image.to_rgb32f();
    if rgb.dimensions() == (width, height) {
        rgb
    } else {
        // values stay in 0..1, where `image`'s float resize does not clamp anything away
        imageops::resize(&rgb, width, height, FilterType::Triangle)
    }
}

/// The taps of `image`'s triangle filter from `from` samples to `to`: per output sample, the
/// first input sample and the normalised weights, computed as `imageops::resize` computes them.
fn triangle_taps(from: u32, to: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = from as f32 / to as f32;
    let sratio = ratio.max(1.0);
    let support = sratio; // the triangle's support, 1, scaled
    (0..to)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let first = ((centre - support).floor() as i64).clamp(0, i64::from(from) - 1);
            let end = ((centre + support).ceil() as i64).clamp(first + 1, i64::from(from));
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (first..end)
                .map(|i| {
                    let x = (i as f32 - centre) / sratio;
                    if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
                })
                .collect();
            let sum = weights.iter().fold(0.0, |sum, w| sum + w);
            for weight in &mut weights {
                *weight /= sum;
            }
            (first as usize, weights)
        })
        .collect()
}

/// `image::imageops::resize` (triangle) of an 8-bit RGB or RGBA photo's `to_rgb32f` copy, read
/// straight from its bytes: its column pass, then its row pass with its clamp to 0..1, the same
/// weights, u8 → f32 values and order of sums, so the same numbers — without the float copy of
/// the photo (12 bytes a pixel: at 12 megapixels 0.15 s and 144 MB per read) nor the crate's
/// full-width intermediate; bands of output rows in parallel.
fn resized_from_bytes(
    raw: &[u8],
    channels: usize,
    [w, h]: [u32; 2],
    [width, height]: [u32; 2],
) -> Rgb32FImage {
    let row_len = w as usize * channels;
    let (down, across) = (triangle_taps(h, height), triangle_taps(w, width));
    let mut out = vec![0f32; width as usize * height as usize * 3];
    let band = |(index, rows): (usize, &mut [f32])| {
        let mut line = vec![0f32; w as usize * 3];
        for (i, row_out) in rows.chunks_exact_mut(width as usize * 3).enumerate() {
            // the column pass: this output row at the photo's width
            let (top, weights) = &down[index * ROWS_PER_TASK + i];
            line.fill(0.0);
            for (k, &weight) in weights.iter().enumerate() {
                let start = (top + k) * row_len;
                let row = &raw[start..start + row_len];
                if channels == 3 {
                    // one flat loop, vectorized: `unit` computed, not looked up
                    for (acc, &v) in line.iter_mut().zip(row) {
                        *acc += unit(v) * weight;
                    }
                } else {
                    for (acc, pixel) in line.chunks_exact_mut(3).zip(row.chunks_exact(channels)) {
                        for c in 0..3 {
                            acc[c] += UNIT_OF_BYTE[usize::from(pixel[c])] * weight;
                        }
                    }
                }
            }
            // the row pass
            for (pixel, (left, weights)) in row_out.chunks_exact_mut(3).zip(&across) {
                let mut t = [0f32; 3];
                for (k, &weight) in weights.iter().enumerate() {
                    let source = &line[(left + k) * 3..][..3];
                    for c in 0..3 {
                        t[c] += source[c] * weight;
                    }
                }
                for c in 0..3 {
                    pixel[c] = t[c].clamp(0.0, 1.0);
                }
            }
        }
    };
    out.par_chunks_mut(width as usize * 3 * ROWS_PER_TASK)
        .enumerate()
        .for_each(band);
    Rgb32FImage::from_raw(width, height, out).unwrap_or_else(|| unreachable!("sized above"))
}

/// [`LearnedScheme::apply`]: `image` plus `strength` × `residual`, row by row.
fn apply_residual(image: &DynamicImage, residual: &Residual, strength: f32) -> DynamicImage {
    let width = image.width() as usize;
    // `move`: the strength copied in, which the vectorizer needs (not read through a pointer)
    let add = move |v: f32, r: f32| (v + strength * r).clamp(0.0, 1.0);
    let add_u8 =
        move |sample: &mut u8, r: f32| *sample = round_to_u8(add(unit(*sample), r) * 255.0);
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
            let (source, channels): (&[u8], usize) = match image {
                DynamicImage::ImageRgb8(b) => (b, 3),
                DynamicImage::ImageRgba8(b) => (b, 4),
                _ => unreachable!("matched above"),
            };
            // the output made line by line in the parallel bands, each line copied from the
            // photo where it is summed, not in one copy of the whole photo first (at 1080p that
            // copy, its page faults on one core, took as long as the sums)
            let mut bytes = vec![0u8; source.len()];
            add_by_bands(&mut bytes, [width, channels], residual, |y, line, rows| {
                line.copy_from_slice(&source[y * line.len()..][..line.len()]);
                if channels == 3 {
                    // one flat loop, which the compiler vectorizes
                    for (sample, &r) in line.iter_mut().zip(rows) {
                        add_u8(sample, r);
                    }
                } else {
                    for_rgb(line, rows, channels, add_u8);
                }
            });
            let (w, h) = (image.width(), image.height());
            match channels {
                3 => image::RgbImage::from_raw(w, h, bytes).map(DynamicImage::ImageRgb8),
                _ => image::RgbaImage::from_raw(w, h, bytes).map(DynamicImage::ImageRgba8),
            }
            .unwrap_or_else(|| unreachable!("the photo's size"))
        }
        _ => {
            let mut rgba = image.to_rgba32f();
            add_by_bands(&mut rgba, [width, 4], residual, |_, line, rows| {
                for_rgb(line, rows, 4, |value, r| *value = add(*value, r));
            });
            same_layout(DynamicImage::ImageRgba32F(rgba), image)
        }
    }
}

/// `update(sample, residual value)` for the R, G and B samples of each pixel of `line`
/// (`channels` samples a pixel, the residual's `rows` laid out alike).
fn for_rgb<T>(line: &mut [T], rows: &[f32], channels: usize, update: impl Fn(&mut T, f32)) {
    for (pixel, r) in line
        .chunks_exact_mut(channels)
        .zip(rows.chunks_exact(channels))
    {
        for (sample, &r) in pixel.iter_mut().zip(r).take(3) {
            update(sample, r);
        }
    }
}

/// `update(y, line, residual)` for each line `y` of a photo's `samples` (`width` pixels a row,
/// `channels` samples a pixel), in parallel bands of rows, each band making its own rows of
/// the residual, laid out as the line's samples are (alpha: 0).
fn add_by_bands<T: Send>(
    samples: &mut [T],
    [width, channels]: [usize; 2],
    residual: &Residual,
    update: impl Fn(usize, &mut [T], &[f32]) + Sync,
) {
    let line_len = (width * channels).max(1);
    let band = |(index, lines): (usize, &mut [T])| {
        let mut rows = [vec![0f32; width], vec![0f32; width], vec![0f32; width]];
        let mut interleaved = vec![0f32; line_len];
        for (i, line) in lines.chunks_exact_mut(line_len).enumerate() {
            for (plane, row) in residual.planes.iter().zip(rows.iter_mut()) {
                plane.row(index * ROWS_PER_TASK + i, row);
            }
            for (c, row) in rows.iter().enumerate() {
                for (to, &r) in interleaved[c..].iter_mut().step_by(channels).zip(row) {
                    *to = r;
                }
            }
            update(index * ROWS_PER_TASK + i, line, &interleaved);
        }
    };
    samples
        .par_chunks_mut(line_len * ROWS_PER_TASK)
        .enumerate()
        .for_each(band);
}

/// Rows of a photo per parallel task in the full-resolution passes (resizing, adding the
/// residual).
const ROWS_PER_TASK: usize = 16;

/// Bilinear upscaling of a `sw`×`sh` plane to `dw`×`dh` (pixel centres aligned, edges
/// clamped): source rows interpolated across once, each output row made on demand.
#[derive(Debug, Clone)]
pub(crate) struct Bilinear {
    /// The source rows at the output width: `sh × dw`.
    across: Vec<f32>,
    /// Per output row: the two source rows and the weight of the second.
    down: Vec<(usize, usize, f32)>,
    width: usize,
}

impl Bilinear {
    pub(crate) fn new(src: &[f32], sw: u32, sh: u32, dw: u32, dh: u32) -> Self {
        let taps = |src_n: u32, dst_n: u32| -> Vec<(usize, usize, f32)> {
            let scale = src_n as f32 / dst_n as f32;
            (0..dst_n)
                .map(|d| {
                    let s = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, (src_n - 1) as f32);
                    let i0 = s.floor() as usize;
                    let i1 = (i0 + 1).min(src_n as usize - 1);
                    (i0, i1, s - i0 as f32)
                })
                .collect()
        };
        let xs = taps(sw, dw);
        let (sw, width) = (sw as usize, dw as usize);
        let mut across = vec![0f32; sh as usize * width];
        for y in 0..sh as usize {
            let line = &src[y * sw..(y + 1) * sw];
            for (x, &(x0, x1, f)) in xs.iter().enumerate() {
                across[y * width + x] = line[x0] * (1.0 - f) + line[x1] * f;
            }
        }
        Self {
            across,
            down: taps(sh, dh),
            width,
        }
    }

    /// Output row `y` into `out` (`dw` values).
    pub(crate) fn row(&self, y: usize, out: &mut [f32]) {
        let (y0, y1, f) = self.down[y];
        let w = self.width;
        let (a, b) = (
            &self.across[y0 * w..(y0 + 1) * w],
            &self.across[y1 * w..(y1 + 1) * w],
        );
        for (o, (&p, &q)) in out.iter_mut().zip(a.iter().zip(b)) {
            *o = p * (1.0 - f) + q * f;
        }
    }
}

/// The whole upscaled plane (row-major `dw × dh`).
#[cfg(test)]
pub(crate) fn bilinear(src: &[f32], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<f32> {
    let plane = Bilinear::new(src, sw, sh, dw, dh);
    let mut out = vec![0f32; dw as usize * dh as usize];
    for (y, row) in out.chunks_exact_mut((dw as usize).max(1)).enumerate() {
        plane.row(y, row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The residual added as before rows were made on demand: the photo widened to RGBA f32, the
    /// residual upscaled to full planes, the image crate's conversions back.
    fn apply_reference(image: &DynamicImage, small: &[f32], r: u32, strength: f32) -> DynamicImage {
        let (w, h) = (image.width(), image.height());
        let plane = (r * r) as usize;
        let planes: Vec<Vec<f32>> = (0..3)
            .map(|c| bilinear(&small[c * plane..(c + 1) * plane], r, r, w, h))
            .collect();
        let mut rgba = image.to_rgba32f();
        for (i, pixel) in rgba.pixels_mut().enumerate() {
            for (value, plane) in pixel.0.iter_mut().zip(&planes) {
                *value = (*value + strength * plane[i]).clamp(0.0, 1.0);
            }
        }
        same_layout(DynamicImage::ImageRgba32F(rgba), image)
    }

    #[test]
    fn resizes_read_from_8_bit_rows_are_those_of_the_float_copy() {
        let photo = |w: u32, h: u32| {
            DynamicImage::ImageRgba8(image::RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([
                    (x * 13 + y * 3) as u8,
                    (x ^ (y * 5)) as u8,
                    ((x * y) % 251) as u8,
                    (x + 2 * y) as u8,
                ])
            }))
        };
        // shrunk a lot, a little, on one axis only, enlarged, one row, the side already
        for (w, h) in [
            (1000, 700),
            (131, 97),
            (128, 300),
            (300, 128),
            (60, 40),
            (500, 1),
            (128, 128),
        ] {
            let rgba = photo(w, h);
            for image in [DynamicImage::ImageRgb8(rgba.to_rgb8()), rgba] {
                for (to_w, to_h) in [(128, 128), (31, 31), (512, 300), (w.min(200), h), (w, 77)] {
                    assert_eq!(
                        resized(&image, to_w, to_h),
                        resized_whole(&image, to_w, to_h),
                        "{w}x{h} to {to_w}x{to_h}"
                    );
                }
            }
        }
    }

    #[test]
    fn residual_rows_on_demand_give_the_same_pixels_in_every_layout() {
        let r = 16u32;
        let small: Vec<f32> = (0..3 * r * r)
            .map(|i| ((i * 7919 % 997) as f32 / 997.0 - 0.5) * 0.2)
            .collect();
        let photo = image::RgbaImage::from_fn(53, 37, |x, y| {
            image::Rgba([
                (x * 5) as u8,
                (y * 7) as u8,
                ((x * y) % 256) as u8,
                (x + y) as u8,
            ])
        });
        let photo = DynamicImage::ImageRgba8(photo);
        for image in [
            DynamicImage::ImageRgb8(photo.to_rgb8()),
            photo.clone(),
            DynamicImage::ImageLuma8(photo.to_luma8()),
            DynamicImage::ImageRgb16(photo.to_rgb16()),
            DynamicImage::ImageLumaA16(photo.to_luma_alpha16()),
        ] {
            let residual = Residual {
                planes: std::array::from_fn(|c| {
                    let plane = (r * r) as usize;
                    Bilinear::new(&small[c * plane..(c + 1) * plane], r, r, 53, 37)
                }),
            };
            for strength in [0.5f32, 1.0, 3.375] {
                assert_eq!(
                    apply_residual(&image, &residual, strength),
                    apply_reference(&image, &small, r, strength),
                    "{:?} at {strength}",
                    image.color()
                );
            }
        }
    }

    #[test]
    fn the_networks_give_the_same_numbers_on_burn_and_without() {
        let device = faketagger_model::Backend::Flex.device().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/faketagger-v1");
        let fast = LearnedScheme::load(&dir, &device).unwrap();
        assert!(fast.cpu_decoder.is_some(), "flex takes the CPU path");
        assert!(fast.cpu_encoder.is_some(), "flex takes the CPU path");
        let burn = fast.clone().on_burn();
        let photo = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.jpg"))
            .unwrap()
            .crop_imm(40, 0, 300, 200);
        let pattern: Vec<bool> = (0..fast.channel_bits()).map(|i| i % 3 == 0).collect();
        let bits = ChannelBits::from_bools(&pattern).unwrap();
        // the encoder's residual, plain and with per-bit boosts
        let square = to_square(&photo, fast.resolution());
        let boosts: Vec<f32> = (0..pattern.len()).map(|i| 1.0 + (i % 4) as f32).collect();
        for boosts in [&[][..], &boosts] {
            let ours = fast
                .residual_square_boosted(&square, &bits, boosts)
                .unwrap();
            let theirs = burn
                .residual_square_boosted(&square, &bits, boosts)
                .unwrap();
            let spread = theirs.iter().map(|v| v.abs()).fold(0.0, f32::max);
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                spread > 1e-3 && worst < 1e-4 * spread,
                "{worst} of {spread}"
            );
        }
        let residual = fast.residual(&photo, &bits).unwrap();
        let tagged = fast.apply(&photo, &residual, 1.0);
        let placements = crop_placements();
        for image in [&photo, &tagged] {
            // one image, a batch of two, and the crop search's placements
            let reads = |scheme: &LearnedScheme| {
                [
                    scheme.logits(image).unwrap(),
                    scheme
                        .logits_batch(&[image.clone(), tagged.clone()])
                        .unwrap()
                        .concat(),
                    scheme.logits_placed(image, &placements).unwrap().concat(),
                ]
            };
            let (ours, theirs) = (reads(&fast), reads(&burn));
            for (ours, theirs) in ours.iter().zip(&theirs) {
                assert_eq!(ours.len(), theirs.len());
                let worst = ours
                    .iter()
                    .zip(theirs)
                    .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{worst}");
            }
        }
        // the tag's bits read back (a test that the logits mean something)
        let read = fast.logits(&tagged).unwrap();
        let right = read
            .iter()
            .enumerate()
            .filter(|&(i, &l)| (l > 0.0) == pattern[i])
            .count();
        assert!(right as f64 > 0.95 * read.len() as f64, "{right}");
    }

    #[test]
    fn content_box_undoes_flat_borders_and_leaves_photos_alone() {
        use image::{Rgb, RgbImage};
        // a textured 40×30 photo on a 60×50 canvas: left 7, top 12
        let photo = RgbImage::from_fn(40, 30, |x, y| {
            Rgb([(x * 6) as u8, (y * 8) as u8, ((x + y) * 3) as u8])
        });
        let mut canvas = RgbImage::from_pixel(60, 50, Rgb([250, 250, 250]));
        image::imageops::replace(&mut canvas, &photo, 7, 12);
        let framed = DynamicImage::ImageRgb8(canvas.clone());
        assert_eq!(content_box(&framed), Some([7, 12, 40, 30]));
        // no border: nothing to trim
        assert_eq!(content_box(&DynamicImage::ImageRgb8(photo.clone())), None);
        // a flat photo is all border: too little would be left
        let flat = RgbImage::from_pixel(60, 50, Rgb([90, 90, 90]));
        assert_eq!(content_box(&DynamicImage::ImageRgb8(flat)), None);
        // a frame in a frame: a black line outside the white one, on two sides
        let mut twice = canvas;
        for x in 0..60 {
            twice.put_pixel(x, 0, Rgb([0, 0, 0]));
        }
        for y in 0..50 {
            twice.put_pixel(59, y, Rgb([0, 0, 0]));
        }
        assert_eq!(
            content_box(&DynamicImage::ImageRgb8(twice.clone())),
            Some([7, 12, 40, 30])
        );
        // JPEG noise on the frame stays within the tolerance
        let noisy = RgbImage::from_fn(60, 50, |x, y| {
            let p = *twice.get_pixel(x, y);
            let inside = (7..47).contains(&x) && (12..42).contains(&y);
            let jitter = if inside {
                0
            } else {
                ((x * 7 + y * 13) % 9) as u8
            };
            Rgb(p.0.map(|v| v.saturating_sub(jitter)))
        });
        assert_eq!(
            content_box(&DynamicImage::ImageRgb8(noisy)),
            Some([7, 12, 40, 30])
        );
    }

    #[test]
    fn bilinear_keeps_signed_constants_and_interpolates_ramps() {
        let src = vec![-0.25f32; 16];
        assert!(
            bilinear(&src, 4, 4, 9, 7)
                .iter()
                .all(|&v| (v + 0.25).abs() < 1e-6)
        );
        // a horizontal ramp upsampled 2× keeps its mean and stays monotone
        let ramp: Vec<f32> = (0..4)
            .flat_map(|_| (0..4).map(|x| x as f32 - 1.5))
            .collect();
        let up = bilinear(&ramp, 4, 4, 8, 8);
        let row = &up[..8];
        assert!(row.windows(2).all(|w| w[1] >= w[0]));
        assert!((row.iter().sum::<f32>() / 8.0).abs() < 1e-6);
        // same size is the identity
        assert_eq!(bilinear(&ramp, 4, 4, 4, 4), ramp);
    }
}
