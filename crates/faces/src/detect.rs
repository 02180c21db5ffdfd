//! The MTCNN cascade, step for step as facenet-pytorch 2.6.0's `detect_face`
//! (`facenet_pytorch/models/utils/detect_face.py`): the same pyramid, the same area resampling
//! (PyTorch's `interpolate(mode="area")`, an adaptive average pool), the same box arithmetic and
//! suppression rules, so that the two agree on the same photo.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use faketagger_model::{Backend, weights};
use image::RgbImage;
use rayon::prelude::*;

use faketagger_model::cpu::for_each_chunk;

use crate::cpu_nets::{CpuMtcnn, CropOutputs};
use crate::nets::{Mtcnn, MtcnnConfig, ONET_SIDE, PNET_CELL, RNET_SIDE};
use crate::{FaceError, Landmarks, MTCNN_NAME};

/// MTCNN's input normalisation: `(v − 127.5) · 1/128`.
const PIXEL_MEAN: f32 = 127.5;
const PIXEL_SCALE: f32 = 0.0078125;
/// PNet's output stride on its input.
const PNET_STRIDE: f32 = 2.0;
/// Suppression within one pyramid level, across levels, after RNet, after ONet (the reference's).
const NMS_LEVEL: f32 = 0.5;
const NMS_PROPOSALS: f32 = 0.7;
const NMS_REFINED: f32 = 0.7;
const NMS_OUTPUT: f32 = 0.7;

/// Scales of a face's final box (made square about its centre) in the views
/// [`Detector::detect_steady`] reads again, each as it is and mirrored: six ONet crops per face,
/// about 4 ms on 2 cores (a 128 px face's detection 8 → 12 ms). On 100 val faces tagged and
/// moved into the next face (`cargo run --release --example inner_search --
/// ../shared/datasets/celeba-faces128 val 100 [--plain]`), the engine's inner-crop search read
/// 89 of the moved faces with the cascade's landmarks and 98 with these; the detector's inner
/// crop alone 69 → 88. Prototypes read about as many: the final box alone without views (98 of
/// the engine's search), three scales × nine shifts of 4% (54 crops, 97), the cascade run again
/// on the photo scaled ×1.25 and ×1.5 (58 of 60).
pub const STEADY_SCALES: [f32; 3] = [0.92, 1.0, 1.08];
/// A view counts when ONet's face probability is above this (the reference's ONet threshold).
const STEADY_THRESHOLD: f32 = 0.7;
/// Which landmark of a mirrored face each one is: the eyes and the mouth corners swap sides.
const MIRRORED: [usize; 5] = [1, 0, 2, 4, 3];

/// The landmarks of a face in an image `width` wide, as they lie in the image mirrored left to
/// right (x → width − x; the eyes and the mouth corners swap sides), in the detector's order.
pub fn mirrored(landmarks: &Landmarks, width: f32) -> Landmarks {
    MIRRORED.map(|k| [width - landmarks[k][0], landmarks[k][1]])
}

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Side in pixels of the smallest face searched for: the pyramid's levels whose 12-pixel
    /// window is smaller are not run. Smaller finds smaller faces and costs more (a level costs
    /// `(12 / its window)²` of the photo).
    pub min_face: f32,
    /// The `min_face` whose pyramid the levels are taken from (facenet-pytorch's 20 px, what
    /// DeepFake tools that run MTCNN use): its levels from the first whose window is at least
    /// [`DetectOptions::min_face`], so that a face is found on the same levels, with the same
    /// boxes and landmarks, as those tools find it (a pyramid of its own would put its levels a
    /// little apart from theirs). A `min_face` below it starts the pyramid itself.
    pub pyramid_from: f32,
    /// Face-probability thresholds of PNet, RNet and ONet.
    pub thresholds: [f32; 3],
    /// Scale step between pyramid levels.
    pub pyramid_factor: f32,
}

impl Default for DetectOptions {
    /// facenet-pytorch's defaults: 20 px, (0.6, 0.7, 0.7), 0.709.
    fn default() -> Self {
        Self {
            min_face: 20.0,
            pyramid_from: 20.0,
            thresholds: [0.6, 0.7, 0.7],
            pyramid_factor: 0.709,
        }
    }
}

impl DetectOptions {
    /// Checks the options are meaningful.
    pub fn validate(&self) -> Result<(), FaceError> {
        let bad = |reason: String| Err(FaceError::InvalidOptions { reason });
        for (name, side) in [
            ("min_face", self.min_face),
            ("pyramid_from", self.pyramid_from),
        ] {
            if !(side.is_finite() && side >= PNET_CELL as f32) {
                return bad(format!(
                    "{name} {side} must be at least PNet's window, {PNET_CELL} px"
                ));
            }
        }
        if !(self.pyramid_factor > 0.1 && self.pyramid_factor < 0.95) {
            return bad(format!(
                "pyramid_factor {} must lie in (0.1, 0.95)",
                self.pyramid_factor
            ));
        }
        if let Some(t) = self.thresholds.iter().find(|t| !(0.0..1.0).contains(*t)) {
            return bad(format!("threshold {t} must lie in [0, 1)"));
        }
        Ok(())
    }

    /// The pyramid's scales for a photo of `width` × `height`: those of `pyramid_from`'s
    /// pyramid (or `min_face`'s, when smaller) whose window, `12 / scale` px of the photo, is at
    /// least `min_face` (to a rounding).
    fn scales(&self, width: u32, height: u32) -> Vec<f64> {
        let anchor = self.pyramid_from.min(self.min_face);
        let first = PNET_CELL as f64 / f64::from(anchor);
        let mut shortest = f64::from(width.min(height)) * first;
        let mut scale = first;
        let mut scales = Vec::new();
        while shortest >= PNET_CELL as f64 {
            if PNET_CELL as f64 / scale >= f64::from(self.min_face) * (1.0 - 1e-6) {
                scales.push(scale);
            }
            scale *= f64::from(self.pyramid_factor);
            shortest *= f64::from(self.pyramid_factor);
        }
        scales
    }
}

/// One face found.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// `[x1, y1, x2, y2]` in pixels (may reach past the photo's edges).
    pub bbox: [f32; 4],
    /// ONet's face probability.
    pub score: f32,
    /// Eyes, nose, mouth corners (left before right in the image), in pixels: the cascade's, as
    /// the reference (and a DeepFake tool that runs it) finds them.
    pub landmarks: Landmarks,
    /// The same landmarks steadied by [`Detector::detect_steady`] (from [`Detector::detect`],
    /// the cascade's): where the engine places and finds a face's inner crop.
    pub steadied: Landmarks,
}

/// A candidate box with its score and the regression that refines it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    bbox: [f32; 4],
    score: f32,
    regression: [f32; 4],
}

/// Resamplings of at least this many pixels run in parallel rows.
const PARALLEL_PIXELS: usize = 1 << 16;

/// An RGB photo as three summed-area tables of the 8-bit values, so that every cell of an area
/// resampling costs four look-ups whatever its size. The tables wrap around `u32` (half the
/// memory of `u64`, and a 1080p photo's tables were 22 ms of page faults and writes): a region's
/// sum, two tables' entries added and two taken away, comes out exact modulo 2³², hence exact
/// for any region of fewer than 2³² / 255 (16.8 million) pixels, far more than a cell of a
/// pyramid level or of a crop ever covers.
struct Planes {
    sums: Vec<u32>,
    width: usize,
    height: usize,
}

impl Planes {
    fn new(image: &RgbImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let stride = width + 1;
        let table = stride * (height + 1);
        let mut sums = vec![0u32; 3 * table];
        let raw = image.as_raw();
        let line = 3 * width;
        // bands of rows on every core, each band's tables from the columns' sums above it: the
        // three tables of a 1080p photo are 24 MB, whose writes (and page faults) one task per
        // table shared unevenly between two cores
        let bands = match width * height >= PARALLEL_PIXELS {
            true => 2 * rayon::current_num_threads(),
            false => 1,
        };
        let band_rows = height.div_ceil(bands).max(1);
        // each band's column sums, the channels interleaved as in the photo (wrapping)
        let band_columns: Vec<Vec<u32>> = raw
            .par_chunks(band_rows * line.max(1))
            .map(|rows| {
                let mut columns = vec![0u32; line];
                for row in rows.chunks_exact(line.max(1)) {
                    for (sum, &v) in columns.iter_mut().zip(row) {
                        *sum = sum.wrapping_add(u32::from(v));
                    }
                }
                columns
            })
            .collect();
        // the column sums above each band
        let mut above = vec![vec![0u32; line]];
        for columns in &band_columns {
            let next = above[above.len() - 1]
                .iter()
                .zip(columns)
                .map(|(a, b)| a.wrapping_add(*b))
                .collect();
            above.push(next);
        }
        // each table's rows 1..=height (row 0 stays zero), band by band
        let (t0, rest) = sums.split_at_mut(table);
        let (t1, t2) = rest.split_at_mut(table);
        let chunk = band_rows * stride;
        let fill = |(k, tables): (usize, [&mut [u32]; 3])| {
            for (c, rows) in tables.into_iter().enumerate() {
                // the table's row at the band's top: the sums of everything above it
                let mut top = vec![0u32; stride];
                let mut acc = 0u32;
                for (out, &sum) in top[1..].iter_mut().zip(above[k].iter().skip(c).step_by(3)) {
                    acc = acc.wrapping_add(sum);
                    *out = acc;
                }
                for i in 0..rows.len() / stride {
                    let (before, this) = rows.split_at_mut(i * stride);
                    let up = match i {
                        0 => &top[..],
                        _ => &before[(i - 1) * stride..],
                    };
                    let y = k * band_rows + i;
                    let pixels = raw[y * line..(y + 1) * line].iter().skip(c).step_by(3);
                    let mut row = 0u32;
                    for ((out, &up), &v) in this[1..stride].iter_mut().zip(&up[1..]).zip(pixels) {
                        row = row.wrapping_add(u32::from(v));
                        *out = up.wrapping_add(row);
                    }
                }
            }
        };
        t0[stride..]
            .par_chunks_mut(chunk)
            .zip(t1[stride..].par_chunks_mut(chunk))
            .zip(t2[stride..].par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(k, ((a, b), c))| fill((k, [a, b, c])));
        Self {
            sums,
            width,
            height,
        }
    }

    /// The region `[x0, x1) × [y0, y1)` resampled to `out_w` × `out_h` by PyTorch's area
    /// interpolation (an adaptive average pool: output cell `i` averages inputs
    /// `⌊i·n/m⌋ .. ⌈(i+1)·n/m⌉`), normalised for the networks, appended to `out` planar. The
    /// sums are exact and divided once in f64, as PyTorch's CPU kernel accumulates f32 in double:
    /// the means are the reference's to the last bit.
    fn area_resample(&self, region: [usize; 4], out_w: usize, out_h: usize, out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + 3 * out_h * out_w, 0.0);
        self.area_resample_into(region, out_w, out_h, &mut out[start..]);
    }

    /// [`Planes::area_resample`] into `out`, `3 · out_h · out_w` values.
    fn area_resample_into(&self, region: [usize; 4], out_w: usize, out_h: usize, out: &mut [f32]) {
        let [x0, y0, x1, y1] = region;
        let (in_w, in_h) = (x1 - x0, y1 - y0);
        let bins = |n: usize, m: usize, at: usize| -> Vec<(usize, usize)> {
            (0..m)
                .map(|i| (at + (i * n) / m, at + ((i + 1) * n).div_ceil(m)))
                .collect()
        };
        let (cols, rows) = (bins(in_w, out_w, x0), bins(in_h, out_h, y0));
        let stride = self.width + 1;
        let table = stride * (self.height + 1);
        // output row `i` of the three planes one after another
        let row = |(i, dst): (usize, &mut [f32])| {
            let (c, (r0, r1)) = (i / out_h, rows[i % out_h]);
            let t = &self.sums[c * table..(c + 1) * table];
            for (d, &(c0, c1)) in dst.iter_mut().zip(&cols) {
                let sum = t[r1 * stride + c1]
                    .wrapping_add(t[r0 * stride + c0])
                    .wrapping_sub(t[r0 * stride + c1])
                    .wrapping_sub(t[r1 * stride + c0]);
                let mean = (sum as f64 / ((r1 - r0) * (c1 - c0)) as f64) as f32;
                *d = (mean - PIXEL_MEAN) * PIXEL_SCALE;
            }
        };
        // a pyramid level in parallel; a crop (one of many) in one go
        let parallel = out_h * out_w >= PARALLEL_PIXELS;
        for_each_chunk(out, out_w, parallel, row);
    }

    /// facenet-pytorch's `pad`: a box truncated to whole pixels and clipped to the photo, as the
    /// region `[x0, y0, x1, y1)`; `None` when nothing of it lies inside.
    fn clip(&self, bbox: [f32; 4]) -> Option<[usize; 4]> {
        let [x, y, ex, ey] = bbox.map(|v| v.trunc() as i64);
        let (x, y) = (x.max(1), y.max(1));
        let (ex, ey) = (ex.min(self.width as i64), ey.min(self.height as i64));
        (ex > x - 1 && ey > y - 1)
            .then(|| [(x - 1) as usize, (y - 1) as usize, ex as usize, ey as usize])
    }
}

/// Intersection over union the way torchvision's `nms` counts it (areas without the +1).
fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

/// Overlap over the smaller box, areas with the +1 (the reference's numpy `nms(..., 'Min')`).
fn overlap_min(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
    w * h / area(a).min(area(b))
}

/// Greedy non-maximum suppression: keeps the best-scoring box, drops those overlapping it by more
/// than `threshold`, repeats. Returns indices by decreasing score.
fn suppress<T>(
    items: &[T],
    bbox: impl Fn(&T) -> ([f32; 4], f32),
    threshold: f32,
    overlap: fn(&[f32; 4], &[f32; 4]) -> f32,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| bbox(&items[b]).1.total_cmp(&bbox(&items[a]).1));
    let mut alive = vec![true; items.len()];
    let mut keep = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        if !alive[rank] {
            continue;
        }
        keep.push(i);
        let kept = bbox(&items[i]).0;
        for (later, &j) in order.iter().enumerate().skip(rank + 1) {
            if alive[later] && overlap(&kept, &bbox(&items[j]).0) > threshold {
                alive[later] = false;
            }
        }
    }
    keep
}

fn pick<T: Copy>(items: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| items[i]).collect()
}

/// The reference's `rerec`: the box made square around its centre, on its longer side.
fn square(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

/// The reference's `bbreg`: corners moved by the regression, in units of the box's side (+1).
fn refine(b: [f32; 4], r: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
    [
        b[0] + r[0] * w,
        b[1] + r[1] * h,
        b[2] + r[2] * w,
        b[3] + r[3] * h,
    ]
}

fn values(tensor: TensorData, network: &'static str) -> Result<Vec<f32>, FaceError> {
    tensor.try_to_vec::<f32>().map_err(|e| FaceError::Network {
        network,
        reason: format!("{e:?}"),
    })
}

/// MTCNN, ready to run.
#[derive(Debug)]
pub struct Detector {
    nets: Mtcnn,
    /// The networks without burn, on the flex backend (`cpu_nets`).
    cpu: Option<CpuMtcnn>,
    device: Device,
}

impl Detector {
    /// Loads `mtcnn.{json,bpk}` from `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, FaceError> {
        let (_, nets) = weights::load(dir, MTCNN_NAME, device, |c: &MtcnnConfig, d| Ok(c.init(d)))?;
        Self::new(nets, device)
    }

    /// Builds the detector from the bytes of its config and record (e.g. compiled into a binary
    /// with `include_bytes!`); `source` names them in errors.
    pub fn from_parts(
        config: &[u8],
        record: impl Into<weights::RecordBytes>,
        source: &Path,
        device: &Device,
    ) -> Result<Self, FaceError> {
        let (_, nets) =
            weights::from_parts(config, record, source, device, |c: &MtcnnConfig, d| {
                Ok(c.init(d))
            })?;
        Self::new(nets, device)
    }

    /// On the flex backend the networks run on the CPU without burn, from the same weights.
    fn new(nets: Mtcnn, device: &Device) -> Result<Self, FaceError> {
        let on_flex = Backend::Flex.device().is_ok_and(|flex| flex == *device);
        let cpu = on_flex
            .then(|| nets.cpu())
            .transpose()
            .map_err(|reason| FaceError::Network {
                network: "MTCNN",
                reason,
            })?;
        Ok(Self {
            nets,
            cpu,
            device: device.clone(),
        })
    }

    /// The same detector with the networks on burn whatever the backend (the CPU path's
    /// reference).
    #[cfg(test)]
    pub(crate) fn on_burn(mut self) -> Self {
        self.cpu = None;
        self
    }

    /// Every face in `image` that passes the three stages, best score first.
    pub fn detect(
        &self,
        image: &RgbImage,
        options: &DetectOptions,
    ) -> Result<Vec<Face>, FaceError> {
        options.validate()?;
        self.cascade(&Planes::new(image), options)
    }

    /// PNet's candidates on the pyramid level at `scale`, suppressed within the level.
    fn propose_level(
        &self,
        planes: &Planes,
        scale: f64,
        options: &DetectOptions,
    ) -> Result<Vec<Candidate>, FaceError> {
        let (w, h) = (planes.width, planes.height);
        let out_h = (h as f64 * scale + 1.0) as usize;
        let out_w = (w as f64 * scale + 1.0) as usize;
        let mut level = Vec::new();
        planes.area_resample([0, 0, w, h], out_w, out_h, &mut level);
        let (face, regression, grid_w, cells) = match &self.cpu {
            Some(cpu) => match cpu.pnet.forward(&level, out_h, out_w) {
                Some(out) => (out.face, out.regression, out.width, out.height * out.width),
                None => return Ok(Vec::new()),
            },
            None => {
                let input = Tensor::<4>::from_data(
                    TensorData::new(level, [1, 3, out_h, out_w]),
                    &self.device,
                );
                let (regression, face) = self.nets.pnet.forward(input);
                let [_, grid_h, grid_w] = face.dims();
                let face = values(face.into_data(), "PNet")?;
                let regression = values(regression.into_data(), "PNet")?;
                (face, regression, grid_w, grid_h * grid_w)
            }
        };
        let scale = scale as f32;
        let mut found = Vec::new();
        for (cell, &score) in face.iter().enumerate() {
            if score < options.thresholds[0] {
                continue;
            }
            let (x, y) = ((cell % grid_w) as f32, (cell / grid_w) as f32);
            let corner = |offset: f32, v: f32| ((PNET_STRIDE * v + offset) / scale).floor();
            found.push(Candidate {
                bbox: [
                    corner(1.0, x),
                    corner(1.0, y),
                    corner(PNET_CELL as f32, x),
                    corner(PNET_CELL as f32, y),
                ],
                score,
                regression: std::array::from_fn(|k| regression[k * cells + cell]),
            });
        }
        let kept = suppress(&found, |c| (c.bbox, c.score), NMS_LEVEL, iou);
        Ok(pick(&found, &kept))
    }

    /// Stage 1: PNet over the pyramid; boxes regressed and squared.
    fn propose(
        &self,
        planes: &Planes,
        options: &DetectOptions,
    ) -> Result<Vec<[f32; 4]>, FaceError> {
        let (w, h) = (planes.width, planes.height);
        // on the CPU, the levels side by side on every core (each level's rows are parallel
        // too, but the small levels, their resampling and their suppression are not), kept in
        // their order; a device's networks take them one after another
        let scales = options.scales(w as u32, h as u32);
        let level = |&scale: &f64| self.propose_level(planes, scale, options);
        let levels: Vec<Vec<Candidate>> = match self.cpu {
            Some(_) => scales.par_iter().map(level).collect::<Result<_, _>>()?,
            None => scales.iter().map(level).collect::<Result<_, _>>()?,
        };
        let all: Vec<Candidate> = levels.into_iter().flatten().collect();
        let kept = suppress(&all, |c| (c.bbox, c.score), NMS_PROPOSALS, iou);
        Ok(pick(&all, &kept)
            .into_iter()
            .map(|c| {
                // Stage 1 regresses in units of the side without the +1.
                let b = c.bbox;
                let (rw, rh) = (b[2] - b[0], b[3] - b[1]);
                let r = c.regression;
                square([
                    b[0] + r[0] * rw,
                    b[1] + r[1] * rh,
                    b[2] + r[2] * rw,
                    b[3] + r[3] * rh,
                ])
            })
            .collect())
    }

    /// The boxes that lie at least partly inside the photo, with their crops resampled to
    /// `side` × `side` (planar, one after another), run through RNet or ONet.
    fn crops(
        &self,
        planes: &Planes,
        boxes: Vec<[f32; 4]>,
        side: usize,
        network: impl Fn(Vec<f32>, usize) -> Result<CropOutputs, FaceError>,
    ) -> Result<(Vec<[f32; 4]>, CropOutputs), FaceError> {
        let (kept, regions): (Vec<[f32; 4]>, Vec<[usize; 4]>) = boxes
            .into_iter()
            .filter_map(|b| Some((b, planes.clip(b)?)))
            .unzip();
        // the crops in parallel (a 1080p photo's 359 RNet crops took 6 ms one after another)
        let per_crop = 3 * side * side;
        let mut data = vec![0.0; regions.len() * per_crop];
        data.par_chunks_mut(per_crop)
            .zip(&regions)
            .for_each(|(out, &region)| planes.area_resample_into(region, side, side, out));
        if kept.is_empty() {
            return Ok((kept, CropOutputs::default()));
        }
        let outputs = network(data, kept.len())?;
        Ok((kept, outputs))
    }

    /// `n` planar `side` × `side` crops through a network: on the CPU networks when the detector
    /// has them, else on burn.
    fn run(
        &self,
        data: Vec<f32>,
        n: usize,
        side: usize,
        cpu: impl Fn(&CpuMtcnn, &[f32]) -> CropOutputs,
        burn: impl Fn(Tensor<4>) -> Result<CropOutputs, FaceError>,
    ) -> Result<CropOutputs, FaceError> {
        match &self.cpu {
            Some(networks) => Ok(cpu(networks, &data)),
            None => burn(Tensor::<4>::from_data(
                TensorData::new(data, [n, 3, side, side]),
                &self.device,
            )),
        }
    }

    /// ONet on `n` planar crops of [`ONET_SIDE`] pixels.
    fn onet(&self, data: Vec<f32>, n: usize) -> Result<CropOutputs, FaceError> {
        self.run(
            data,
            n,
            ONET_SIDE,
            |cpu, crops| cpu.onet.forward(crops),
            |batch| {
                let (regression, points, face) = self.nets.onet.forward(batch);
                Ok(CropOutputs {
                    face: values(face.into_data(), "ONet")?,
                    regression: values(regression.into_data(), "ONet")?,
                    points: values(points.into_data(), "ONet")?,
                })
            },
        )
    }

    /// [`Detector::detect`], then each face's landmarks steadied ([`Face::steadied`], see
    /// [`STEADY_SCALES`]); [`Face::landmarks`] stay the cascade's.
    pub fn detect_steady(
        &self,
        image: &RgbImage,
        options: &DetectOptions,
    ) -> Result<Vec<Face>, FaceError> {
        options.validate()?;
        let planes = Planes::new(image);
        let mut faces = self.cascade(&planes, options)?;
        self.steady_landmarks(&planes, &mut faces)?;
        Ok(faces)
    }

    /// The three stages on `planes`.
    fn cascade(&self, planes: &Planes, options: &DetectOptions) -> Result<Vec<Face>, FaceError> {
        let proposals = self.propose(planes, options)?;
        let refined = self.refine(planes, proposals, options.thresholds[1])?;
        self.output(planes, refined, options.thresholds[2])
    }

    /// Sets the steadied landmarks of `faces` (found by the cascade on `planes`): ONet reads
    /// each face again on its final box, made square and scaled by [`STEADY_SCALES`], each view
    /// as it is and mirrored, and the landmarks become the mean of the views ONet still calls a
    /// face (a view that would reach past the photo is left out: the reference stretches such
    /// crops). The cascade's landmarks come from ONet on RNet's box, off by a pixel or two on a
    /// 128 px face and differently on another copy of it; on the final box, in several views,
    /// they are steadier: the same face found again after it was moved into another photo
    /// (`faceswap:into`) is found where it was tagged. A face with no such view keeps the
    /// cascade's. Not part of the reference's cascade: [`Detector::detect`] alone is.
    fn steady_landmarks(&self, planes: &Planes, faces: &mut [Face]) -> Result<(), FaceError> {
        if faces.is_empty() {
            return Ok(());
        }
        let (w, h) = (planes.width as f32, planes.height as f32);
        // per view: the face it belongs to and its region
        let mut views: Vec<(usize, [usize; 4])> = Vec::new();
        for (i, face) in faces.iter().enumerate() {
            let b = square(face.bbox);
            let side = b[2] - b[0];
            let centre = [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
            for scale in STEADY_SCALES {
                let half = (side * scale / 2.0).round();
                let (x0, y0) = ((centre[0] - half).round(), (centre[1] - half).round());
                let (x1, y1) = (x0 + 2.0 * half, y0 + 2.0 * half);
                if half >= 1.0 && x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h {
                    views.push((i, [x0, y0, x1, y1].map(|v| v as usize)));
                }
            }
        }
        if views.is_empty() {
            return Ok(());
        }
        // each view twice: as it is, then mirrored (every row reversed)
        let per_crop = 3 * ONET_SIDE * ONET_SIDE;
        let mut data = vec![0.0; 2 * views.len() * per_crop];
        data.par_chunks_mut(2 * per_crop)
            .zip(&views)
            .for_each(|(out, &(_, region))| {
                let (plain, mirrored) = out.split_at_mut(per_crop);
                planes.area_resample_into(region, ONET_SIDE, ONET_SIDE, plain);
                for (m, p) in mirrored.chunks_mut(ONET_SIDE).zip(plain.chunks(ONET_SIDE)) {
                    m.iter_mut().zip(p.iter().rev()).for_each(|(m, p)| *m = *p);
                }
            });
        let out = self.onet(data, 2 * views.len())?;
        let mut sums = vec![([[0.0f32; 2]; 5], 0usize); faces.len()];
        for (k, &(i, [x0, y0, x1, y1])) in views.iter().enumerate() {
            let side = [(x1 - x0) as f32, (y1 - y0) as f32];
            for mirrored in [false, true] {
                let crop = 2 * k + usize::from(mirrored);
                if out.face[crop] <= STEADY_THRESHOLD {
                    continue;
                }
                // in the view's unit square (a mirrored view's landmarks mirrored back)
                let p = &out.points[10 * crop..10 * crop + 10];
                let seen: Landmarks = std::array::from_fn(|j| [p[j], p[j + 5]]);
                let unit = if mirrored {
                    self::mirrored(&seen, 1.0)
                } else {
                    seen
                };
                let (sum, n) = &mut sums[i];
                for (point, [u, v]) in sum.iter_mut().zip(unit) {
                    point[0] += x0 as f32 + side[0] * u;
                    point[1] += y0 as f32 + side[1] * v;
                }
                *n += 1;
            }
        }
        for (face, (sum, n)) in faces.iter_mut().zip(sums) {
            if n > 0 {
                face.steadied = sum.map(|p| p.map(|v| v / n as f32));
            }
        }
        Ok(())
    }

    /// Stage 2: RNet on 24 px crops.
    fn refine(
        &self,
        planes: &Planes,
        boxes: Vec<[f32; 4]>,
        threshold: f32,
    ) -> Result<Vec<[f32; 4]>, FaceError> {
        let rnet = |data, n| {
            self.run(
                data,
                n,
                RNET_SIDE,
                |cpu, crops| cpu.rnet.forward(crops),
                |batch| {
                    let (regression, face) = self.nets.rnet.forward(batch);
                    Ok(CropOutputs {
                        face: values(face.into_data(), "RNet")?,
                        regression: values(regression.into_data(), "RNet")?,
                        points: Vec::new(),
                    })
                },
            )
        };
        let (boxes, out) = self.crops(planes, boxes, RNET_SIDE, rnet)?;
        let CropOutputs {
            face, regression, ..
        } = out;
        let passed: Vec<Candidate> = boxes
            .iter()
            .enumerate()
            .filter(|&(i, _)| face[i] > threshold)
            .map(|(i, b)| Candidate {
                bbox: *b,
                score: face[i],
                regression: std::array::from_fn(|k| regression[4 * i + k]),
            })
            .collect();
        let kept = suppress(&passed, |c| (c.bbox, c.score), NMS_REFINED, iou);
        Ok(pick(&passed, &kept)
            .into_iter()
            .map(|c| square(refine(c.bbox, c.regression)))
            .collect())
    }

    /// Stage 3: ONet on 48 px crops: score, final box and landmarks.
    fn output(
        &self,
        planes: &Planes,
        boxes: Vec<[f32; 4]>,
        threshold: f32,
    ) -> Result<Vec<Face>, FaceError> {
        let (boxes, out) = self.crops(planes, boxes, ONET_SIDE, |data, n| self.onet(data, n))?;
        let CropOutputs {
            face,
            regression,
            points,
        } = out;
        let faces: Vec<Face> = boxes
            .iter()
            .enumerate()
            .filter(|&(i, _)| face[i] > threshold)
            .map(|(i, b)| {
                let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
                let p = &points[10 * i..10 * i + 10];
                let landmarks =
                    std::array::from_fn(|k| [w * p[k] + b[0] - 1.0, h * p[k + 5] + b[1] - 1.0]);
                Face {
                    bbox: refine(*b, std::array::from_fn(|k| regression[4 * i + k])),
                    score: face[i],
                    landmarks,
                    steadied: landmarks,
                }
            })
            .collect();
        let kept = suppress(&faces, |f| (f.bbox, f.score), NMS_OUTPUT, overlap_min);
        Ok(kept.into_iter().map(|i| faces[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A photo whose values are scattered over the whole byte range.
    fn scattered(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = |k: u32| ((x * 7919 + y * 104_729 + k * 31) % 256) as u8;
            image::Rgb([v(0), v(1), v(2)])
        })
    }

    #[test]
    fn the_tables_are_the_running_sums_whatever_the_bands() {
        // over the parallel size, a height no band count divides
        let (w, h) = (263u32, 251u32);
        let image = scattered(w, h);
        let (stride, rows) = (w as usize + 1, h as usize + 1);
        let mut naive = vec![0u32; 3 * stride * rows];
        for c in 0..3 {
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let v = u32::from(image.get_pixel(x as u32, y as u32).0[c]);
                    let at = |yy: usize, xx: usize| c * stride * rows + yy * stride + xx;
                    naive[at(y + 1, x + 1)] =
                        v + naive[at(y, x + 1)] + naive[at(y + 1, x)] - naive[at(y, x)];
                }
            }
        }
        for threads in [1, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let planes = pool.install(|| Planes::new(&image));
            assert!(planes.sums == naive, "{threads} threads");
        }
    }

    #[test]
    fn area_resampling_from_the_wrapping_tables_averages_exactly() {
        // a photo over the parallel size
        let (w, h) = (331u32, 257u32);
        let image = scattered(w, h);
        let planes = Planes::new(&image);
        for (region, out_w, out_h) in [
            ([0, 0, w as usize, h as usize], 47, 29),
            ([13, 5, 300, 250], 24, 24),
            ([100, 100, 101, 102], 3, 3),
        ] {
            let mut out = Vec::new();
            planes.area_resample(region, out_w, out_h, &mut out);
            let [x0, y0, x1, y1] = region;
            let bins = |n: usize, m: usize, at: usize, i: usize| {
                (at + (i * n) / m, at + ((i + 1) * n).div_ceil(m))
            };
            for c in 0..3 {
                for i in 0..out_h {
                    for j in 0..out_w {
                        let (r0, r1) = bins(y1 - y0, out_h, y0, i);
                        let (c0, c1) = bins(x1 - x0, out_w, x0, j);
                        let mut sum = 0u64;
                        for y in r0..r1 {
                            for x in c0..c1 {
                                sum += u64::from(image.get_pixel(x as u32, y as u32).0[c]);
                            }
                        }
                        let mean = (sum as f64 / ((r1 - r0) * (c1 - c0)) as f64) as f32;
                        let expected = (mean - PIXEL_MEAN) * PIXEL_SCALE;
                        assert_eq!(
                            out[(c * out_h + i) * out_w + j],
                            expected,
                            "{region:?} {c} {i} {j}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_larger_min_face_keeps_the_levels_of_the_tools_pyramid() {
        let tools = DetectOptions::default();
        let all = tools.scales(1920, 1080);
        // windows 20, 28.2, 39.9, …: 32 leaves the first two out, and keeps the rest exactly
        let at_32 = DetectOptions {
            min_face: 32.0,
            ..tools
        };
        assert_eq!(at_32.scales(1920, 1080), all[2..]);
        // a level whose window is the minimum is kept
        let at_window = DetectOptions {
            min_face: (PNET_CELL as f64 / all[1]) as f32,
            ..tools
        };
        assert_eq!(at_window.scales(1920, 1080), all[1..]);
        // below the pyramid's own minimum, the pyramid starts there
        let smaller = DetectOptions {
            min_face: 12.0,
            ..tools
        };
        let from_12 = smaller.scales(1920, 1080);
        assert_eq!(from_12[0], 1.0);
        assert!(from_12.len() > all.len());
        // a pyramid of its own: levels a little apart from the tools'
        let own = DetectOptions {
            min_face: 40.0,
            pyramid_from: 40.0,
            ..tools
        };
        assert_eq!(own.scales(1920, 1080)[0], 0.3);
        assert!(!all.contains(&0.3));
        // both sizes are checked
        for bad in [
            DetectOptions {
                pyramid_from: 5.0,
                ..tools
            },
            DetectOptions {
                pyramid_from: f32::NAN,
                ..tools
            },
        ] {
            assert!(bad.validate().is_err());
        }
    }
}
