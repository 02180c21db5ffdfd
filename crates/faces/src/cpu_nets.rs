//! MTCNN's three networks on the CPU without burn, for the flex backend.
//!
//! PNet runs over every level of the pyramid: at the default smallest face (20 px) a 1080p photo
//! is about 1.5 million windows. Its layers are narrow (3→10, 10→16, 16→32 channels), a shape
//! burn's general convolution (im2col and a matrix product per tile) handles at a few GMAC/s;
//! RNet and ONet then spent most of their time in burn's max pooling. Here the convolutions are
//! `faketagger_model::cpu`'s register-tiled kernel (the tagger's decoder uses it too), with the
//! PReLU fused; PNet's levels run in parallel bands of rows, RNet's and ONet's crops in
//! parallel, one crop per task; max pooling and the dense layers' flattening follow PyTorch.
//!
//! The same weights (taken from the burn networks at load) and the same arithmetic up to the
//! order of summation: the tests compare each network with its burn twin, and the cascade's
//! tests compare the whole detector with facenet-pytorch. On a GPU backend the networks stay on
//! burn.

use faketagger_model::cpu::{ConvLayer, DenseLayer, Maps};
use pulp::Arch;
use rayon::prelude::*;

/// PyTorch's output side of `MaxPool2d(kernel, stride, ceil_mode=True)` without padding.
fn pooled(side: usize, kernel: usize, stride: usize) -> usize {
    (side - kernel).div_ceil(stride) + 1
}

/// Crops laid side by side in one map ([`CropOutputs::of`]): crop `k`'s columns start at
/// `k · stride` and its first `valid` columns are its own; the others were computed across two
/// crops and are never read. A convolution without padding gives each output pixel of a crop
/// the same sum, in the same order, as on the crop alone, and the tiles are filled.
#[derive(Debug, Clone, Copy)]
struct Segments {
    stride: usize,
    valid: usize,
}

impl Segments {
    /// One map of `width` columns.
    fn whole(width: usize) -> Self {
        Self {
            stride: width,
            valid: width,
        }
    }

    /// The crops after a `layer` without padding.
    fn conv(self, layer: &ConvLayer) -> Self {
        Self {
            stride: self.stride,
            valid: self.valid + 1 - layer.shape().2,
        }
    }
}

/// PyTorch's `MaxPool2d(kernel, stride, ceil_mode=True)` on each of `crops` crops side by side
/// (`segments`): the last window of a crop may reach past its edge and pools what lies inside.
fn max_pool_crops(
    input: &Maps,
    kernel: usize,
    stride: usize,
    crops: usize,
    segments: Segments,
) -> (Maps, Segments) {
    let out = Segments {
        stride: segments.stride / stride,
        valid: pooled(segments.valid, kernel, stride),
    };
    let mut output = Maps::zeros(
        input.channels(),
        pooled(input.height(), kernel, stride),
        crops * out.stride,
        0,
    );
    max_pool_into(
        input,
        kernel,
        stride,
        false,
        &mut output,
        0,
        [segments, out],
    );
    (output, out)
}

/// Max pooling (`kernel`, `stride`, ceil mode) of `input`, into `output`'s rows from `first`
/// on, crop by crop (`segments`: the input's, the output's).
fn max_pool_into(
    input: &Maps,
    kernel: usize,
    stride: usize,
    parallel: bool,
    output: &mut Maps,
    first: usize,
    [segments, out]: [Segments; 2],
) {
    let rows = first..first + pooled(input.height(), kernel, stride);
    let (width, in_width) = (output.width(), input.width());
    output.for_each_row_mut_in(rows, parallel, |y, row, at| {
        let y = y - first;
        let rows = stride * y..(stride * y + kernel).min(input.height());
        // the window's rows pooled first, column by column, then the columns' windows
        let mut columns = vec![f32::NEG_INFINITY; in_width];
        for c in 0..input.channels() {
            columns.fill(f32::NEG_INFINITY);
            for r in rows.clone() {
                for (m, &v) in columns.iter_mut().zip(&input.row(r, c)[..in_width]) {
                    *m = m.max(v);
                }
            }
            let crops = row[at(c)..at(c) + width].chunks_mut(out.stride);
            for (k, crop) in crops.enumerate() {
                let (start, end) = (k * segments.stride, k * segments.stride + segments.valid);
                for (x, d) in crop.iter_mut().take(out.valid).enumerate() {
                    let window =
                        &columns[start + stride * x..(start + stride * x + kernel).min(end)];
                    *d = window.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                }
            }
        }
    });
}

/// Output rows of PNet's first convolution computed and pooled at a time: its whole map (30 MB
/// at a 1080p photo's first pyramid level) is never held, and each strip is pooled while it is
/// still in the cache. Even, so that no pooling window straddles two strips.
const PNET_STRIP: usize = 32;

/// Columns `x0 .. x0 + width` of the maps flattened as PyTorch's `permute(0, 3, 2, 1)` lays
/// them out (width, height, channel), the order the pretrained dense layers expect.
fn flatten_whc(maps: &Maps, x0: usize, width: usize) -> Vec<f32> {
    let mut flat = Vec::with_capacity(width * maps.height() * maps.channels());
    for x in x0..x0 + width {
        for y in 0..maps.height() {
            flat.extend((0..maps.channels()).map(|c| maps.row(y, c)[x]));
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
        .map(|l| {
            let (channels_in, channels_out, kernel, ..) = l.shape();
            (channels_in, channels_out, kernel)
        })
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
        // the first convolution (3 × 3, no padding) and its 2 × 2 pooling, strip by strip
        let (conv_height, conv_width) = (height - 2, width - 2);
        let mut x = Maps::zeros(
            self.conv1.shape().1,
            pooled(conv_height, 2, 2),
            pooled(conv_width, 2, 2),
            0,
        );
        let mut start = 0;
        while start < conv_height {
            // the last strip takes a lone row left over (a pooling window needs two)
            let rows = match conv_height - start {
                left if left <= PNET_STRIP + 1 => left,
                _ => PNET_STRIP,
            };
            let input = Maps::from_planar(planar, 3, height, width, start..start + rows + 2);
            let strip = self.conv1.forward(&input, 0, self.arch, true);
            let segments = [Segments::whole(strip.width()), Segments::whole(x.width())];
            max_pool_into(&strip, 2, 2, true, &mut x, start / 2, segments);
            start += rows;
        }
        let x = self.conv2.forward(&x, 0, self.arch, true);
        let x = self.conv3.forward(&x, 0, self.arch, true);
        let head = self.head.forward(&x, 0, self.arch, true);
        let (height, width) = (head.height(), head.width());
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

/// One crop's outputs: face probability, regression, landmarks (none for RNet).
type CropOutput = (f32, Vec<f32>, Vec<f32>);

impl CropOutputs {
    /// The `network`'s outputs for each crop of `side`² in `planar`, run on maps of at most
    /// `per_map` crops side by side ([`Segments`]; RNet's 22 px wide first layer filled 69% of a
    /// tile's 32 columns alone, its last 19%), the maps in parallel, collected in the crops'
    /// order. A few crops are shared out evenly between the threads (ONet's five on a 128 px
    /// face ran as one map on one core); a map's outputs do not depend on its neighbours.
    fn of(
        planar: &[f32],
        side: usize,
        per_map: usize,
        network: impl Fn(&Maps, Segments, usize) -> Vec<CropOutput> + Sync,
    ) -> Self {
        let per_crop = 3 * side * side;
        let crops = planar.len() / per_crop;
        let per_map = per_map
            .min(crops.div_ceil(rayon::current_num_threads()))
            .max(1);
        let results: Vec<Vec<CropOutput>> = planar
            .par_chunks(per_map * per_crop)
            .map(|group| {
                let maps = Maps::from_planar(group, 3, side, side, 0..side);
                network(&maps, Segments::whole(side), group.len() / per_crop)
            })
            .collect();
        let mut out = CropOutputs::default();
        for (face, regression, points) in results.into_iter().flatten() {
            out.face.push(face);
            out.regression.extend(regression);
            out.points.extend(points);
        }
        out
    }
}

/// Crops side by side in one map of RNet ([`CropOutputs::of`]): 384 columns.
const RNET_PER_MAP: usize = 16;
/// Crops side by side in one map of ONet: 384 columns.
const ONET_PER_MAP: usize = 8;

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
        self.forward_side_by_side(planar, RNET_PER_MAP)
    }

    /// [`CpuRNet::forward`] on maps of `per_map` crops.
    fn forward_side_by_side(&self, planar: &[f32], per_map: usize) -> CropOutputs {
        let side = crate::nets::RNET_SIDE;
        CropOutputs::of(planar, side, per_map, |input, s, crops| {
            let x = self.conv1.forward(input, 0, self.arch, false);
            let (x, s) = max_pool_crops(&x, 3, 2, crops, s.conv(&self.conv1));
            let x = self.conv2.forward(&x, 0, self.arch, false);
            let (x, s) = max_pool_crops(&x, 3, 2, crops, s.conv(&self.conv2));
            let x = self.conv3.forward(&x, 0, self.arch, false);
            let s = s.conv(&self.conv3);
            (0..crops)
                .map(|k| {
                    let x = self.dense4.forward(&flatten_whc(&x, k * s.stride, s.valid));
                    let logits = self.face.forward(&x);
                    (
                        face_probability(logits[0], logits[1]),
                        self.regression.forward(&x),
                        Vec::new(),
                    )
                })
                .collect()
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
        self.forward_side_by_side(planar, ONET_PER_MAP)
    }

    /// [`CpuONet::forward`] on maps of `per_map` crops.
    fn forward_side_by_side(&self, planar: &[f32], per_map: usize) -> CropOutputs {
        let side = crate::nets::ONET_SIDE;
        CropOutputs::of(planar, side, per_map, |input, s, crops| {
            let x = self.conv1.forward(input, 0, self.arch, false);
            let (x, s) = max_pool_crops(&x, 3, 2, crops, s.conv(&self.conv1));
            let x = self.conv2.forward(&x, 0, self.arch, false);
            let (x, s) = max_pool_crops(&x, 3, 2, crops, s.conv(&self.conv2));
            let x = self.conv3.forward(&x, 0, self.arch, false);
            let (x, s) = max_pool_crops(&x, 2, 2, crops, s.conv(&self.conv3));
            let x = self.conv4.forward(&x, 0, self.arch, false);
            let s = s.conv(&self.conv4);
            (0..crops)
                .map(|k| {
                    let x = self.dense5.forward(&flatten_whc(&x, k * s.stride, s.valid));
                    let logits = self.face.forward(&x);
                    (
                        face_probability(logits[0], logits[1]),
                        self.regression.forward(&x),
                        self.points.forward(&x),
                    )
                })
                .collect()
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
        // odd and even sides, the smallest level, one wider than a SIMD tile's padding; levels
        // of several strips of the first layer, ending in an odd strip (67: 32 + 33 rows; 101:
        // 32 + 32 + 3) or an even one (96: 32 + 32 + 30)
        for (seed, (height, width)) in [
            (12, 12),
            (13, 29),
            (40, 33),
            (57, 130),
            (96, 71),
            (67, 40),
            (101, 50),
        ]
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
        // several maps of crops side by side, the last one part full
        for (side, batch) in [
            (nets::RNET_SIDE, 2 * RNET_PER_MAP + 5),
            (nets::ONET_SIDE, 2 * ONET_PER_MAP + 3),
        ] {
            let planar: Vec<f32> = (0..batch)
                .flat_map(|b| input(side, side, 7 + b as u32))
                .collect();
            let tensor = Tensor::<4>::from_data(
                TensorData::new(planar.clone(), [batch, 3, side, side]),
                &device,
            );
            let (ours, alone, regression, points, face) = if side == nets::RNET_SIDE {
                let (regression, face) = nets.rnet.forward(tensor);
                let alone = cpu.rnet.forward_side_by_side(&planar, 1);
                (cpu.rnet.forward(&planar), alone, regression, None, face)
            } else {
                let (regression, points, face) = nets.onet.forward(tensor);
                let alone = cpu.onet.forward_side_by_side(&planar, 1);
                (
                    cpu.onet.forward(&planar),
                    alone,
                    regression,
                    Some(points),
                    face,
                )
            };
            // side by side, each crop's outputs are those of the crop alone, to the bit
            assert_eq!(
                (&ours.face, &ours.regression, &ours.points),
                (&alone.face, &alone.regression, &alone.points),
                "{side} px"
            );
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
