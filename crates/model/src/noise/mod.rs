//! Differentiable attack layers (the paper's "noise" between encoder and decoder) and the
//! DeepFake simulators.
//!
//! [`Noiser`] samples a random combination of [`NoiseOp`]s per batch from a [`NoiseConfig`] and
//! applies them with gradients flowing back to the encoder. Every random draw comes from the
//! caller's seeded RNG on the host, so a training run is reproducible on any backend.

pub mod jpeg;
pub mod regenerator;
pub mod simulators;

use std::fmt;

use burn::config::Config;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

use jpeg::{DiffJpeg, Rounding};

/// Which attacks a training batch may meet, how often (relative weights) and how hard.
#[derive(Config, Debug)]
pub struct NoiseConfig {
    /// Weight of leaving the image as it is.
    #[config(default = 1.0)]
    pub identity: f32,
    /// Weight of JPEG compression.
    #[config(default = 1.0)]
    pub jpeg: f32,
    /// Lowest JPEG quality drawn.
    #[config(default = 30.0)]
    pub jpeg_quality_min: f32,
    /// Highest JPEG quality drawn.
    #[config(default = 95.0)]
    pub jpeg_quality_max: f32,
    /// Cubic rounding instead of the straight-through estimator.
    #[config(default = false)]
    pub jpeg_cubic: bool,
    /// Weight of down-and-up resizing.
    #[config(default = 1.0)]
    pub resize: f32,
    /// Smallest scale drawn (the largest is 1).
    #[config(default = 0.4)]
    pub resize_min: f32,
    /// Weight of cropping a window and resizing it back.
    #[config(default = 1.0)]
    pub crop: f32,
    /// Smallest window area kept, as a fraction.
    #[config(default = 0.6)]
    pub crop_min_area: f32,
    /// Weight of cutout: a rectangle replaced by the cover.
    #[config(default = 0.5)]
    pub cutout: f32,
    /// Largest cut-out area, as a fraction.
    #[config(default = 0.3)]
    pub cutout_max_area: f32,
    /// Weight of Gaussian blur.
    #[config(default = 1.0)]
    pub blur: f32,
    /// Largest blur sigma drawn, in pixels.
    #[config(default = 2.0)]
    pub blur_sigma_max: f32,
    /// Weight of additive Gaussian noise.
    #[config(default = 1.0)]
    pub noise: f32,
    /// Largest noise sigma drawn, in 0..1 units.
    #[config(default = 0.05)]
    pub noise_sigma_max: f32,
    /// Weight of colour jitter.
    #[config(default = 1.0)]
    pub colour: f32,
    /// Largest brightness shift, in 0..1 units.
    #[config(default = 0.2)]
    pub brightness: f32,
    /// Largest relative contrast change.
    #[config(default = 0.3)]
    pub contrast: f32,
    /// Largest relative saturation change.
    #[config(default = 0.3)]
    pub saturation: f32,
    /// Largest hue rotation, in turns.
    #[config(default = 0.05)]
    pub hue: f32,
    /// Weight of blending with the cover image.
    #[config(default = 0.5)]
    pub cover_mix: f32,
    /// Largest cover share in the blend.
    #[config(default = 0.3)]
    pub cover_mix_max: f32,
    /// Attacks chained per batch: 1 to this many.
    #[config(default = 2)]
    pub max_combined: usize,
    /// Weight of a grey copy (Rec. 601 luma in every channel).
    #[config(default = 0.0)]
    pub grey: f32,
    /// Weight of a border: the image padded with a flat colour, then resized back (as a
    /// decoder resizes a bordered photo).
    #[config(default = 0.0)]
    pub border: f32,
    /// Largest border on one side, as a fraction of that side.
    #[config(default = 0.2)]
    pub border_max: f32,
    /// Weight of rotation about the centre (black corners).
    #[config(default = 0.0)]
    pub rotate: f32,
    /// Largest rotation drawn, in degrees either way.
    #[config(default = 10.0)]
    pub rotate_max: f32,
    /// Weight of what a platform does to an upload: the image made smaller, JPEG-compressed
    /// at that size, and read back at its own size (the real `social:F` attack, then the
    /// decoder's resize). JPEG's 8×8 blocks then cover 1/scale times more of the face than a
    /// JPEG at full size does: a tag that only a full-size JPEG met keeps its energy where the
    /// smaller copy's quantiser drops it (v2c: `resize:0.5` 95%, `jpeg:75` 100%,
    /// `resize:0.5+jpeg:95` 0%).
    #[config(default = 0.0)]
    pub social: f32,
    /// Smallest scale of the smaller copy (its sides are rounded to whole 16-pixel macroblocks).
    #[config(default = 0.4)]
    pub social_scale_min: f32,
    /// Largest scale of the smaller copy.
    #[config(default = 0.8)]
    pub social_scale_max: f32,
    /// Lowest JPEG quality of the smaller copy.
    #[config(default = 60.0)]
    pub social_quality_min: f32,
    /// Highest JPEG quality of the smaller copy.
    #[config(default = 95.0)]
    pub social_quality_max: f32,
}

impl NoiseConfig {
    /// A config with every attack off: training on clean images.
    pub fn clean() -> Self {
        Self::new()
            .with_jpeg(0.0)
            .with_resize(0.0)
            .with_crop(0.0)
            .with_cutout(0.0)
            .with_blur(0.0)
            .with_noise(0.0)
            .with_colour(0.0)
            .with_cover_mix(0.0)
            .with_max_combined(1)
    }

    fn weights(&self) -> [(NoiseKind, f32); 13] {
        [
            (NoiseKind::Identity, self.identity),
            (NoiseKind::Jpeg, self.jpeg),
            (NoiseKind::Resize, self.resize),
            (NoiseKind::Crop, self.crop),
            (NoiseKind::Cutout, self.cutout),
            (NoiseKind::Blur, self.blur),
            (NoiseKind::Noise, self.noise),
            (NoiseKind::Colour, self.colour),
            (NoiseKind::CoverMix, self.cover_mix),
            // later kinds go last: a draw with their weights at 0 is the draw it was before
            (NoiseKind::Grey, self.grey),
            (NoiseKind::Border, self.border),
            (NoiseKind::Rotate, self.rotate),
            (NoiseKind::Social, self.social),
        ]
    }

    /// Checks weights and ranges.
    pub fn validate(&self) -> Result<(), String> {
        let weights = self.weights();
        if weights.iter().any(|(_, w)| !(w.is_finite() && *w >= 0.0)) {
            return Err("attack weights must be finite and non-negative".into());
        }
        if weights.iter().all(|(_, w)| *w == 0.0) {
            return Err("at least one attack weight (identity included) must be positive".into());
        }
        let checks = [
            (
                "jpeg quality",
                1.0 <= self.jpeg_quality_min
                    && self.jpeg_quality_min <= self.jpeg_quality_max
                    && self.jpeg_quality_max <= 100.0,
            ),
            (
                "resize_min",
                0.1 <= self.resize_min && self.resize_min <= 1.0,
            ),
            (
                "crop_min_area",
                0.1 <= self.crop_min_area && self.crop_min_area <= 1.0,
            ),
            (
                "cutout_max_area",
                (0.0..=0.9).contains(&self.cutout_max_area),
            ),
            ("blur_sigma_max", (0.0..=5.0).contains(&self.blur_sigma_max)),
            (
                "noise_sigma_max",
                (0.0..=0.5).contains(&self.noise_sigma_max),
            ),
            ("cover_mix_max", (0.0..=1.0).contains(&self.cover_mix_max)),
            ("border_max", (0.0..=0.5).contains(&self.border_max)),
            ("rotate_max", (0.0..=45.0).contains(&self.rotate_max)),
            (
                "social scale",
                0.1 <= self.social_scale_min
                    && self.social_scale_min <= self.social_scale_max
                    && self.social_scale_max <= 1.0,
            ),
            (
                "social quality",
                1.0 <= self.social_quality_min
                    && self.social_quality_min <= self.social_quality_max
                    && self.social_quality_max <= 100.0,
            ),
            ("max_combined", self.max_combined >= 1),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(format!("noise config: {name} out of range")),
            None => Ok(()),
        }
    }
}

/// The kinds of attack layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoiseKind {
    /// No change.
    Identity,
    /// JPEG compression.
    Jpeg,
    /// Down-and-up resizing.
    Resize,
    /// Crop a window, resize it back.
    Crop,
    /// Replace a rectangle by the cover.
    Cutout,
    /// Gaussian blur.
    Blur,
    /// Additive Gaussian noise.
    Noise,
    /// Brightness, contrast, saturation and hue jitter.
    Colour,
    /// Blend with the cover.
    CoverMix,
    /// Grey copy.
    Grey,
    /// Flat border, resized back.
    Border,
    /// Rotation with black corners.
    Rotate,
    /// Smaller copy, JPEG at that size, read back at full size.
    Social,
}

/// One attack with its parameters drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoiseOp {
    /// No change.
    Identity,
    /// JPEG at this quality (1–100).
    Jpeg {
        /// Quality.
        quality: f32,
    },
    /// Resize by `scale`, then back.
    Resize {
        /// Scale, 0..1.
        scale: f32,
    },
    /// Keep a window of `area` (fraction) at relative position `(x, y)` ∈ 0..1, resize it back.
    Crop {
        /// Area kept.
        area: f32,
        /// Horizontal position of the window in the room left.
        x: f32,
        /// Vertical position.
        y: f32,
    },
    /// Replace a rectangle of `area` at `(x, y)` by the cover.
    Cutout {
        /// Area replaced.
        area: f32,
        /// Horizontal position.
        x: f32,
        /// Vertical position.
        y: f32,
    },
    /// Gaussian blur.
    Blur {
        /// Sigma in pixels.
        sigma: f32,
    },
    /// Additive Gaussian noise.
    Noise {
        /// Sigma in 0..1 units.
        sigma: f32,
    },
    /// Colour jitter.
    Colour {
        /// Added to every channel.
        brightness: f32,
        /// Contrast factor around the image mean.
        contrast: f32,
        /// Saturation factor around the grey value.
        saturation: f32,
        /// Hue rotation in turns.
        hue: f32,
    },
    /// `(1 − alpha) · image + alpha · cover`.
    CoverMix {
        /// Cover share.
        alpha: f32,
    },
    /// Every channel replaced by the Rec. 601 luma.
    Grey,
    /// Padded by these fractions of the height (top, bottom) and width (right, left) with the
    /// flat grey level `fill` (0 black … 1 white), then resized back to the input's size.
    Border {
        /// Fractions added: top, right, bottom, left.
        sides: [f32; 4],
        /// Grey level of the border.
        fill: f32,
    },
    /// Rotation about the centre by `degrees` (positive: as the real `rotate` attack turns),
    /// bilinear, black outside the image.
    Rotate {
        /// Angle.
        degrees: f32,
    },
    /// Resized by `scale` (sides rounded to whole 16-pixel macroblocks, antialiased), JPEG 4:2:0
    /// at `quality` at that size, then resized back (bilinear, as the decoder reads a small
    /// photo).
    Social {
        /// Scale, 0..1.
        scale: f32,
        /// JPEG quality.
        quality: f32,
    },
}

impl fmt::Display for NoiseOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NoiseOp::Identity => write!(f, "identity"),
            NoiseOp::Jpeg { quality } => write!(f, "jpeg:{quality:.0}"),
            NoiseOp::Resize { scale } => write!(f, "resize:{scale:.2}"),
            NoiseOp::Crop { area, .. } => write!(f, "crop:{area:.2}"),
            NoiseOp::Cutout { area, .. } => write!(f, "cutout:{area:.2}"),
            NoiseOp::Blur { sigma } => write!(f, "blur:{sigma:.2}"),
            NoiseOp::Noise { sigma } => write!(f, "noise:{sigma:.3}"),
            NoiseOp::Colour { .. } => write!(f, "colour"),
            NoiseOp::CoverMix { alpha } => write!(f, "cover-mix:{alpha:.2}"),
            NoiseOp::Grey => write!(f, "grey"),
            NoiseOp::Border { sides, fill } => write!(
                f,
                "border:{:.2}/{:.2}/{:.2}/{:.2}@{fill:.2}",
                sides[0], sides[1], sides[2], sides[3]
            ),
            NoiseOp::Rotate { degrees } => write!(f, "rotate:{degrees:.1}"),
            NoiseOp::Social { scale, quality } => write!(f, "social:{scale:.2}@{quality:.0}"),
        }
    }
}

fn uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Standard normal samples (Box–Muller) from the host RNG.
pub fn normal_samples(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f32 = rng.random_range(f32::EPSILON..1.0);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f32::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// Applies attack layers on one device.
#[derive(Debug, Clone)]
pub struct Noiser {
    config: NoiseConfig,
    jpeg: DiffJpeg,
    device: Device,
}

impl Noiser {
    /// A noiser for `config` on `device`.
    pub fn new(config: NoiseConfig, device: &Device) -> Self {
        Self {
            config,
            jpeg: DiffJpeg::new(device),
            device: device.clone(),
        }
    }

    /// The config.
    pub fn config(&self) -> &NoiseConfig {
        &self.config
    }

    /// Draws one attack kind by weight, then its parameters.
    pub fn sample_op(&self, rng: &mut impl Rng) -> NoiseOp {
        let weights = self.config.weights();
        let total: f32 = weights.iter().map(|(_, w)| w).sum();
        let mut pick = uniform(rng, 0.0, total);
        let kind = weights
            .iter()
            .find(|(_, w)| {
                pick -= w;
                pick < 0.0 && *w > 0.0
            })
            .or_else(|| weights.iter().rev().find(|(_, w)| *w > 0.0))
            .map_or(NoiseKind::Identity, |(k, _)| *k);
        self.sample_params(kind, rng)
    }

    /// Draws the parameters of one attack kind from the config's ranges.
    pub fn sample_params(&self, kind: NoiseKind, rng: &mut impl Rng) -> NoiseOp {
        let c = &self.config;
        match kind {
            NoiseKind::Identity => NoiseOp::Identity,
            NoiseKind::Jpeg => NoiseOp::Jpeg {
                quality: uniform(rng, c.jpeg_quality_min, c.jpeg_quality_max),
            },
            NoiseKind::Resize => NoiseOp::Resize {
                scale: uniform(rng, c.resize_min, 1.0),
            },
            NoiseKind::Crop => NoiseOp::Crop {
                area: uniform(rng, c.crop_min_area, 1.0),
                x: rng.random(),
                y: rng.random(),
            },
            NoiseKind::Cutout => NoiseOp::Cutout {
                area: uniform(rng, 0.0, c.cutout_max_area),
                x: rng.random(),
                y: rng.random(),
            },
            NoiseKind::Blur => NoiseOp::Blur {
                sigma: uniform(rng, 0.0, c.blur_sigma_max),
            },
            NoiseKind::Noise => NoiseOp::Noise {
                sigma: uniform(rng, 0.0, c.noise_sigma_max),
            },
            NoiseKind::Colour => NoiseOp::Colour {
                brightness: uniform(rng, -c.brightness, c.brightness),
                contrast: 1.0 + uniform(rng, -c.contrast, c.contrast),
                saturation: 1.0 + uniform(rng, -c.saturation, c.saturation),
                hue: uniform(rng, -c.hue, c.hue),
            },
            NoiseKind::CoverMix => NoiseOp::CoverMix {
                alpha: uniform(rng, 0.0, c.cover_mix_max),
            },
            NoiseKind::Grey => NoiseOp::Grey,
            NoiseKind::Border => NoiseOp::Border {
                sides: std::array::from_fn(|_| uniform(rng, 0.0, c.border_max)),
                // white and black as often as any other grey: the usual borders
                fill: match rng.random_range(0..3) {
                    0 => 1.0,
                    1 => 0.0,
                    _ => rng.random(),
                },
            },
            NoiseKind::Rotate => NoiseOp::Rotate {
                degrees: uniform(rng, -c.rotate_max, c.rotate_max),
            },
            NoiseKind::Social => NoiseOp::Social {
                scale: uniform(rng, c.social_scale_min, c.social_scale_max),
                quality: uniform(rng, c.social_quality_min, c.social_quality_max),
            },
        }
    }

    /// Draws 1 to `max_combined` attacks for one batch.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<NoiseOp> {
        let n = rng.random_range(1..=self.config.max_combined.max(1));
        (0..n).map(|_| self.sample_op(rng)).collect()
    }

    /// Applies `ops` in order.
    ///
    /// # Shapes
    /// - `image`, `cover`: `[B, 3, H, W]` in 0..1; returns the same shape.
    pub fn apply(
        &self,
        image: Tensor<4>,
        cover: &Tensor<4>,
        ops: &[NoiseOp],
        rng: &mut impl Rng,
    ) -> Tensor<4> {
        ops.iter()
            .fold(image, |x, op| self.apply_op(x, cover, *op, rng))
    }

    /// Applies one attack.
    pub fn apply_op(
        &self,
        x: Tensor<4>,
        cover: &Tensor<4>,
        op: NoiseOp,
        rng: &mut impl Rng,
    ) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        match op {
            NoiseOp::Identity => x,
            NoiseOp::Jpeg { quality } => self.jpeg.forward(x, quality, self.rounding()),
            NoiseOp::Resize { scale } => {
                let scale = scale.clamp(0.05, 1.0);
                let (sh, sw) = (scaled(h, scale), scaled(w, scale));
                resize(self.downscale(x, [sh, sw]), [h, w])
            }
            NoiseOp::Crop { area, x: px, y: py } => {
                let [y0, x0, ch, cw] = window([h, w], area.clamp(0.01, 1.0), [px, py]);
                resize(x.slice([0..b, 0..c, y0..y0 + ch, x0..x0 + cw]), [h, w])
            }
            NoiseOp::Cutout { area, x: px, y: py } => {
                let [y0, x0, ch, cw] = window([h, w], area.clamp(0.0, 1.0), [px, py]);
                let mut mask = vec![1f32; h * w];
                for row in y0..y0 + ch {
                    mask[row * w + x0..row * w + x0 + cw].fill(0.0);
                }
                let mask =
                    Tensor::<4>::from_data(TensorData::new(mask, [1, 1, h, w]), &self.device);
                x * mask.clone() + cover.clone() * mask.neg().add_scalar(1.0)
            }
            NoiseOp::Blur { sigma } => self.blur(x, sigma),
            NoiseOp::Noise { sigma } => {
                let n = normal_samples(rng, b * c * h * w);
                x + Tensor::<4>::from_data(TensorData::new(n, [b, c, h, w]), &self.device)
                    .mul_scalar(sigma)
            }
            NoiseOp::Colour {
                brightness,
                contrast,
                saturation,
                hue,
            } => {
                let x = x.add_scalar(brightness);
                let mean = x.clone().mean_dim(3).mean_dim(2).mean_dim(1); // [B, 1, 1, 1]
                let x = (x - mean.clone()).mul_scalar(contrast) + mean;
                let x = jpeg::mix_channels(x, &saturation_hue(saturation, hue), &self.device);
                x.clamp(0.0, 1.0)
            }
            NoiseOp::CoverMix { alpha } => {
                x.mul_scalar(1.0 - alpha) + cover.clone().mul_scalar(alpha)
            }
            NoiseOp::Grey => {
                let luma = jpeg::LUMA;
                jpeg::mix_channels(x, &[luma, luma, luma], &self.device)
            }
            NoiseOp::Border { sides, fill } => {
                let px = |f: f32, n: usize| (f.clamp(0.0, 1.0) * n as f32).round() as usize;
                let [top, right, bottom, left] = [
                    px(sides[0], h),
                    px(sides[1], w),
                    px(sides[2], h),
                    px(sides[3], w),
                ];
                let padded = pad(x, [top, right, bottom, left], fill.clamp(0.0, 1.0));
                self.downscale(padded, [h, w])
            }
            NoiseOp::Rotate { degrees } => rotate(x, degrees),
            NoiseOp::Social { scale, quality } => {
                let size = [macroblocks(h, scale), macroblocks(w, scale)];
                let small = self.downscale(x, size);
                let small = self.jpeg.forward(small, quality, self.rounding());
                resize(small, [h, w])
            }
        }
    }

    fn rounding(&self) -> Rounding {
        if self.config.jpeg_cubic {
            Rounding::Cubic
        } else {
            Rounding::StraightThrough
        }
    }

    /// Resize to a smaller `size` with the anti-aliasing of a triangle filter widened by the
    /// scale, as PIL and `image` do (a plain bilinear resize aliases).
    fn downscale(&self, x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let scale = (size[0] as f32 / h as f32).min(size[1] as f32 / w as f32);
        let x = if scale < 1.0 {
            let sigma = (0.41 / scale).powi(2) - 0.41f32.powi(2);
            self.blur(x, sigma.max(0.0).sqrt())
        } else {
            x
        };
        resize(x, size)
    }

    /// Gaussian blur per channel ([`gaussian_blur`]).
    pub fn blur(&self, x: Tensor<4>, sigma: f32) -> Tensor<4> {
        gaussian_blur(x, sigma)
    }
}

/// Gaussian blur per channel, normalised at the borders (no darkening by zero padding): the
/// attack layers' blur and the encoder's low-pass.
pub fn gaussian_blur(x: Tensor<4>, sigma: f32) -> Tensor<4> {
    let Some(taps) = blur_taps(sigma) else {
        return x;
    };
    let [_, c, h, w] = x.dims();
    let device = x.device();
    let k = taps.len();
    let radius = k / 2;
    // separable: a row pass then a column pass, depthwise (groups = channels)
    let row = Tensor::<4>::from_data(TensorData::new(taps, [1, 1, 1, k]), &device);
    let col = row.clone().reshape([1, 1, k, 1]);
    let pass = |t: Tensor<4>, kernel: Tensor<4>, channels: usize, pad: [usize; 2]| {
        conv2d(
            t,
            kernel.repeat_dim(0, channels),
            None,
            ConvOptions::new([1, 1], pad, [1, 1], channels),
        )
    };
    let blurred = pass(
        pass(x, row.clone(), c, [0, radius]),
        col.clone(),
        c,
        [radius, 0],
    );
    let ones = Tensor::<4>::ones([1, 1, h, w], &device);
    let norm = pass(pass(ones, row, 1, [0, radius]), col, 1, [radius, 0]);
    blurred / norm
}

/// The normalised taps of [`gaussian_blur`]'s one-dimensional kernel (2·radius + 1 of them,
/// radius 3σ), or `None` below [`MIN_BLUR_SIGMA`], where the blur is none.
pub(crate) fn blur_taps(sigma: f32) -> Option<Vec<f32>> {
    if sigma < MIN_BLUR_SIGMA {
        return None;
    }
    let radius = ((3.0 * sigma).ceil() as usize).clamp(1, MAX_BLUR_RADIUS);
    let g: Vec<f32> = (0..2 * radius + 1)
        .map(|i| (-((i as f32 - radius as f32).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = g.iter().sum();
    Some(g.iter().map(|v| v / sum).collect())
}

/// Below this sigma a blur changes nothing measurable.
const MIN_BLUR_SIGMA: f32 = 0.05;
/// Kernel radius cap: 3σ for σ ≤ 5.
const MAX_BLUR_RADIUS: usize = 15;

/// `[top, left, height, width]` of a window covering `area` of an `[h, w]` image, with the
/// image's aspect ratio, placed at relative position `[x, y]` ∈ 0..1 in the room left.
fn window([h, w]: [usize; 2], area: f32, [x, y]: [f32; 2]) -> [usize; 4] {
    let side = area.sqrt();
    let (ch, cw) = (scaled(h, side), scaled(w, side));
    let top = ((h - ch) as f32 * y.clamp(0.0, 1.0)).round() as usize;
    let left = ((w - cw) as f32 * x.clamp(0.0, 1.0)).round() as usize;
    [top, left, ch, cw]
}

/// `n` scaled by `f`, rounded to whole 16-pixel JPEG macroblocks (at least one, at most `n`
/// when `n` is itself whole macroblocks): the sizes [`DiffJpeg`] compresses.
fn macroblocks(n: usize, f: f32) -> usize {
    use jpeg::MACROBLOCK;
    let blocks = (n as f32 * f.clamp(0.0, 1.0) / MACROBLOCK as f32).round() as usize;
    blocks.clamp(1, (n / MACROBLOCK).max(1)) * MACROBLOCK
}

fn scaled(n: usize, f: f32) -> usize {
    ((n as f32 * f).round() as usize).clamp(1, n)
}

/// Bilinear resize (half-pixel centres, as image libraries do), written as two matrix products
/// (rows, then columns) so that its gradient exists on every backend: burn 0.22's cubecl
/// backends (`wgpu`, `cuda`) have no backward pass for bilinear `interpolate`.
pub fn resize(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let [oh, ow] = size;
    if [h, w] == size {
        return x;
    }
    let device = x.device();
    // Columns: [B·C·H, W] × [W, OW].
    let x = x
        .reshape([b * c * h, w])
        .matmul(bilinear_matrix(w, ow, &device))
        .reshape([b * c, h, ow]);
    // Rows: [B·C·OW, H] × [H, OH].
    x.swap_dims(1, 2)
        .reshape([b * c * ow, h])
        .matmul(bilinear_matrix(h, oh, &device))
        .reshape([b * c, ow, oh])
        .swap_dims(1, 2)
        .reshape([b, c, oh, ow])
}

/// The `[from, to]` matrix of 1-D bilinear interpolation with half-pixel centres and clamped
/// edges (PyTorch's `align_corners=False`, no antialiasing): output `j` samples input position
/// `(j + ½)·from/to − ½`.
fn bilinear_matrix(from: usize, to: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0.0f32; from * to];
    let scale = from as f32 / to as f32;
    for j in 0..to {
        let src = ((j as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(from - 1);
        let i1 = (i0 + 1).min(from - 1);
        let t = src - i0 as f32;
        m[i0 * to + j] += 1.0 - t;
        m[i1 * to + j] += t;
    }
    Tensor::from_data(TensorData::new(m, [from, to]), device)
}

/// `x` on a larger canvas of grey level `value`: `pad` = pixels (top, right, bottom, left).
///
/// # Shapes
/// - `x`: `[B, C, H, W]`; returns `[B, C, H + top + bottom, W + left + right]`.
pub fn pad(x: Tensor<4>, [top, right, bottom, left]: [usize; 4], value: f32) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let strip = |rows: usize, cols: usize| Tensor::<4>::full([b, c, rows, cols], value, &device);
    let mut row = vec![x];
    if left > 0 {
        row.insert(0, strip(h, left));
    }
    if right > 0 {
        row.push(strip(h, right));
    }
    let x = Tensor::cat(row, 3);
    let wide = w + left + right;
    let mut column = vec![x];
    if top > 0 {
        column.insert(0, strip(top, wide));
    }
    if bottom > 0 {
        column.push(strip(bottom, wide));
    }
    Tensor::cat(column, 2)
}

/// Rotation about the centre by `degrees`, bilinear, zero (black) outside: three shears
/// (Paeth, "A fast algorithm for general raster rotation", 1986), each a batch of per-row
/// interpolation matrices, so that the gradient exists on every backend. Same convention as
/// the real `rotate` attack: output pixel p samples the source at c + R(p − c).
///
/// # Shapes
/// - `x`: `[B, C, H, W]`; returns the same shape.
pub fn rotate(x: Tensor<4>, degrees: f32) -> Tensor<4> {
    if degrees == 0.0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    // the intermediate shears move corners out by up to tan(θ/2)·side: keep them on a margin
    let theta = degrees.to_radians();
    let margin = ((theta / 2.0).tan().abs() * h.max(w) as f32).ceil() as usize + 1;
    let x = pad(x, [margin; 4], 0.0);
    // source = Sx(a)·Sy(b)·Sx(a)·output, a = tan(θ/2), b = −sin θ
    let (a, b) = ((theta / 2.0).tan(), -theta.sin());
    let x = shear_rows(x, a);
    let x = shear_rows(x.swap_dims(2, 3), b).swap_dims(2, 3);
    let x = shear_rows(x, a);
    let [bs, c, ph, pw] = x.dims();
    x.slice([0..bs, 0..c, margin..ph - margin, margin..pw - margin])
}

/// Each row y of `x` sampled at column j + k·(y − cy) (linear interpolation, zero outside).
fn shear_rows(x: Tensor<4>, k: f32) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let cy = (h as f32 - 1.0) / 2.0;
    let mut m = vec![0.0f32; h * w * w];
    for y in 0..h {
        let offset = k * (y as f32 - cy);
        for j in 0..w {
            let src = j as f32 + offset;
            let i0 = src.floor();
            let t = src - i0;
            for (i, weight) in [(i0, 1.0 - t), (i0 + 1.0, t)] {
                if i >= 0.0 && i < w as f32 {
                    m[(y * w + i as usize) * w + j] += weight;
                }
            }
        }
    }
    let m = Tensor::<3>::from_data(TensorData::new(m, [h, w, w]), &device);
    // [B, C, H, W] → [H, B·C, W] × [H, W, W] → back
    x.permute([2, 0, 1, 3])
        .reshape([h, b * c, w])
        .matmul(m)
        .reshape([h, b, c, w])
        .permute([1, 2, 0, 3])
}

/// Saturation scaling around the luma and hue rotation in YIQ, as one affine channel map.
fn saturation_hue(saturation: f32, hue_turns: f32) -> [[f32; 4]; 3] {
    const TO_YIQ: [[f32; 3]; 3] = [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ];
    const FROM_YIQ: [[f32; 3]; 3] = [
        [1.0, 0.956, 0.621],
        [1.0, -0.272, -0.647],
        [1.0, -1.106, 1.703],
    ];
    let (s, c) = (std::f32::consts::TAU * hue_turns).sin_cos();
    let rot = [
        [1.0, 0.0, 0.0],
        [0.0, saturation * c, -saturation * s],
        [0.0, saturation * s, saturation * c],
    ];
    let mul = |a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]| {
        let mut m = [[0f32; 3]; 3];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        m
    };
    let m = mul(&FROM_YIQ, &mul(&rot, &TO_YIQ));
    m.map(|r| [r[0], r[1], r[2], 0.0])
}
