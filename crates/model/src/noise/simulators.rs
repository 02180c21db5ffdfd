//! DeepFake simulators: the paper's "GAN simulator" (arXiv 2009.09869, §3.3), frozen networks
//! placed between encoder and decoder so that the tag learns to survive regeneration.
//!
//! - [`Autoencoder`]: a reconstruction autoencoder with a configurable bottleneck, standing in for
//!   generic GAN/VAE regeneration (a family of them, from mild to harsh bottlenecks).
//! - [`FaceSwap`]: the classic DeepFakes face-swap design: one shared encoder, one decoder per
//!   identity, each decoder trained to rebuild its own identity; a swap encodes a face of
//!   identity A and decodes it with identity B's decoder.
//!
//! - [`Regenerator`]: an autoencoder of the TAESD layout with an 8-bit latent
//!   ([`super::regenerator`]), what latent-diffusion pipelines and "AI enhance" do to a photo.
//!
//! All are trained by the training pipeline and loaded through [`crate::weights`].

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    PaddingConfig2d, PixelShuffle, PixelShuffleConfig, PixelUnshuffle, PixelUnshuffleConfig,
};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::{Device, Tensor};

use super::regenerator::{Regenerator, RegeneratorConfig};
use crate::model::IMAGE_CHANNELS;

const LEAKY_SLOPE: f64 = 0.2;
/// The autoencoders' first pixel-unshuffle factor.
const PATCH: usize = 2;
/// Channel cap of the deepest levels.
const MAX_WIDTH: usize = 256;

/// A square convolution that keeps the size at stride 1 (padding `kernel / 2`).
pub(super) fn conv_config(
    channels_in: usize,
    channels_out: usize,
    kernel: usize,
    stride: usize,
) -> Conv2dConfig {
    let pad = kernel / 2;
    Conv2dConfig::new([channels_in, channels_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
}

fn conv(
    channels_in: usize,
    channels_out: usize,
    kernel: usize,
    stride: usize,
    device: &Device,
) -> Conv2d {
    conv_config(channels_in, channels_out, kernel, stride).init(device)
}

/// An autoencoder's shape. The bottleneck holds
/// `bottleneck_channels × (resolution / 2^(levels+1))²` numbers.
#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    /// Side of the square images.
    #[config(default = 128)]
    pub resolution: usize,
    /// Channels after the first unshuffle; doubled per level up to 256.
    #[config(default = 32)]
    pub width: usize,
    /// Stride-2 levels after the first 2× unshuffle.
    #[config(default = 3)]
    pub levels: usize,
    /// Channels of the bottleneck.
    #[config(default = 32)]
    pub bottleneck_channels: usize,
}

impl AutoencoderConfig {
    fn widths(&self) -> Vec<usize> {
        (0..=self.levels)
            .map(|l| (self.width << l).min(MAX_WIDTH))
            .collect()
    }

    /// Side of the bottleneck grid.
    pub fn bottleneck_side(&self) -> usize {
        self.resolution >> (self.levels + 1)
    }

    /// Numbers in the bottleneck per image.
    pub fn bottleneck_size(&self) -> usize {
        self.bottleneck_channels * self.bottleneck_side().pow(2)
    }

    /// Checks the shape is buildable.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.bottleneck_channels == 0 {
            return Err("width and bottleneck_channels must be positive".into());
        }
        if self.resolution == 0 || !self.resolution.is_multiple_of(1 << (self.levels + 1)) {
            return Err(format!(
                "resolution {} must be a multiple of 2^(levels + 1) = {}",
                self.resolution,
                1usize << (self.levels + 1)
            ));
        }
        Ok(())
    }

    /// Builds the encoder half.
    pub fn init_encoder(&self, device: &Device) -> AeEncoder {
        let w = self.widths();
        AeEncoder {
            unshuffle: PixelUnshuffleConfig::new(PATCH).init(),
            stem: conv(IMAGE_CHANNELS * PATCH * PATCH, w[0], 3, 1, device),
            downs: (0..self.levels)
                .map(|l| conv(w[l], w[l + 1], 3, 2, device))
                .collect(),
            bottleneck: conv(w[self.levels], self.bottleneck_channels, 1, 1, device),
        }
    }

    /// Builds the decoder half.
    pub fn init_decoder(&self, device: &Device) -> AeDecoder {
        let w = self.widths();
        AeDecoder {
            expand: conv(self.bottleneck_channels, w[self.levels], 3, 1, device),
            ups: (0..self.levels)
                .rev()
                .map(|l| conv(w[l + 1], 4 * w[l], 3, 1, device))
                .collect(),
            shuffle: PixelShuffleConfig::new(2).init(),
            head: conv(w[0], IMAGE_CHANNELS * PATCH * PATCH, 3, 1, device),
            out_shuffle: PixelShuffleConfig::new(PATCH).init(),
        }
    }

    /// Builds an autoencoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Autoencoder {
        Autoencoder {
            encoder: self.init_encoder(device),
            decoder: self.init_decoder(device),
        }
    }
}

/// Image → bottleneck code.
#[derive(Module, Debug)]
pub struct AeEncoder {
    unshuffle: PixelUnshuffle,
    stem: Conv2d,
    downs: Vec<Conv2d>,
    bottleneck: Conv2d,
}

impl AeEncoder {
    /// # Shapes
    /// - `image`: `[B, 3, R, R]` in 0..1
    /// - returns `[B, bottleneck_channels, R / 2^(levels+1), …]`, squashed to −1..1
    pub fn forward(&self, image: Tensor<4>) -> Tensor<4> {
        let mut h = leaky_relu(
            self.stem
                .forward(self.unshuffle.forward(image.sub_scalar(0.5))),
            LEAKY_SLOPE,
        );
        for down in &self.downs {
            h = leaky_relu(down.forward(h), LEAKY_SLOPE);
        }
        self.bottleneck.forward(h).tanh()
    }
}

/// Bottleneck code → image.
#[derive(Module, Debug)]
pub struct AeDecoder {
    expand: Conv2d,
    ups: Vec<Conv2d>,
    shuffle: PixelShuffle,
    head: Conv2d,
    out_shuffle: PixelShuffle,
}

impl AeDecoder {
    /// # Shapes
    /// - `code`: `[B, bottleneck_channels, S, S]`
    /// - returns `[B, 3, R, R]` in 0..1
    pub fn forward(&self, code: Tensor<4>) -> Tensor<4> {
        let mut h = leaky_relu(self.expand.forward(code), LEAKY_SLOPE);
        for up in &self.ups {
            h = leaky_relu(self.shuffle.forward(up.forward(h)), LEAKY_SLOPE);
        }
        sigmoid(self.out_shuffle.forward(self.head.forward(h)))
    }
}

/// A reconstruction autoencoder (generic regeneration simulator).
#[derive(Module, Debug)]
pub struct Autoencoder {
    /// Image → code.
    pub encoder: AeEncoder,
    /// Code → image.
    pub decoder: AeDecoder,
}

impl Autoencoder {
    /// Reconstructs `image` through the bottleneck.
    ///
    /// # Shapes
    /// - `image`: `[B, 3, R, R]` in 0..1; returns the same shape.
    pub fn forward(&self, image: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(image))
    }
}

/// A face-swap autoencoder's shape.
#[derive(Config, Debug)]
pub struct FaceSwapConfig {
    /// The shared encoder's and each decoder's shape.
    pub autoencoder: AutoencoderConfig,
    /// Identities, one decoder each (at least 2).
    #[config(default = 2)]
    pub identities: usize,
}

impl FaceSwapConfig {
    /// Checks the shape is buildable.
    pub fn validate(&self) -> Result<(), String> {
        self.autoencoder.validate()?;
        if self.identities < 2 {
            return Err("a face swap needs at least 2 identities".into());
        }
        Ok(())
    }

    /// Builds the shared encoder and one decoder per identity.
    pub fn init(&self, device: &Device) -> FaceSwap {
        FaceSwap {
            encoder: self.autoencoder.init_encoder(device),
            decoders: (0..self.identities)
                .map(|_| self.autoencoder.init_decoder(device))
                .collect(),
        }
    }
}

/// The classic DeepFakes face swap: one shared encoder, one decoder per identity.
#[derive(Module, Debug)]
pub struct FaceSwap {
    /// Shared by all identities.
    pub encoder: AeEncoder,
    /// One per identity.
    pub decoders: Vec<AeDecoder>,
}

impl FaceSwap {
    /// Identities this model can render.
    pub fn identities(&self) -> usize {
        self.decoders.len()
    }

    /// Renders `faces` as `identity` (a swap when the faces are someone else, a reconstruction
    /// when they are `identity`). Returns `None` for an identity the model does not have.
    ///
    /// # Shapes
    /// - `faces`: `[B, 3, R, R]` in 0..1; returns the same shape.
    pub fn render_as(&self, faces: Tensor<4>, identity: usize) -> Option<Tensor<4>> {
        let decoder = self.decoders.get(identity)?;
        Some(decoder.forward(self.encoder.forward(faces)))
    }
}

/// File stem of a reconstruction autoencoder in a weights directory.
pub const AUTOENCODER_NAME: &str = "autoencoder";
/// File stem of a face-swap model in a weights directory.
pub const FACESWAP_NAME: &str = "faceswap";
/// File stem of a regenerator's weights.
pub const REGENERATOR_NAME: &str = "regenerator";
/// A file in a simulator's weights folder that makes it a grader only: the training pipeline
/// refuses to train or validate a tagger against it, so its row of the evaluation table grades
/// a model on a network the model never saw (issue 16).
pub const GRADES_ONLY_FILE: &str = "GRADES_ONLY";

/// A trained simulator, as loaded from a weights directory.
// one is held per loaded model: the variants' size difference costs nothing worth a box
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Simulator {
    /// A reconstruction autoencoder.
    Autoencoder(Autoencoder),
    /// A face-swap model: renders a face as one of its identities.
    FaceSwap(FaceSwap),
    /// A regenerator (TAESD layout, 8-bit latent): what latent-diffusion pipelines do.
    Regenerator(Regenerator),
}

impl Simulator {
    /// Loads the simulator in `dir`: `autoencoder.{json,bpk}`, `faceswap.{json,bpk}` or
    /// `regenerator.{json,bpk}`.
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self, crate::ModelError> {
        if crate::weights::WeightsFiles::new(dir, REGENERATOR_NAME)
            .config
            .is_file()
        {
            let (_, regen) =
                crate::weights::load(dir, REGENERATOR_NAME, device, |c: &RegeneratorConfig, d| {
                    c.validate()?;
                    Ok(c.init(d))
                })?;
            return Ok(Simulator::Regenerator(regen));
        }
        if crate::weights::WeightsFiles::new(dir, FACESWAP_NAME)
            .config
            .is_file()
        {
            let (_, swap) =
                crate::weights::load(dir, FACESWAP_NAME, device, |c: &FaceSwapConfig, d| {
                    c.validate()?;
                    Ok(c.init(d))
                })?;
            return Ok(Simulator::FaceSwap(swap));
        }
        let (_, ae) =
            crate::weights::load(dir, AUTOENCODER_NAME, device, |c: &AutoencoderConfig, d| {
                c.validate()?;
                Ok(c.init(d))
            })?;
        Ok(Simulator::Autoencoder(ae))
    }

    /// Ways this simulator can render a face: 1 for an autoencoder, one per identity for a
    /// face swap.
    pub fn variants(&self) -> usize {
        match self {
            Simulator::Autoencoder(_) | Simulator::Regenerator(_) => 1,
            Simulator::FaceSwap(swap) => swap.identities(),
        }
    }

    /// Regenerates `faces` (variant taken modulo [`Simulator::variants`]).
    ///
    /// # Shapes
    /// - `faces`: `[B, 3, R, R]` in 0..1; returns the same shape.
    pub fn forward(&self, faces: Tensor<4>, variant: usize) -> Tensor<4> {
        match self {
            Simulator::Autoencoder(ae) => ae.forward(faces),
            Simulator::Regenerator(regen) => regen.forward(faces),
            // a validated face swap has at least two identities, so the modulo always renders
            Simulator::FaceSwap(swap) => swap
                .render_as(faces.clone(), variant % swap.identities().max(1))
                .unwrap_or(faces),
        }
    }
}
