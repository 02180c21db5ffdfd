//! The three networks of MTCNN (Zhang, Zhang, Li, Qiao, "Joint Face Detection and Alignment
//! using Multi-task Cascaded Convolutional Networks", IEEE SPL 2016), laid out exactly as
//! facenet-pytorch 2.6.0 (`facenet_pytorch/models/mtcnn.py`, MIT) names them, so that its state
//! dicts load field by field (`examples/convert_mtcnn.rs`).
//!
//! - [`PNet`]: fully convolutional proposal network, 12×12 receptive field, stride 2.
//! - [`RNet`]: refines 24×24 crops.
//! - [`ONet`]: scores 48×48 crops and gives the five landmarks.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PRelu, PReluConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use faketagger_model::cpu::{ConvLayer, DenseLayer, floats};

use crate::cpu_nets::{CpuMtcnn, CpuONet, CpuPNet, CpuRNet};

/// Side of PNet's window.
pub const PNET_CELL: usize = 12;
/// Side of RNet's input.
pub const RNET_SIDE: usize = 24;
/// Side of ONet's input.
pub const ONET_SIDE: usize = 48;

fn conv(channels_in: usize, channels_out: usize, kernel: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels_in, channels_out], [kernel, kernel]).init(device)
}

fn prelu(channels: usize, device: &Device) -> PRelu {
    PReluConfig::new()
        .with_num_parameters(channels)
        .init(device)
}

/// PyTorch's `MaxPool2d(k, s, ceil_mode=True)`.
fn pool(kernel: usize, stride: usize) -> MaxPool2d {
    MaxPool2dConfig::new([kernel, kernel])
        .with_strides([stride, stride])
        .with_ceil_mode(true)
        .init()
}

/// `[B, C, H, W]` → `[B, W·H·C]` in PyTorch's `permute(0, 3, 2, 1)` order, which the dense layers
/// of the pretrained weights expect.
fn flatten_whc(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    x.permute([0, 3, 2, 1])
        .reshape([batch, width * height * channels])
}

/// The proposal network.
#[derive(Module, Debug)]
pub struct PNet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    conv3: Conv2d,
    prelu3: PRelu,
    conv4_1: Conv2d,
    conv4_2: Conv2d,
}

impl PNet {
    fn init(device: &Device) -> Self {
        Self {
            conv1: conv(3, 10, 3, device),
            prelu1: prelu(10, device),
            pool1: pool(2, 2),
            conv2: conv(10, 16, 3, device),
            prelu2: prelu(16, device),
            conv3: conv(16, 32, 3, device),
            prelu3: prelu(32, device),
            conv4_1: conv(32, 2, 1, device),
            conv4_2: conv(32, 4, 1, device),
        }
    }

    /// Box regression and face probability at every window.
    ///
    /// # Shapes
    /// - `x`: `[B, 3, H, W]`, pixels as `(v − 127.5) / 128`
    /// - returns (`[B, 4, H', W']` regression, `[B, H', W']` face probability), with
    ///   `H' = ⌈(H − 2) / 2⌉ − 4`
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<3>) {
        let x = self.prelu1.forward(self.conv1.forward(x));
        let x = self.pool1.forward(x);
        let x = self.prelu2.forward(self.conv2.forward(x));
        let x = self.prelu3.forward(self.conv3.forward(x));
        let probability = softmax(self.conv4_1.forward(x.clone()), 1); // [B, 2, H', W']
        let [batch, _, height, width] = probability.dims();
        let face = probability.narrow(1, 1, 1).reshape([batch, height, width]);
        (self.conv4_2.forward(x), face)
    }
}

/// A convolution and the PReLU after it.
fn layer(conv: &Conv2d, prelu: &PRelu) -> Result<ConvLayer, String> {
    ConvLayer::from_burn(conv, Some(floats(prelu.alpha.val())?))
}

/// A dense layer and the PReLU after it, if any.
fn dense(linear: &Linear, prelu: Option<&PRelu>) -> Result<DenseLayer, String> {
    DenseLayer::from_burn(linear, prelu.map(|p| floats(p.alpha.val())).transpose()?)
}

/// The refinement network.
#[derive(Module, Debug)]
pub struct RNet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    pool2: MaxPool2d,
    conv3: Conv2d,
    prelu3: PRelu,
    dense4: Linear,
    prelu4: PRelu,
    dense5_1: Linear,
    dense5_2: Linear,
}

impl RNet {
    fn init(device: &Device) -> Self {
        Self {
            conv1: conv(3, 28, 3, device),
            prelu1: prelu(28, device),
            pool1: pool(3, 2),
            conv2: conv(28, 48, 3, device),
            prelu2: prelu(48, device),
            pool2: pool(3, 2),
            conv3: conv(48, 64, 2, device),
            prelu3: prelu(64, device),
            dense4: LinearConfig::new(576, 128).init(device),
            prelu4: prelu(128, device),
            dense5_1: LinearConfig::new(128, 2).init(device),
            dense5_2: LinearConfig::new(128, 4).init(device),
        }
    }

    /// # Shapes
    /// - `x`: `[B, 3, 24, 24]`, pixels as `(v − 127.5) / 128`
    /// - returns (`[B, 4]` regression, `[B]` face probability)
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<1>) {
        let x = self
            .pool1
            .forward(self.prelu1.forward(self.conv1.forward(x)));
        let x = self
            .pool2
            .forward(self.prelu2.forward(self.conv2.forward(x)));
        let x = self.prelu3.forward(self.conv3.forward(x));
        let x = self.prelu4.forward(self.dense4.forward(flatten_whc(x)));
        let face = softmax(self.dense5_1.forward(x.clone()), 1);
        let [batch, _] = face.dims();
        (
            self.dense5_2.forward(x),
            face.narrow(1, 1, 1).reshape([batch]),
        )
    }
}

/// The output network.
#[derive(Module, Debug)]
pub struct ONet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    pool2: MaxPool2d,
    conv3: Conv2d,
    prelu3: PRelu,
    pool3: MaxPool2d,
    conv4: Conv2d,
    prelu4: PRelu,
    dense5: Linear,
    prelu5: PRelu,
    dense6_1: Linear,
    dense6_2: Linear,
    dense6_3: Linear,
}

impl ONet {
    fn init(device: &Device) -> Self {
        Self {
            conv1: conv(3, 32, 3, device),
            prelu1: prelu(32, device),
            pool1: pool(3, 2),
            conv2: conv(32, 64, 3, device),
            prelu2: prelu(64, device),
            pool2: pool(3, 2),
            conv3: conv(64, 64, 3, device),
            prelu3: prelu(64, device),
            pool3: pool(2, 2),
            conv4: conv(64, 128, 2, device),
            prelu4: prelu(128, device),
            dense5: LinearConfig::new(1152, 256).init(device),
            prelu5: prelu(256, device),
            dense6_1: LinearConfig::new(256, 2).init(device),
            dense6_2: LinearConfig::new(256, 4).init(device),
            dense6_3: LinearConfig::new(256, 10).init(device),
        }
    }

    /// # Shapes
    /// - `x`: `[B, 3, 48, 48]`, pixels as `(v − 127.5) / 128`
    /// - returns (`[B, 4]` regression, `[B, 10]` landmarks as fractions of the box: five x then
    ///   five y, `[B]` face probability)
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>, Tensor<1>) {
        let x = self
            .pool1
            .forward(self.prelu1.forward(self.conv1.forward(x)));
        let x = self
            .pool2
            .forward(self.prelu2.forward(self.conv2.forward(x)));
        let x = self
            .pool3
            .forward(self.prelu3.forward(self.conv3.forward(x)));
        let x = self.prelu4.forward(self.conv4.forward(x));
        let x = self.prelu5.forward(self.dense5.forward(flatten_whc(x)));
        let face = softmax(self.dense6_1.forward(x.clone()), 1);
        let [batch, _] = face.dims();
        (
            self.dense6_2.forward(x.clone()),
            self.dense6_3.forward(x),
            face.narrow(1, 1, 1).reshape([batch]),
        )
    }
}

/// MTCNN's shape. Its three networks have one fixed layout (the pretrained one); the config
/// names the source of the weights so that a record and its provenance travel together.
#[derive(Config, Debug)]
pub struct MtcnnConfig {
    /// Where the weights came from.
    #[config(default = "String::from(\"facenet-pytorch 2.6.0\")")]
    pub source: String,
}

impl MtcnnConfig {
    /// Builds the three networks with untrained weights (to be overwritten by a record).
    pub fn init(&self, device: &Device) -> Mtcnn {
        Mtcnn {
            pnet: PNet::init(device),
            rnet: RNet::init(device),
            onet: ONet::init(device),
        }
    }
}

/// The three networks of the cascade.
#[derive(Module, Debug)]
pub struct Mtcnn {
    /// Proposals.
    pub pnet: PNet,
    /// Refinement.
    pub rnet: RNet,
    /// Output: score, box and landmarks.
    pub onet: ONet,
}

impl Mtcnn {
    /// The weights as plain arrays, for the networks on the CPU without burn (`cpu_nets`).
    pub(crate) fn cpu(&self) -> Result<CpuMtcnn, String> {
        let arch = pulp::Arch::new();
        let (p, r, o) = (&self.pnet, &self.rnet, &self.onet);
        let head = ConvLayer::from_burn_stacked(&[&p.conv4_1, &p.conv4_2], None)?;
        let pnet = CpuPNet {
            conv1: layer(&p.conv1, &p.prelu1)?,
            conv2: layer(&p.conv2, &p.prelu2)?,
            conv3: layer(&p.conv3, &p.prelu3)?,
            head,
            arch,
        };
        let rnet = CpuRNet {
            conv1: layer(&r.conv1, &r.prelu1)?,
            conv2: layer(&r.conv2, &r.prelu2)?,
            conv3: layer(&r.conv3, &r.prelu3)?,
            dense4: dense(&r.dense4, Some(&r.prelu4))?,
            face: dense(&r.dense5_1, None)?,
            regression: dense(&r.dense5_2, None)?,
            arch,
        };
        let onet = CpuONet {
            conv1: layer(&o.conv1, &o.prelu1)?,
            conv2: layer(&o.conv2, &o.prelu2)?,
            conv3: layer(&o.conv3, &o.prelu3)?,
            conv4: layer(&o.conv4, &o.prelu4)?,
            dense5: dense(&o.dense5, Some(&o.prelu5))?,
            face: dense(&o.dense6_1, None)?,
            regression: dense(&o.dense6_2, None)?,
            points: dense(&o.dense6_3, None)?,
            arch,
        };
        pnet.check()?;
        rnet.check()?;
        onet.check()?;
        Ok(CpuMtcnn { pnet, rnet, onet })
    }
}
