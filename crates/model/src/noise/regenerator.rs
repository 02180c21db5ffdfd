//! Regenerators: autoencoders of the Tiny AutoEncoder layout (TAESD, Ollin Boer Bohan, MIT;
//! `taesd.py`), the kind of latent autoencoder that latent-diffusion pipelines and "AI enhance"
//! buttons push photos through. The project trains its own (no pretrained VAE can be had
//! here) and freezes them: a photo is encoded to a latent grid, the latent stored at 8 bits a
//! value as pipelines store it, and decoded back.
//!
//! Layout, as TAESD with a configurable width: encoder `conv(3→w)`, a block, then per stride-2
//! stage a stride-2 `conv` and `blocks` blocks, then `conv(w→latent)`; decoder `tanh(x/3)·3`,
//! `conv(latent→w)`, ReLU, per stage `blocks` blocks, 2× nearest upsampling and a `conv`, then a
//! block and `conv(w→3)`. A block is three 3×3 convolutions with ReLUs and a residual. At
//! width `w` and 128² it costs about 2.0·10⁶·w² multiply-adds per face (8 GMAC at TAESD's 64).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::model::IMAGE_CHANNELS;

/// TAESD's latent range: latents are kept within ±`LATENT_MAGNITUDE` by `tanh(x/3)·3`.
const LATENT_MAGNITUDE: f32 = 3.0;
/// Levels of a stored latent value (8 bits, as pipelines store latents as images).
const LATENT_LEVELS: f32 = 255.0;

fn conv3(
    channels_in: usize,
    channels_out: usize,
    stride: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    super::simulators::conv_config(channels_in, channels_out, 3, stride)
        .with_bias(bias)
        .init(device)
}

/// A regenerator's shape.
#[derive(Config, Debug)]
pub struct RegeneratorConfig {
    /// Side of the square images.
    #[config(default = 128)]
    pub resolution: usize,
    /// Channels of every convolution (TAESD: 64).
    #[config(default = 16)]
    pub width: usize,
    /// Channels of the latent grid (TAESD for SD 1/2/XL: 4; for SD3/FLUX: 16).
    #[config(default = 4)]
    pub latent_channels: usize,
    /// Stride-2 stages: 3 for an 8× latent grid (TAESD), 2 for 4×.
    #[config(default = 3)]
    pub downsamples: usize,
    /// Blocks per stage (TAESD: 3).
    #[config(default = 3)]
    pub blocks: usize,
}

impl RegeneratorConfig {
    /// Checks the shape is buildable.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.latent_channels == 0 || self.blocks == 0 {
            return Err("width, latent_channels and blocks must be positive".into());
        }
        if !(1..=4).contains(&self.downsamples) {
            return Err(format!("downsamples {} must be 1 to 4", self.downsamples));
        }
        if self.resolution == 0 || !self.resolution.is_multiple_of(1 << self.downsamples) {
            return Err(format!(
                "resolution {} must be a multiple of 2^downsamples = {}",
                self.resolution,
                1usize << self.downsamples
            ));
        }
        Ok(())
    }

    /// Multiply-adds of one forward pass (encoder and decoder) on one image.
    pub fn macs(&self) -> u64 {
        let (w, l) = (self.width as u64, self.latent_channels as u64);
        let conv = |side: u64, cin: u64, cout: u64| side * side * 9 * cin * cout;
        let block = |side: u64| 3 * conv(side, w, w);
        let r = self.resolution as u64;
        let blocks = self.blocks as u64;
        let mut total = conv(r, IMAGE_CHANNELS as u64, w) + block(r);
        let mut side = r;
        for _ in 0..self.downsamples {
            side /= 2;
            total += conv(side, w, w) + blocks * block(side);
        }
        total += conv(side, w, l) + conv(side, l, w);
        for _ in 0..self.downsamples {
            total += blocks * block(side);
            side *= 2;
            total += conv(side, w, w);
        }
        total + block(r) + conv(r, w, IMAGE_CHANNELS as u64)
    }

    fn blocks(&self, count: usize, device: &Device) -> Vec<Block> {
        (0..count).map(|_| Block::new(self.width, device)).collect()
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Regenerator {
        let w = self.width;
        let stages = self.downsamples * self.blocks;
        Regenerator {
            stem: conv3(IMAGE_CHANNELS, w, 1, true, device),
            first: Block::new(w, device),
            downs: (0..self.downsamples)
                .map(|_| conv3(w, w, 2, false, device))
                .collect(),
            down_blocks: self.blocks(stages, device),
            to_latent: conv3(w, self.latent_channels, 1, true, device),
            from_latent: conv3(self.latent_channels, w, 1, true, device),
            up_blocks: self.blocks(stages, device),
            ups: (0..self.downsamples)
                .map(|_| conv3(w, w, 1, false, device))
                .collect(),
            last: Block::new(w, device),
            head: conv3(w, IMAGE_CHANNELS, 1, true, device),
            blocks: self.blocks,
        }
    }
}

/// Three 3×3 convolutions with ReLUs, a residual, and a ReLU after the sum (TAESD's `Block`).
#[derive(Module, Debug)]
pub struct Block {
    c1: Conv2d,
    c2: Conv2d,
    c3: Conv2d,
}

impl Block {
    fn new(width: usize, device: &Device) -> Self {
        Self {
            c1: conv3(width, width, 1, true, device),
            c2: conv3(width, width, 1, true, device),
            c3: conv3(width, width, 1, true, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self
            .c3
            .forward(relu(self.c2.forward(relu(self.c1.forward(x.clone())))));
        relu(y + x)
    }
}

/// A regenerator: encoder, 8-bit latent, decoder.
#[derive(Module, Debug)]
pub struct Regenerator {
    stem: Conv2d,
    first: Block,
    downs: Vec<Conv2d>,
    down_blocks: Vec<Block>,
    to_latent: Conv2d,
    from_latent: Conv2d,
    up_blocks: Vec<Block>,
    ups: Vec<Conv2d>,
    last: Block,
    head: Conv2d,
    blocks: usize,
}

impl Regenerator {
    /// The latent grid of `images`, not yet quantised.
    ///
    /// # Shapes
    /// - `images`: `[B, 3, R, R]` in 0..1; returns `[B, latent, R/2^d, R/2^d]`.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.first.forward(self.stem.forward(images));
        for (s, down) in self.downs.iter().enumerate() {
            x = down.forward(x);
            for block in &self.down_blocks[s * self.blocks..(s + 1) * self.blocks] {
                x = block.forward(x);
            }
        }
        self.to_latent.forward(x)
    }

    /// Images from a latent grid (clamped to ±3 first, as TAESD's decoder does).
    ///
    /// # Shapes
    /// - `latent`: `[B, latent, r, r]`; returns `[B, 3, r·2^d, r·2^d]` (unclamped).
    pub fn decode(&self, latent: Tensor<4>) -> Tensor<4> {
        let latent = latent
            .div_scalar(LATENT_MAGNITUDE)
            .tanh()
            .mul_scalar(LATENT_MAGNITUDE);
        let mut x = relu(self.from_latent.forward(latent));
        for (s, up) in self.ups.iter().enumerate() {
            for block in &self.up_blocks[s * self.blocks..(s + 1) * self.blocks] {
                x = block.forward(x);
            }
            x = up.forward(upsample2(x));
        }
        self.head.forward(self.last.forward(x))
    }

    /// Encode, store the latent at 8 bits (straight-through rounding, so training sees the
    /// stored values and still has a gradient), decode.
    ///
    /// # Shapes
    /// - `images`: `[B, 3, R, R]` in 0..1; returns the same shape.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.decode(quantise_latent(self.encode(images)))
    }
}

/// A latent as pipelines store it: `tanh`-bounded to ±3, mapped to 0..1, rounded to 8 bits
/// (straight-through), mapped back.
pub fn quantise_latent(latent: Tensor<4>) -> Tensor<4> {
    let unit = latent
        .div_scalar(2.0 * LATENT_MAGNITUDE)
        .add_scalar(0.5)
        .clamp(0.0, 1.0)
        .mul_scalar(LATENT_LEVELS);
    let rounded = unit.clone().detach().round();
    let stored = unit.clone() - unit.detach() + rounded;
    stored
        .div_scalar(LATENT_LEVELS)
        .sub_scalar(0.5)
        .mul_scalar(2.0 * LATENT_MAGNITUDE)
}

/// Nearest-neighbour 2× upsampling as reshapes (a gradient on every backend).
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}
