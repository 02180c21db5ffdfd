//! A differentiable JPEG approximation: RGB → YCbCr, 4:2:0 chroma subsampling, 8×8 DCT,
//! quantisation with the IJG tables scaled by quality, and back (after Shin & Song, "JPEG-resistant
//! adversarial images", 2017, and HiDDeN's JPEG-Mask/JPEG-Drop, arXiv 1807.09937).
//!
//! Rounding, the one step without a useful gradient, is replaced either by a straight-through
//! estimator (forward: exact rounding; backward: identity) or by the cubic approximation
//! `round(x) + (x − round(x))³`.

use burn::tensor::{Device, Tensor, TensorData};

/// The IJG luminance quantisation table (JPEG standard, Annex K.1), row-major.
pub const LUMA_TABLE: [f32; 64] = [
    16., 11., 10., 16., 24., 40., 51., 61., 12., 12., 14., 19., 26., 58., 60., 55., 14., 13., 16.,
    24., 40., 57., 69., 56., 14., 17., 22., 29., 51., 87., 80., 62., 18., 22., 37., 56., 68., 109.,
    103., 77., 24., 35., 55., 64., 81., 104., 113., 92., 49., 64., 78., 87., 103., 121., 120.,
    101., 72., 92., 95., 98., 112., 100., 103., 99.,
];

/// The IJG chrominance quantisation table (Annex K.2), row-major.
pub const CHROMA_TABLE: [f32; 64] = [
    17., 18., 24., 47., 99., 99., 99., 99., 18., 21., 26., 66., 99., 99., 99., 99., 24., 26., 56.,
    99., 99., 99., 99., 99., 47., 66., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99.,
    99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99., 99.,
    99., 99., 99., 99., 99., 99., 99.,
];

/// JPEG block side.
const BLOCK: usize = 8;

/// Side of a 4:2:0 macroblock: the sizes [`DiffJpeg::forward`] compresses are whole ones.
pub(crate) const MACROBLOCK: usize = 2 * BLOCK;

/// A table scaled to `quality` (1–100) the way libjpeg's `jpeg_quality_scaling` does.
pub fn scaled_table(base: &[f32; 64], quality: f32) -> [f32; 64] {
    let q = quality.clamp(1.0, 100.0);
    let scale = if q < 50.0 {
        5000.0 / q
    } else {
        200.0 - 2.0 * q
    };
    base.map(|t| ((t * scale + 50.0) / 100.0).floor().clamp(1.0, 255.0))
}

/// How the quantiser's rounding is made differentiable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Exact rounding forward, identity backward.
    StraightThrough,
    /// `round(x) + (x − round(x))³` forward and backward.
    Cubic,
}

/// Rounds with a usable gradient.
pub fn differentiable_round(x: Tensor<2>, rounding: Rounding) -> Tensor<2> {
    let r = x.clone().detach().round();
    match rounding {
        Rounding::StraightThrough => x.clone() - x.detach() + r,
        Rounding::Cubic => (x - r.clone()).powi_scalar(3) + r,
    }
}

/// The constants of the approximation, built once per device.
#[derive(Debug, Clone)]
pub struct DiffJpeg {
    /// `K = D ⊗ D` for the orthonormal 8-point DCT-II `D`: a flattened block `b` (row-major)
    /// has coefficients `b · Kᵀ`; `K` is orthogonal, so the inverse is `c · K`.
    kron: Tensor<2>,
    device: Device,
}

impl DiffJpeg {
    /// Builds the DCT basis on `device`.
    pub fn new(device: &Device) -> Self {
        let n = BLOCK as f32;
        let d = |u: usize, i: usize| {
            let c = if u == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            c * ((2 * i + 1) as f32 * u as f32 * std::f32::consts::PI / (2.0 * n)).cos()
        };
        let mut k = vec![0f32; 64 * 64];
        for u in 0..BLOCK {
            for v in 0..BLOCK {
                for i in 0..BLOCK {
                    for j in 0..BLOCK {
                        k[(u * BLOCK + v) * 64 + i * BLOCK + j] = d(u, i) * d(v, j);
                    }
                }
            }
        }
        Self {
            kron: Tensor::from_data(TensorData::new(k, [64, 64]), device),
            device: device.clone(),
        }
    }

    /// JPEG-compresses `x` at `quality` (approximately; see the module docs).
    ///
    /// # Shapes
    /// - `x`: `[B, 3, H, W]` in 0..1 with H, W multiples of 16 (4:2:0 chroma needs 16×16
    ///   macroblocks); other sizes are returned unchanged.
    pub fn forward(&self, x: Tensor<4>, quality: f32, rounding: Rounding) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        if h % MACROBLOCK != 0 || w % MACROBLOCK != 0 {
            return x;
        }
        let ycc = mix_channels(x.mul_scalar(255.0), &RGB_TO_YCBCR, &self.device).sub_scalar(128.0);
        let luma = ycc.clone().narrow(1, 0, 1);
        let chroma = ycc
            .narrow(1, 1, 2)
            .reshape([b, 2, h / 2, 2, w / 2, 2])
            .mean_dim(5)
            .mean_dim(3)
            .reshape([b, 2, h / 2, w / 2]);
        let luma = self.quantise(luma, &scaled_table(&LUMA_TABLE, quality), rounding);
        let chroma = self.quantise(chroma, &scaled_table(&CHROMA_TABLE, quality), rounding);
        let chroma = super::resize(chroma, [h, w]);
        let ycc = Tensor::cat(vec![luma, chroma], 1).add_scalar(128.0);
        mix_channels(ycc, &YCBCR_TO_RGB, &self.device).div_scalar(255.0)
    }

    /// DCT, quantisation and inverse DCT of every 8×8 block of each channel.
    fn quantise(&self, x: Tensor<4>, table: &[f32; 64], rounding: Rounding) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let (bh, bw) = (h / BLOCK, w / BLOCK);
        let blocks = x
            .reshape([b, c, bh, BLOCK, bw, BLOCK])
            .permute([0, 1, 2, 4, 3, 5])
            .reshape([b * c * bh * bw, 64]);
        let q = Tensor::<2>::from_data(TensorData::new(table.to_vec(), [1, 64]), &self.device);
        let coef = blocks.matmul(self.kron.clone().transpose());
        let coef = differentiable_round(coef / q.clone(), rounding) * q;
        coef.matmul(self.kron.clone())
            .reshape([b, c, bh, bw, BLOCK, BLOCK])
            .permute([0, 1, 2, 4, 3, 5])
            .reshape([b, c, h, w])
    }
}

/// Rec. 601 luma as a channel-map row (JPEG's Y, a grey copy's value; `faketagger_attacks::LUMA_601`
/// is the same standard on the side of the real attacks, which has no tensors).
pub const LUMA: [f32; 4] = [0.299, 0.587, 0.114, 0.0];

/// JFIF RGB → YCbCr (offsets applied by the caller's level shift), rows = output channel.
const RGB_TO_YCBCR: [[f32; 4]; 3] = [
    LUMA,
    [-0.168_736, -0.331_264, 0.5, 128.0],
    [0.5, -0.418_688, -0.081_312, 128.0],
];

/// JFIF YCbCr → RGB.
const YCBCR_TO_RGB: [[f32; 4]; 3] = [
    [1.0, 0.0, 1.402, -1.402 * 128.0],
    [1.0, -0.344_136, -0.714_136, (0.344_136 + 0.714_136) * 128.0],
    [1.0, 1.772, 0.0, -1.772 * 128.0],
];

/// Applies an affine map to the channels: `out[o] = Σ_i m[o][i]·x[i] + m[o][3]`.
pub(crate) fn mix_channels(x: Tensor<4>, m: &[[f32; 4]; 3], device: &Device) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let linear: Vec<f32> = m.iter().flat_map(|row| row[..3].to_vec()).collect();
    let offset: Vec<f32> = m.iter().map(|row| row[3]).collect();
    let linear =
        Tensor::<3>::from_data(TensorData::new(linear, [1, 3, 3]), device).repeat_dim(0, b);
    let offset = Tensor::<3>::from_data(TensorData::new(offset, [1, 3, 1]), device);
    linear
        .matmul(x.reshape([b, c, h * w]))
        .add(offset)
        .reshape([b, 3, h, w])
}
