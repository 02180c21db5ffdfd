//! MTCNN's three networks on the CPU without burn, for the flex backend.
//!
//! PNet runs over every level of the pyramid: at the default smallest face (20 px) a 1080p photo
//! is about 1.5 million windows. Its layers are narrow (3→10, 10→16, 16→32 channels), a shape
//! burn's general convolution (im2col and a matrix product per tile) handles at a few GMAC/s;
//! RNet and ONet then spent most of their time in burn's max pooling. Here each convolution
//! keeps a tile of two SIMD vectors of output pixels for four output channels in registers and
//! adds each input row into them (`pulp` picks AVX2/FMA or the scalar path at run time), with
//! the PReLU fused; PNet's levels run in parallel bands of rows, RNet's and ONet's crops in
//! parallel, one crop per task.
//!
//! The same weights (taken from the burn networks at load) and the same arithmetic up to the
//! order of summation: the tests compare each network with its burn twin, and the cascade's
//! tests compare the whole detector with facenet-pytorch. On a GPU backend the networks stay on
//! burn.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Rows are padded to a multiple of this (two AVX-512 vectors, the widest tile) plus one more,
/// so that every tile is whole: no tail loop, and the padding columns are never read as output.
const PAD: usize = 32;
/// Output channels that share a tile's input loads.
const BLOCK: usize = 4;
/// Output rows per parallel task.
const BAND: usize = 4;

fn padded(width: usize) -> usize {
    width.next_multiple_of(PAD) + PAD
}

/// Feature maps stored row by row, each row holding every channel (`[height][channels][stride]`),
/// so that a band of rows is one contiguous slice.
#[derive(Debug)]
struct Maps {
    data: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    stride: usize,
}

impl Maps {
    fn zeros(channels: usize, height: usize, width: usize) -> Self {
        let stride = padded(width);
        Self {
            data: vec![0.0; height * channels * stride],
            channels,
            height,
            width,
            stride,
        }
    }

    /// Channel `c` of row `y`, with its padding.
    fn row(&self, y: usize, c: usize) -> &[f32] {
        let start = (y * self.channels + c) * self.stride;
        &self.data[start..start + self.stride]
    }

    fn row_len(&self) -> usize {
        self.channels * self.stride
    }
}

/// A square convolution without padding, stride 1, with its bias and (optionally) PReLU slopes.
#[derive(Debug, Clone)]
pub(crate) struct ConvLayer {
    /// The weights by block of output channels as the tiles take them: for the block of
    /// channels `o .. o + B` ([`blocks`]), from `o · taps` on, tap after tap (input channel,
    /// row, column), each tap's `B` weights side by side.
    packed: Vec<f32>,
    bias: Vec<f32>,
    slopes: Option<Vec<f32>>,
    channels_in: usize,
    channels_out: usize,
    kernel: usize,
}

impl ConvLayer {
    /// From PyTorch's layout: `weights` `[out][in][kernel][kernel]`.
    pub(crate) fn new(
        weights: &[f32],
        bias: Vec<f32>,
        slopes: Option<Vec<f32>>,
        [channels_out, channels_in, kernel]: [usize; 3],
    ) -> Result<Self, String> {
        let (i, o, k) = (channels_in, channels_out, kernel);
        let taps = i * k * k;
        let ok = weights.len() == o * taps
            && bias.len() == o
            && slopes.as_ref().is_none_or(|s| s.len() == o);
        if !ok {
            return Err(format!("a {i}→{o} {k}×{k} layer with mis-sized weights"));
        }
        let mut packed = Vec::with_capacity(weights.len());
        for (out, size) in blocks(o) {
            for tap in 0..taps {
                packed.extend((out..out + size).map(|c| weights[c * taps + tap]));
            }
        }
        Ok(Self {
            packed,
            bias,
            slopes,
            channels_in,
            channels_out,
            kernel,
        })
    }

    /// The layer over `input`, every output row: in parallel bands of rows, or in one go (for a
    /// small input that is itself one of many tasks).
    fn forward(&self, input: &Maps, arch: Arch, parallel: bool) -> Maps {
        let mut output = Maps::zeros(
            self.channels_out,
            input.height + 1 - self.kernel,
            input.width + 1 - self.kernel,
        );
        let (row_len, width, stride) = (output.row_len(), output.width, output.stride);
        let band = |(index, rows): (usize, &mut [f32])| {
            arch.dispatch(ConvRows {
                layer: self,
                input,
                first_row: index * BAND,
                rows,
                width,
                stride,
            });
        };
        for_each_chunk(&mut output.data, row_len * BAND, parallel, band);
        output
    }
}

/// One band of a convolution's output rows, for `pulp` to run with the CPU's vector width.
struct ConvRows<'a> {
    layer: &'a ConvLayer,
    input: &'a Maps,
    first_row: usize,
    rows: &'a mut [f32],
    width: usize,
    stride: usize,
}

impl WithSimd for ConvRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ConvRows {
            layer,
            input,
            first_row,
            rows,
            width,
            stride,
        } = self;
        let tile = 2 * S::F32_LANES;
        for (r, row) in rows.chunks_mut(layer.channels_out * stride).enumerate() {
            let y = first_row + r;
            for (out, size) in blocks(layer.channels_out) {
                for x in (0..width).step_by(tile) {
                    match size {
                        BLOCK => tile_at::<S, BLOCK>(simd, layer, input, y, x, out, row, stride),
                        2 => tile_at::<S, 2>(simd, layer, input, y, x, out, row, stride),
                        _ => tile_at::<S, 1>(simd, layer, input, y, x, out, row, stride),
                    }
                }
            }
        }
    }
}

/// The blocks of output channels that share a tile, as (first channel, size): [`BLOCK`] at a
/// time, then 2, then 1 for what remains.
fn blocks(channels: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut out = 0;
    std::iter::from_fn(move || {
        let left = channels - out;
        let size = match left {
            0 => return None,
            _ if left >= BLOCK => BLOCK,
            _ if left >= 2 => 2,
            _ => 1,
        };
        out += size;
        Some((out - size, size))
    })
}

/// `work(index, chunk)` over `data` in chunks of `size`: in parallel, or in one go (for small
/// work that is itself one of many tasks).
pub(crate) fn for_each_chunk(
    data: &mut [f32],
    size: usize,
    parallel: bool,
    work: impl Fn((usize, &mut [f32])) + Sync + Send,
) {
    if parallel {
        data.par_chunks_mut(size).enumerate().for_each(work);
    } else {
        data.chunks_mut(size).enumerate().for_each(work);
    }
}

/// Output pixels `x .. x + 2·lanes` of row `y`, channels `out .. out + B`: bias, every input
/// channel and kernel tap, PReLU, stored in `row` (the output row, every channel).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile_at<S: Simd, const B: usize>(
    simd: S,
    layer: &ConvLayer,
    input: &Maps,
    y: usize,
    x: usize,
    out: usize,
    row: &mut [f32],
    stride: usize,
) {
    let lanes = S::F32_LANES;
    let k = layer.kernel;
    let taps = layer.channels_in * k * k;
    let mut acc = [[simd.splat_f32s(0.0); 2]; B];
    for (b, acc) in acc.iter_mut().enumerate() {
        *acc = [simd.splat_f32s(layer.bias[out + b]); 2];
    }
    // this block's weights, tap by tap ([`ConvLayer::packed`])
    let mut weights = layer.packed[out * taps..(out + B) * taps].chunks_exact(B);
    for c in 0..layer.channels_in {
        for ky in 0..k {
            let source = &input.row(y + ky, c)[x..x + 2 * lanes + k - 1];
            for (kx, w) in (0..k).zip(weights.by_ref()) {
                let (v, _) = S::as_simd_f32s(&source[kx..kx + 2 * lanes]);
                let (v0, v1) = (v[0], v[1]);
                for (acc, &w) in acc.iter_mut().zip(w) {
                    let w = simd.splat_f32s(w);
                    acc[0] = simd.mul_add_f32s(w, v0, acc[0]);
                    acc[1] = simd.mul_add_f32s(w, v1, acc[1]);
                }
            }
        }
    }
    let zero = simd.splat_f32s(0.0);
    for (b, acc) in acc.iter().enumerate() {
        let start = (out + b) * stride + x;
        let (dst, _) = S::as_mut_simd_f32s(&mut row[start..start + 2 * lanes]);
        for (d, &a) in dst.iter_mut().zip(acc) {
            *d = match &layer.slopes {
                Some(slopes) => simd.mul_add_f32s(
                    simd.splat_f32s(slopes[out + b]),
                    simd.min_f32s(a, zero),
                    simd.max_f32s(a, zero),
                ),
                None => a,
            };
        }
    }
}

/// PyTorch's output side of `MaxPool2d(kernel, stride, ceil_mode=True)` without padding.
fn pooled(side: usize, kernel: usize, stride: usize) -> usize {
    (side - kernel).div_ceil(stride) + 1
}

/// PyTorch's `MaxPool2d(kernel, stride, ceil_mode=True)`: the last window may reach past the
/// edge and pools what lies inside.
fn max_pool(input: &Maps, kernel: usize, stride: usize, parallel: bool) -> Maps {
    let mut output = Maps::zeros(
        input.channels,
        pooled(input.height, kernel, stride),
        pooled(input.width, kernel, stride),
    );
    let (row_len, width, out_stride) = (output.row_len(), output.width, output.stride);
    let row = |(y, row): (usize, &mut [f32])| {
        let rows = stride * y..(stride * y + kernel).min(input.height);
        for c in 0..input.channels {
            let dst = &mut row[c * out_stride..c * out_stride + width];
            for (x, d) in dst.iter_mut().enumerate() {
                let columns = stride * x..(stride * x + kernel).min(input.width);
                *d = rows
                    .clone()
                    .flat_map(|r| input.row(r, c)[columns.clone()].iter().copied())
                    .fold(f32::NEG_INFINITY, f32::max);
            }
        }
    };
    for_each_chunk(&mut output.data, row_len, parallel, row);
    output
}

/// A dense layer, `y = x·W + b` with `W` as burn stores it (`[inputs][outputs]`), and its PReLU.
#[derive(Debug, Clone)]
pub(crate) struct DenseLayer {
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) slopes: Option<Vec<f32>>,
}

impl DenseLayer {
    fn check(&self, inputs: usize, outputs: usize) -> Result<(), String> {
        let ok = self.weights.len() == inputs * outputs
            && self.bias.len() == outputs
            && self.slopes.as_ref().is_none_or(|s| s.len() == outputs);
        ok.then_some(())
            .ok_or_else(|| format!("not a {inputs}→{outputs} dense layer"))
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone();
        for (&v, row) in x.iter().zip(self.weights.chunks_exact(y.len())) {
            for (y, &w) in y.iter_mut().zip(row) {
                *y += v * w;
            }
        }
        if let Some(slopes) = &self.slopes {
            for (y, &a) in y.iter_mut().zip(slopes) {
                if *y < 0.0 {
                    *y *= a;
                }
            }
        }
        y
    }
}

/// `[C][H][W]` planar values (a crop or a level as the resampling writes them) as [`Maps`].
fn maps_from_planar(planar: &[f32], channels: usize, height: usize, width: usize) -> Maps {
    let mut maps = Maps::zeros(channels, height, width);
    let stride = maps.stride;
    for (y, row) in maps.data.chunks_mut(channels * stride).enumerate() {
        for c in 0..channels {
            let source = &planar[(c * height + y) * width..][..width];
            row[c * stride..c * stride + width].copy_from_slice(source);
        }
    }
    maps
}

/// The maps flattened as PyTorch's `permute(0, 3, 2, 1)` lays them out (width, height,
/// channel), the order the pretrained dense layers expect.
fn flatten_whc(maps: &Maps) -> Vec<f32> {
    let mut flat = Vec::with_capacity(maps.width * maps.height * maps.channels);
    for x in 0..maps.width {
        for y in 0..maps.height {
            flat.extend((0..maps.channels).map(|c| maps.row(y, c)[x]));
        }
    }
    flat
}

/// The face probability of two logits, as burn's softmax computes it (maximum subtracted).
fn face_probability(l0: f32, l1: f32) -> f32 {
    let m = l0.max(l1);
    let (e0, e1) = ((l0 - m).exp(), (l1 - m).exp());
    e1 / (e0 + e1)
}

/// MTCNN's three networks as plain arrays, from the burn networks' weights
/// ([`crate::nets::Mtcnn::cpu`]).
#[derive(Debug, Clone)]
pub(crate) struct CpuMtcnn {
    pub(crate) pnet: CpuPNet,
    pub(crate) rnet: CpuRNet,
    pub(crate) onet: CpuONet,
}

/// Checks the dense layers' arrays (the convolutions' were checked when packed,
/// [`ConvLayer::new`]) and that the convolutions have the network's shapes.
fn check(
    name: &str,
    convs: &[&ConvLayer],
    expected: &[(usize, usize, usize)],
    dense: &[(&DenseLayer, usize, usize)],
) -> Result<(), String> {
    for (layer, inputs, outputs) in dense {
        layer.check(*inputs, *outputs)?;
    }
    let found: Vec<_> = convs
        .iter()
        .map(|l| (l.channels_in, l.channels_out, l.kernel))
        .collect();
    (found == expected)
        .then_some(())
        .ok_or_else(|| format!("not {name}'s layers: {found:?}"))
}

/// PNet: three 3×3 convolutions and a 1×1 head.
#[derive(Debug, Clone)]
pub(crate) struct CpuPNet {
    pub(crate) conv1: ConvLayer,
    pub(crate) conv2: ConvLayer,
    pub(crate) conv3: ConvLayer,
    /// `conv4_1` (two face logits) and `conv4_2` (four box regressions) as one 1×1 layer of six
    /// outputs.
    pub(crate) head: ConvLayer,
    pub(crate) arch: Arch,
}

/// PNet's outputs at one pyramid level.
#[derive(Debug)]
pub(crate) struct PNetOutput {
    /// Face probability, `[height][width]`.
    pub(crate) face: Vec<f32>,
    /// Box regression, `[4][height][width]`.
    pub(crate) regression: Vec<f32>,
    pub(crate) height: usize,
    pub(crate) width: usize,
}

impl CpuPNet {
    pub(crate) fn check(&self) -> Result<(), String> {
        check(
            "PNet",
            &[&self.conv1, &self.conv2, &self.conv3, &self.head],
            &[(3, 10, 3), (10, 16, 3), (16, 32, 3), (32, 6, 1)],
            &[],
        )
    }

    /// PNet on a planar `[3][height][width]` input (pixels normalised as the networks take
    /// them); `None` when the level is smaller than PNet's 12-pixel window.
    pub(crate) fn forward(
        &self,
        planar: &[f32],
        height: usize,
        width: usize,
    ) -> Option<PNetOutput> {
        if height < 12 || width < 12 || planar.len() != 3 * height * width {
            return None;
        }
        let input = maps_from_planar(planar, 3, height, width);
        let x = self.conv1.forward(&input, self.arch, true);
        let x = max_pool(&x, 2, 2, true);
        let x = self.conv2.forward(&x, self.arch, true);
        let x = self.conv3.forward(&x, self.arch, true);
        let head = self.head.forward(&x, self.arch, true);
        let (height, width) = (head.height, head.width);
        let cells = height * width;
        let mut face = Vec::with_capacity(cells);
        let mut regression = vec![0.0; 4 * cells];
        for y in 0..height {
            let (l0, l1) = (head.row(y, 0), head.row(y, 1));
            face.extend((0..width).map(|x| face_probability(l0[x], l1[x])));
            for k in 0..4 {
                let source = &head.row(y, 2 + k)[..width];
                regression[k * cells + y * width..][..width].copy_from_slice(source);
            }
        }
        Some(PNetOutput {
            face,
            regression,
            height,
            width,
        })
    }
}

/// RNet's or ONet's outputs for a batch of crops.
#[derive(Debug, Default)]
pub(crate) struct CropOutputs {
    /// Face probability per crop.
    pub(crate) face: Vec<f32>,
    /// Box regression, four per crop.
    pub(crate) regression: Vec<f32>,
    /// ONet's landmarks, ten per crop (five x, then five y); empty for RNet.
    pub(crate) points: Vec<f32>,
}

impl CropOutputs {
    /// One output per crop, in parallel, collected in the crops' order.
    fn of(
        planar: &[f32],
        side: usize,
        network: impl Fn(&Maps) -> (f32, Vec<f32>, Vec<f32>) + Sync,
    ) -> Self {
        let per_crop = 3 * side * side;
        let results: Vec<_> = planar
            .par_chunks_exact(per_crop)
            .map(|crop| network(&maps_from_planar(crop, 3, side, side)))
            .collect();
        let mut out = CropOutputs::default();
        for (face, regression, points) in results {
            out.face.push(face);
            out.regression.extend(regression);
            out.points.extend(points);
        }
        out
    }
}

/// RNet: 24 px crops.
#[derive(Debug, Clone)]
pub(crate) struct CpuRNet {
    pub(crate) conv1: ConvLayer,
    pub(crate) conv2: ConvLayer,
    pub(crate) conv3: ConvLayer,
    pub(crate) dense4: DenseLayer,
    pub(crate) face: DenseLayer,
    pub(crate) regression: DenseLayer,
    pub(crate) arch: Arch,
}

impl CpuRNet {
    pub(crate) fn check(&self) -> Result<(), String> {
        check(
            "RNet",
            &[&self.conv1, &self.conv2, &self.conv3],
            &[(3, 28, 3), (28, 48, 3), (48, 64, 2)],
            &[
                (&self.dense4, 576, 128),
                (&self.face, 128, 2),
                (&self.regression, 128, 4),
            ],
        )
    }

    /// RNet on `planar`: crops of `[3][24][24]` one after another.
    pub(crate) fn forward(&self, planar: &[f32]) -> CropOutputs {
        CropOutputs::of(planar, crate::nets::RNET_SIDE, |input| {
            let x = self.conv1.forward(input, self.arch, false);
            let x = max_pool(&x, 3, 2, false);
            let x = self.conv2.forward(&x, self.arch, false);
            let x = max_pool(&x, 3, 2, false);
            let x = self.conv3.forward(&x, self.arch, false);
            let x = self.dense4.forward(&flatten_whc(&x));
            let logits = self.face.forward(&x);
            (
                face_probability(logits[0], logits[1]),
                self.regression.forward(&x),
                Vec::new(),
            )
        })
    }
}

/// ONet: 48 px crops, with landmarks.
#[derive(Debug, Clone)]
pub(crate) struct CpuONet {
    pub(crate) conv1: ConvLayer,
    pub(crate) conv2: ConvLayer,
    pub(crate) conv3: ConvLayer,
    pub(crate) conv4: ConvLayer,
    pub(crate) dense5: DenseLayer,
    pub(crate) face: DenseLayer,
    pub(crate) regression: DenseLayer,
    pub(crate) points: DenseLayer,
    pub(crate) arch: Arch,
}

impl CpuONet {
    pub(crate) fn check(&self) -> Result<(), String> {
        check(
            "ONet",
            &[&self.conv1, &self.conv2, &self.conv3, &self.conv4],
            &[(3, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 2)],
            &[
                (&self.dense5, 1152, 256),
                (&self.face, 256, 2),
                (&self.regression, 256, 4),
                (&self.points, 256, 10),
            ],
        )
    }

    /// ONet on `planar`: crops of `[3][48][48]` one after another.
    pub(crate) fn forward(&self, planar: &[f32]) -> CropOutputs {
        CropOutputs::of(planar, crate::nets::ONET_SIDE, |input| {
            let x = self.conv1.forward(input, self.arch, false);
            let x = max_pool(&x, 3, 2, false);
            let x = self.conv2.forward(&x, self.arch, false);
            let x = max_pool(&x, 3, 2, false);
            let x = self.conv3.forward(&x, self.arch, false);
            let x = max_pool(&x, 2, 2, false);
            let x = self.conv4.forward(&x, self.arch, false);
            let x = self.dense5.forward(&flatten_whc(&x));
            let logits = self.face.forward(&x);
            (
                face_probability(logits[0], logits[1]),
                self.regression.forward(&x),
                self.points.forward(&x),
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use burn::tensor::{Tensor, TensorData};
    use faketagger_model::Backend;

    use super::*;
    use crate::detect::Detector;
    use crate::{DetectOptions, nets};

    fn weights() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights/mtcnn")
    }

    fn mtcnn() -> nets::Mtcnn {
        let device = Backend::Flex.device().unwrap();
        let (_, nets) = faketagger_model::weights::load(
            &weights(),
            crate::MTCNN_NAME,
            &device,
            |c: &nets::MtcnnConfig, d| Ok(c.init(d)),
        )
        .unwrap();
        nets
    }

    /// A seeded input with texture at every scale, pixels in MTCNN's normalised range.
    fn input(height: usize, width: usize, seed: u32) -> Vec<f32> {
        (0..3 * height * width)
            .map(|i| {
                let i = i as u32;
                let hash = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                let noise = (hash >> 8) as f32 / (1u32 << 24) as f32;
                let (x, y) = ((i as usize % width) as f32, (i as usize / width) as f32);
                0.6 * (0.11 * x + 0.07 * y + seed as f32).sin() + 0.4 * (noise - 0.5)
            })
            .collect()
    }

    #[test]
    fn pnet_on_the_cpu_matches_the_burn_network() {
        let nets = mtcnn();
        let fast = nets.cpu().unwrap().pnet;
        // the path of CPUs without AVX2/FMA too
        let scalar = CpuPNet {
            arch: Arch::Scalar,
            ..fast.clone()
        };
        let device = Backend::Flex.device().unwrap();
        // odd and even sides, the smallest level, one wider than a SIMD tile's padding
        for (seed, (height, width)) in [(12, 12), (13, 29), (40, 33), (57, 130), (96, 71)]
            .into_iter()
            .enumerate()
        {
            let planar = input(height, width, seed as u32);
            let ours = fast.forward(&planar, height, width).unwrap();
            let plain = scalar.forward(&planar, height, width).unwrap();
            let tensor =
                Tensor::<4>::from_data(TensorData::new(planar, [1, 3, height, width]), &device);
            let (regression, face) = nets.pnet.forward(tensor);
            let [_, grid_h, grid_w] = face.dims();
            assert_eq!(
                (ours.height, ours.width),
                (grid_h, grid_w),
                "{height}×{width}"
            );
            let face: Vec<f32> = face.into_data().try_to_vec().unwrap();
            let regression: Vec<f32> = regression.into_data().try_to_vec().unwrap();
            let worst = |a: &[f32], b: &[f32]| {
                assert_eq!(a.len(), b.len());
                a.iter()
                    .zip(b)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max)
            };
            for (path, out) in [("SIMD", &ours), ("scalar", &plain)] {
                let (f, r) = (worst(&out.face, &face), worst(&out.regression, &regression));
                assert!(
                    f < 1e-5 && r < 1e-5,
                    "{path}, {height}×{width}: face {f}, regression {r}"
                );
            }
            // not a constant map: the windows differ
            let spread = face.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                - face.iter().copied().fold(f32::INFINITY, f32::min);
            assert!(
                face.len() == 1 || spread > 1e-3,
                "{height}×{width}: flat output"
            );
        }
        assert!(fast.forward(&input(11, 40, 0), 11, 40).is_none());
    }

    /// Largest absolute difference; panics on different lengths.
    fn worst(ours: &[f32], theirs: Tensor<2>) -> f32 {
        let theirs: Vec<f32> = theirs.into_data().try_to_vec().unwrap();
        assert_eq!(ours.len(), theirs.len());
        ours.iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn rnet_and_onet_on_the_cpu_match_the_burn_networks() {
        let nets = mtcnn();
        let cpu = nets.cpu().unwrap();
        let device = Backend::Flex.device().unwrap();
        for (side, batch) in [(nets::RNET_SIDE, 5), (nets::ONET_SIDE, 3)] {
            let planar: Vec<f32> = (0..batch)
                .flat_map(|b| input(side, side, 7 + b as u32))
                .collect();
            let tensor = Tensor::<4>::from_data(
                TensorData::new(planar.clone(), [batch, 3, side, side]),
                &device,
            );
            let (ours, regression, points, face) = if side == nets::RNET_SIDE {
                let (regression, face) = nets.rnet.forward(tensor);
                (cpu.rnet.forward(&planar), regression, None, face)
            } else {
                let (regression, points, face) = nets.onet.forward(tensor);
                (cpu.onet.forward(&planar), regression, Some(points), face)
            };
            let face = face.reshape([batch, 1]);
            let errors = [
                worst(&ours.face, face),
                worst(&ours.regression, regression),
                points.map_or(0.0, |p| worst(&ours.points, p)),
            ];
            assert!(errors.iter().all(|e| *e < 1e-5), "{side} px: {errors:?}");
            assert_eq!(ours.face.len(), batch);
            assert_eq!(
                ours.points.len(),
                if side == nets::ONET_SIDE {
                    10 * batch
                } else {
                    0
                }
            );
        }
        assert!(cpu.rnet.forward(&[]).face.is_empty());
    }

    #[test]
    fn the_cascade_finds_the_same_faces_on_burn_and_without() {
        let device = Backend::Flex.device().unwrap();
        let fast = Detector::load(&weights(), &device).unwrap();
        let burn = Detector::load(&weights(), &device).unwrap().on_burn();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let photo = image::open(root.join("assets/astronaut.jpg"))
            .unwrap()
            .to_rgb8();
        for min_face in [20.0, 40.0] {
            let options = DetectOptions {
                min_face,
                ..DetectOptions::default()
            };
            let (a, b) = (
                fast.detect(&photo, &options).unwrap(),
                burn.detect(&photo, &options).unwrap(),
            );
            assert!(!a.is_empty(), "the astronaut's face");
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                let off = (0..4)
                    .map(|k| (a.bbox[k] - b.bbox[k]).abs())
                    .fold(0.0, f32::max);
                assert!(off < 1e-2, "{:?} vs {:?}", a.bbox, b.bbox);
                assert!((a.score - b.score).abs() < 1e-4);
            }
        }
    }
}
