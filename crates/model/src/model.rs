//! FakeTagger's encoder and decoder (Wang et al., "FakeTagger: Robust Safeguards against DeepFake
//! Dissemination via Provenance Tracking", arXiv 2009.09869, §3.2), redesigned for CPUs.
//!
//! The paper's networks run 64-channel convolutions at full resolution. Here both networks move
//! to a 4× coarser grid right away with a pixel (un)shuffle, so that every 3×3 convolution runs on
//! 32×32 positions for a 128×128 face. [`EncoderConfig::macs`] and [`DecoderConfig::macs`] count
//! the multiply-accumulates so that a config's cost is known before it is trained.
//!
//! - [`Encoder`]: cover image + channel bits (±1) → residual, same size as the cover.
//! - [`Decoder`]: image → one logit per channel bit, ln P(1)/P(0), which is what
//!   `faketagger_codec::Codec::decode_soft` takes.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Linear, LinearConfig, PaddingConfig2d, PixelShuffle, PixelShuffleConfig, PixelUnshuffle,
    PixelUnshuffleConfig,
};
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use crate::cpu::{ConvLayer, CpuDecoder, CpuEncoder, DenseLayer, EncoderFinish};

/// Slope of the leaky ReLUs (as in most GAN-era image networks).
const LEAKY_SLOPE: f64 = 0.2;

/// Image channels (RGB).
pub const IMAGE_CHANNELS: usize = 3;

fn conv3(channels_in: usize, channels_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels_in, channels_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn act(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, LEAKY_SLOPE)
}

/// MACs of a 3×3 convolution producing `positions` outputs.
const fn conv3_macs(channels_in: usize, channels_out: usize, positions: usize) -> u64 {
    (9 * channels_in * channels_out * positions) as u64
}

/// The encoder's shape.
#[derive(Config, Debug)]
pub struct EncoderConfig {
    /// Channel bits carried (the codec's N).
    #[config(default = 256)]
    pub channel_bits: usize,
    /// Side of the square image the encoder works on.
    #[config(default = 128)]
    pub resolution: usize,
    /// Pixel-unshuffle factor: convolutions run at `resolution / patch`.
    #[config(default = 4)]
    pub patch: usize,
    /// Channels of the coarse grid.
    #[config(default = 32)]
    pub width: usize,
    /// Side of the learned message map, upsampled to the coarse grid.
    #[config(default = 16)]
    pub message_grid: usize,
    /// Channels of the learned message map.
    #[config(default = 8)]
    pub message_channels: usize,
    /// Residual blocks after the image and message are fused.
    #[config(default = 2)]
    pub blocks: usize,
    /// A luminance-only residual: the three output channels are averaged and the mean added to
    /// R, G and B alike, which changes Y and leaves Cb and Cr as they are (their coefficients sum
    /// to 0). Chroma subsampling, grey copies and saturation changes then cannot touch the tag,
    /// and flat areas get no colour blotches. A fixed projection without parameters, so a
    /// network trained without it can be fine-tuned with it. An `Option` so that configs saved
    /// before it existed (v0, v1) still load: absent reads as off ([`EncoderConfig::is_luma`]).
    #[config(default = "None")]
    pub luma: Option<bool>,
    /// Sigma (pixels of the networks' square) of a fixed Gaussian low-pass on the residual:
    /// the tag's energy kept in low and middle frequencies, which resampling, small turns,
    /// regeneration and editing keep (VINE). Parameter-free, like `luma`; absent: none.
    #[config(default = "None")]
    pub lowpass: Option<f32>,
    /// With `luma`: the fraction (0..=1) of the residual's chroma kept, residual = mean + chroma
    /// × (residual − mean). Luminance first, colour on a budget: content competes with a
    /// luminance tag in sharp, high-contrast photos, where colour is quiet; grey copies and
    /// 4:2:0 subsampling still leave the luminance part. Parameter-free; absent: 0 (luminance
    /// only). Without `luma` the residual is RGB and this is ignored.
    #[config(default = "None")]
    pub chroma: Option<f32>,
}

impl EncoderConfig {
    /// Side of the grid the convolutions run on.
    pub fn grid(&self) -> usize {
        self.resolution / self.patch
    }

    /// Multiply-accumulates of one forward pass on one image.
    pub fn macs(&self) -> u64 {
        let g2 = self.grid() * self.grid();
        let packed = IMAGE_CHANNELS * self.patch * self.patch;
        let w = self.width;
        conv3_macs(packed, w, g2)
            + (self.channel_bits * self.message_channels * self.message_grid * self.message_grid)
                as u64
            + conv3_macs(w + self.message_channels, w, g2)
            + self.blocks as u64 * conv3_macs(w, w, g2)
            + conv3_macs(w, packed, g2)
            + conv3_macs(
                IMAGE_CHANNELS,
                IMAGE_CHANNELS,
                self.resolution * self.resolution,
            )
    }

    /// Whether the residual is luminance only ([`EncoderConfig::luma`]).
    pub fn is_luma(&self) -> bool {
        self.luma.unwrap_or(false)
    }

    /// Checks the shape is buildable: the resolution splits into patches and message cells.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(chroma) = self.chroma
            && !(0.0..=1.0).contains(&chroma)
        {
            return Err(format!("chroma must be in 0..=1, not {chroma}"));
        }
        if let Some(sigma) = self.lowpass
            && !(0.0..=3.0).contains(&sigma)
        {
            return Err(format!("lowpass sigma {sigma} must be within 0..=3 pixels"));
        }
        if [
            self.channel_bits,
            self.width,
            self.patch,
            self.message_grid,
            self.message_channels,
        ]
        .contains(&0)
        {
            return Err(
                "channel_bits, width, patch, message_grid and message_channels must be positive"
                    .into(),
            );
        }
        if !self.resolution.is_multiple_of(self.patch)
            || !self.grid().is_multiple_of(self.message_grid)
        {
            return Err(format!(
                "resolution {} must be a multiple of patch {} × a divisor of the grid, message_grid {} does not divide {}",
                self.resolution,
                self.patch,
                self.message_grid,
                self.grid()
            ));
        }
        Ok(())
    }

    /// Builds the encoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Encoder {
        let packed = IMAGE_CHANNELS * self.patch * self.patch;
        let w = self.width;
        Encoder {
            unshuffle: PixelUnshuffleConfig::new(self.patch).init(),
            stem: conv3(packed, w, 1, device),
            message: LinearConfig::new(
                self.channel_bits,
                self.message_channels * self.message_grid * self.message_grid,
            )
            .init(device),
            fuse: conv3(w + self.message_channels, w, 1, device),
            blocks: (0..self.blocks).map(|_| conv3(w, w, 1, device)).collect(),
            head: conv3(w, packed, 1, device),
            shuffle: PixelShuffleConfig::new(self.patch).init(),
            smooth: conv3(IMAGE_CHANNELS, IMAGE_CHANNELS, 1, device),
            message_channels: self.message_channels,
            message_grid: self.message_grid,
            luma: self.is_luma(),
            lowpass: self.lowpass.unwrap_or(0.0),
            chroma: self.chroma.unwrap_or(0.0),
        }
    }
}

/// Hides channel bits in an image as an additive residual.
#[derive(Module, Debug)]
pub struct Encoder {
    unshuffle: PixelUnshuffle,
    stem: Conv2d,
    message: Linear,
    fuse: Conv2d,
    blocks: Vec<Conv2d>,
    head: Conv2d,
    shuffle: PixelShuffle,
    smooth: Conv2d,
    message_channels: usize,
    message_grid: usize,
    luma: bool,
    lowpass: f32,
    chroma: f32,
}

impl Encoder {
    /// The same encoder with its residual multiplied by `factor`: the last convolution is linear
    /// in its weights and bias, so scaling both scales the residual exactly. This is how a trained
    /// model's strength 1 is set to the operating point chosen on its strength → PSNR →
    /// robustness curve.
    pub fn scaled(mut self, factor: f32) -> Self {
        self.smooth.weight = self.smooth.weight.map(|w| w.mul_scalar(factor));
        self.smooth.bias = self.smooth.bias.map(|b| b.map(|b| b.mul_scalar(factor)));
        self
    }

    /// The same encoder as plain arrays, for inference on the CPU without burn (the flex
    /// backend's fast path, [`crate::cpu`]), on images of `resolution` a side.
    pub fn cpu(&self, resolution: usize) -> Result<CpuEncoder, String> {
        let leaky = |conv: &Conv2d| {
            let outputs = conv.weight.val().dims()[0];
            ConvLayer::from_burn(conv, Some(vec![LEAKY_SLOPE as f32; outputs]))
        };
        CpuEncoder::new(
            resolution,
            self.unshuffle.downscale_factor,
            [
                leaky(&self.stem)?,
                leaky(&self.fuse)?,
                ConvLayer::from_burn(&self.head, None)?,
                ConvLayer::from_burn(&self.smooth, None)?,
            ],
            self.blocks.iter().map(leaky).collect::<Result<_, _>>()?,
            DenseLayer::from_burn(&self.message, None)?,
            [self.message_channels, self.message_grid],
            EncoderFinish {
                lowpass: self.lowpass,
                luma: self.luma,
                chroma: self.chroma,
            },
        )
    }

    /// The residual to add to `image`.
    ///
    /// # Shapes
    /// - `image`: `[B, 3, R, R]`, values in 0..1
    /// - `message`: `[B, N]`, channel bits as ±1
    /// - returns `[B, 3, R, R]`
    pub fn forward(&self, image: Tensor<4>, message: Tensor<2>) -> Tensor<4> {
        let [batch, _, _, _] = image.dims();
        let x = self.unshuffle.forward(image.sub_scalar(0.5)); // [B, 3p², G, G]
        let x = act(self.stem.forward(x)); // [B, W, G, G]
        let [_, _, grid, _] = x.dims();
        let m = self.message.forward(message).reshape([
            batch,
            self.message_channels,
            self.message_grid,
            self.message_grid,
        ]);
        let m = interpolate(
            m,
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([grid, grid]),
        ); // [B, W, G, G]
        let mut h = act(self.fuse.forward(Tensor::cat(vec![x, m], 1)));
        for block in &self.blocks {
            h = h.clone() + act(block.forward(h));
        }
        let r = self.shuffle.forward(self.head.forward(h)); // [B, 3, R, R]
        let r = crate::noise::gaussian_blur(self.smooth.forward(r), self.lowpass);
        if !self.luma {
            return r;
        }
        let mean = r.clone().mean_dim(1).repeat_dim(1, IMAGE_CHANNELS);
        if self.chroma > 0.0 {
            mean.clone() + (r - mean).mul_scalar(self.chroma)
        } else {
            mean
        }
    }
}

/// The decoder's shape.
#[derive(Config, Debug)]
pub struct DecoderConfig {
    /// Channel bits read (the codec's N).
    #[config(default = 256)]
    pub channel_bits: usize,
    /// Side of the square image the decoder reads.
    #[config(default = 128)]
    pub resolution: usize,
    /// Pixel-unshuffle factor.
    #[config(default = 4)]
    pub patch: usize,
    /// Channels on the first grid; doubled at the first stride-2 stage.
    #[config(default = 32)]
    pub width: usize,
    /// Channels of the last grid, reduced by a 1×1 convolution before the linear read-out.
    #[config(default = 16)]
    pub head_channels: usize,
    /// A read-out that does not care where the tag sits: the last grid's `head_channels`
    /// features are averaged over all positions before the linear read-out (HiDDeN's global
    /// pooling), so a shift by whole cells changes nothing and smaller shifts, crops and turns
    /// only change the average a little. Pair it with an encoder whose `message_grid` is 1 (the
    /// message broadcast to every position). An `Option` so that configs saved before it
    /// existed still load: absent reads as off ([`DecoderConfig::is_pooled`]).
    #[config(default = "None")]
    pub pool: Option<bool>,
}

impl DecoderConfig {
    fn final_grid(&self) -> usize {
        self.resolution / self.patch / 4
    }

    /// Whether the read-out pools over positions ([`DecoderConfig::pool`]).
    pub fn is_pooled(&self) -> bool {
        self.pool.unwrap_or(false)
    }

    /// Inputs of the linear read-out: the pooled features, or every position's.
    fn head_inputs(&self) -> usize {
        if self.is_pooled() {
            self.head_channels
        } else {
            self.head_channels * self.final_grid() * self.final_grid()
        }
    }

    /// Multiply-accumulates of one forward pass on one image.
    pub fn macs(&self) -> u64 {
        let g = self.resolution / self.patch;
        let packed = IMAGE_CHANNELS * self.patch * self.patch;
        let w = self.width;
        conv3_macs(packed, w, g * g)
            + conv3_macs(w, w, g * g)
            + conv3_macs(w, 2 * w, g * g / 4)
            + conv3_macs(2 * w, 2 * w, g * g / 4)
            + conv3_macs(2 * w, 2 * w, g * g / 16)
            + (2 * w * self.head_channels * g * g / 16) as u64
            + (self.head_inputs() * self.channel_bits) as u64
    }

    /// Checks the shape is buildable.
    pub fn validate(&self) -> Result<(), String> {
        if [
            self.channel_bits,
            self.width,
            self.patch,
            self.head_channels,
        ]
        .contains(&0)
        {
            return Err("channel_bits, width, patch and head_channels must be positive".into());
        }
        if !self.resolution.is_multiple_of(self.patch * 4) {
            return Err(format!(
                "resolution {} must be a multiple of 4 × patch {}",
                self.resolution, self.patch
            ));
        }
        Ok(())
    }

    /// Builds the decoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Decoder {
        let packed = IMAGE_CHANNELS * self.patch * self.patch;
        let w = self.width;
        Decoder {
            unshuffle: PixelUnshuffleConfig::new(self.patch).init(),
            stem: conv3(packed, w, 1, device),
            conv: conv3(w, w, 1, device),
            down1: conv3(w, 2 * w, 2, device),
            conv2: conv3(2 * w, 2 * w, 1, device),
            down2: conv3(2 * w, 2 * w, 2, device),
            reduce: Conv2dConfig::new([2 * w, self.head_channels], [1, 1]).init(device),
            head: LinearConfig::new(self.head_inputs(), self.channel_bits).init(device),
            resolution: self.resolution,
            channel_bits: self.channel_bits,
            pool: self.is_pooled(),
        }
    }
}

/// Reads channel-bit logits from an image.
#[derive(Module, Debug)]
pub struct Decoder {
    unshuffle: PixelUnshuffle,
    stem: Conv2d,
    conv: Conv2d,
    down1: Conv2d,
    conv2: Conv2d,
    down2: Conv2d,
    reduce: Conv2d,
    head: Linear,
    resolution: usize,
    channel_bits: usize,
    pool: bool,
}

impl Decoder {
    /// Channel-bit logits, ln P(1)/P(0).
    ///
    /// # Shapes
    /// - `image`: `[B, 3, R, R]`, values in 0..1
    /// - returns `[B, N]`
    pub fn forward(&self, image: Tensor<4>) -> Tensor<2> {
        let x = self.unshuffle.forward(image.sub_scalar(0.5)); // [B, 3p², G, G]
        let h = act(self.stem.forward(x));
        let h = h.clone() + act(self.conv.forward(h)); // [B, W, G, G]
        let h = act(self.down1.forward(h)); // [B, 2W, G/2, G/2]
        let h = h.clone() + act(self.conv2.forward(h));
        let h = act(self.down2.forward(h)); // [B, 2W, G/4, G/4]
        let h = act(self.reduce.forward(h)); // [B, head_channels, G/4, G/4]
        if self.pool {
            let [batch, channels, _, _] = h.dims();
            self.head
                .forward(h.mean_dim(2).mean_dim(3).reshape([batch, channels]))
        } else {
            self.head.forward(h.flatten(1, 3))
        }
    }

    /// Side of the square image the decoder reads.
    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// The same decoder as plain arrays, for inference on the CPU without burn (the flex
    /// backend's fast path, [`crate::cpu`]).
    pub fn cpu(&self) -> Result<CpuDecoder, String> {
        let leaky = |conv: &Conv2d| {
            let outputs = conv.weight.val().dims()[0];
            ConvLayer::from_burn(conv, Some(vec![LEAKY_SLOPE as f32; outputs]))
        };
        let patch = self.unshuffle.downscale_factor;
        CpuDecoder::new(
            self.resolution,
            patch,
            [
                leaky(&self.stem)?,
                leaky(&self.conv)?,
                leaky(&self.down1)?,
                leaky(&self.conv2)?,
                leaky(&self.down2)?,
                leaky(&self.reduce)?,
            ],
            DenseLayer::from_burn(&self.head, None)?,
            self.pool,
        )
    }

    /// Channel bits read.
    pub fn channel_bits(&self) -> usize {
        self.channel_bits
    }
}

/// Both networks' shapes: what `weights/<name>.json` holds next to `<name>.bpk`.
#[derive(Config, Debug)]
pub struct TaggerNetConfig {
    /// The encoder.
    pub encoder: EncoderConfig,
    /// The decoder.
    pub decoder: DecoderConfig,
}

impl TaggerNetConfig {
    /// The default pair for the codec's 256 channel bits at 128×128.
    pub fn standard() -> Self {
        Self::new(EncoderConfig::new(), DecoderConfig::new())
    }

    /// Whether a record saved with `other` fits these networks: the same shapes, where the
    /// parameter-free luma projection and low-pass may differ (a fine-tune may switch them on).
    pub fn same_parameters(&self, other: &Self) -> bool {
        let mut other = other.clone();
        other.encoder.luma = self.encoder.luma;
        other.encoder.lowpass = self.encoder.lowpass;
        other.encoder.chroma = self.encoder.chroma;
        other.to_string() == self.to_string()
    }

    /// Checks both networks and that they agree on resolution and channel bits.
    pub fn validate(&self) -> Result<(), String> {
        self.encoder.validate()?;
        self.decoder.validate()?;
        if self.encoder.channel_bits != self.decoder.channel_bits
            || self.encoder.resolution != self.decoder.resolution
        {
            return Err("encoder and decoder disagree on channel_bits or resolution".into());
        }
        Ok(())
    }

    /// Side of the square image both networks work on.
    pub fn resolution(&self) -> usize {
        self.encoder.resolution
    }

    /// Checks the config, then builds both networks.
    pub fn try_init(&self, device: &Device) -> Result<TaggerNet, String> {
        self.validate()?;
        Ok(self.init(device))
    }

    /// Builds both networks with freshly initialised weights.
    pub fn init(&self, device: &Device) -> TaggerNet {
        TaggerNet {
            encoder: self.encoder.init(device),
            decoder: self.decoder.init(device),
        }
    }
}

/// The encoder and decoder, trained together and saved as one record.
#[derive(Module, Debug)]
pub struct TaggerNet {
    /// The encoder.
    pub encoder: Encoder,
    /// The decoder.
    pub decoder: Decoder,
}

impl TaggerNet {
    /// Channel bits the decoder reads.
    pub fn decoder_bits(&self) -> usize {
        self.decoder.channel_bits()
    }
}
