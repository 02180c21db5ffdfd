//! Face images for training and evaluation, held in memory as 8-bit RGB.
//!
//! A dataset is any folder of images. When it has a CelebA-style `meta.csv` (columns `file`,
//! `identity` and `split` among others), splits and identities come from it; a folder without one
//! has no splits, so training (which takes `train` and `val`) needs it. Read by
//! `faketagger_attacks::dataset`, the project's one reader of face folders.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use rand::{Rng, SeedableRng};

use crate::TrainError;

/// One face, resized to the set's resolution.
#[derive(Debug, Clone)]
pub struct Face {
    /// File the face came from.
    pub path: PathBuf,
    /// Identity label from `meta.csv`, if any.
    pub identity: Option<String>,
    /// RGB, row-major, `resolution²·3` bytes.
    pub rgb: Vec<u8>,
}

/// Faces of one split, all at one square resolution.
#[derive(Debug, Clone)]
pub struct FaceSet {
    /// The faces, in `meta.csv` (or sorted file name) order.
    pub faces: Vec<Face>,
    /// Side of every face.
    pub resolution: usize,
}

fn dataset_err(path: &Path, reason: impl ToString) -> TrainError {
    TrainError::Dataset {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl FaceSet {
    /// Loads the faces of `split` (all faces when `None` or `"all"`; a named split needs `meta.csv`)
    /// from `dir`, at most `limit` of them, resized to `resolution`².
    pub fn load(
        dir: &Path,
        split: Option<&str>,
        resolution: usize,
        limit: Option<usize>,
    ) -> Result<Self, TrainError> {
        let entries = list(dir, split)?;
        let limit = limit.unwrap_or(usize::MAX);
        let mut faces = Vec::new();
        for (path, identity) in entries.into_iter().take(limit) {
            let img = image::open(&path).map_err(|e| dataset_err(&path, e))?;
            let side = u32::try_from(resolution).map_err(|e| dataset_err(dir, e))?;
            let img = if (img.width(), img.height()) == (side, side) {
                img.to_rgb8()
            } else {
                image::imageops::resize(&img.to_rgb8(), side, side, FilterType::Triangle)
            };
            faces.push(Face {
                path,
                identity,
                rgb: img.into_raw(),
            });
        }
        if faces.is_empty() {
            return Err(dataset_err(dir, "no images found for this split"));
        }
        Ok(Self { faces, resolution })
    }

    /// Number of faces.
    pub fn len(&self) -> usize {
        self.faces.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.faces.is_empty()
    }

    /// The faces at `indices` as a `[B, 3, R, R]` tensor in 0..1, each flipped left–right when
    /// its entry in `flips` is true.
    pub fn batch(&self, indices: &[usize], flips: &[bool], device: &Device) -> Tensor<4> {
        let r = self.resolution;
        let mut data = Vec::with_capacity(indices.len() * 3 * r * r);
        for (k, &i) in indices.iter().enumerate() {
            let rgb = &self.faces[i % self.faces.len()].rgb;
            let flip = flips.get(k).copied().unwrap_or(false);
            for c in 0..3 {
                for y in 0..r {
                    for x in 0..r {
                        let sx = if flip { r - 1 - x } else { x };
                        data.push(f32::from(rgb[(y * r + sx) * 3 + c]) / 255.0);
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(data, [indices.len(), 3, r, r]), device)
    }

    /// Face `index` as an image.
    pub fn image(&self, index: usize) -> image::RgbImage {
        let side = self.resolution as u32;
        image::RgbImage::from_raw(side, side, self.faces[index % self.faces.len()].rgb.clone())
            .unwrap_or_else(|| image::RgbImage::new(side, side))
    }

    /// A random batch of `size` faces with random flips, each replaced with probability
    /// `scenes` by a [`scene`](Self::scene) (drawn only when positive, so that runs without
    /// scenes keep their random stream).
    pub fn random_batch(
        &self,
        size: usize,
        scenes: f32,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Tensor<4> {
        if scenes <= 0.0 {
            let indices: Vec<usize> = (0..size).map(|_| rng.random_range(0..self.len())).collect();
            let flips: Vec<bool> = (0..size).map(|_| rng.random()).collect();
            return self.batch(&indices, &flips, device);
        }
        let images: Vec<image::RgbImage> = (0..size)
            .map(|_| {
                if rng.random::<f32>() < scenes {
                    self.scene(rng)
                } else {
                    let face = self.image(rng.random_range(0..self.len()));
                    if rng.random() {
                        image::imageops::flip_horizontal(&face)
                    } else {
                        face
                    }
                }
            })
            .collect();
        self.of_images(&images)
            .batch(&(0..size).collect::<Vec<_>>(), &[], device)
    }

    /// `count` scenes drawn from a generator seeded with `seed`: a fixed set of photos that
    /// are not aligned faces, for validation.
    pub fn scenes(&self, count: usize, seed: u64) -> FaceSet {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let images: Vec<image::RgbImage> = (0..count).map(|_| self.scene(&mut rng)).collect();
        self.of_images(&images)
    }

    /// A set of images of this set's resolution, named `scene-K`.
    fn of_images(&self, images: &[image::RgbImage]) -> FaceSet {
        FaceSet {
            faces: images
                .iter()
                .enumerate()
                .map(|(k, img)| Face {
                    path: format!("scene-{k}").into(),
                    identity: None,
                    rgb: img.as_raw().clone(),
                })
                .collect(),
            resolution: self.resolution,
        }
    }

    /// A photo that is not an aligned face, at the set's resolution, made from this set's faces
    /// or drawn: what a whole photo's 128 px copy looks like to the networks (the engine tags a
    /// landscape, a logo or a grey copy the same way as a face). One of, equally likely:
    /// - a close-up: 10–50% of a face's area (skin, hair, an eye, the background), resized up;
    /// - a mosaic: four faces, small, in the quarters of a random split;
    /// - a graphic: a flat colour or a gradient with 1–4 flat rectangles and discs (a logo, a
    ///   chart, a screenshot: the flat areas where a tag shows first);
    /// - a grey copy of a face or of a close-up;
    /// - a face turned a quarter, half or three-quarter turn;
    /// - dead leaves ([`dead_leaves`]): the sharp edges, saturated colours and dark and bright
    ///   patches of studio and outdoor photos, which the soft, mid-toned aligned faces lack;
    /// - a face or close-up sharpened (an unsharp mask of σ 1–2, amount 1–3).
    pub fn scene(&self, rng: &mut impl Rng) -> image::RgbImage {
        use image::imageops::{self, FilterType};
        let side = self.resolution as u32;
        let face = |rng: &mut dyn rand::RngCore| self.image(rng.random_range(0..self.len()));
        let close_up = |rng: &mut dyn rand::RngCore| {
            let img = face(rng);
            let area = rng.random_range(0.1f32..0.5);
            let aspect = rng.random_range(0.75f32..1.33);
            let w = ((area * aspect).sqrt() * side as f32).clamp(4.0, side as f32) as u32;
            let h = ((area / aspect).sqrt() * side as f32).clamp(4.0, side as f32) as u32;
            let (x, y) = (
                rng.random_range(0..=side - w),
                rng.random_range(0..=side - h),
            );
            let crop = imageops::crop_imm(&img, x, y, w, h).to_image();
            imageops::resize(&crop, side, side, FilterType::Triangle)
        };
        match rng.random_range(0..7u8) {
            0 => close_up(rng),
            1 => {
                let (sx, sy) = (
                    rng.random_range(side * 3 / 10..=side * 7 / 10),
                    rng.random_range(side * 3 / 10..=side * 7 / 10),
                );
                let mut out = image::RgbImage::new(side, side);
                for (x, y, w, h) in [
                    (0, 0, sx, sy),
                    (sx, 0, side - sx, sy),
                    (0, sy, sx, side - sy),
                    (sx, sy, side - sx, side - sy),
                ] {
                    let small = imageops::resize(&face(rng), w, h, FilterType::Triangle);
                    imageops::replace(&mut out, &small, i64::from(x), i64::from(y));
                }
                out
            }
            2 => graphic(side, rng),
            3 => {
                let img = if rng.random() {
                    close_up(rng)
                } else {
                    face(rng)
                };
                image::DynamicImage::ImageLuma8(imageops::grayscale(&img)).to_rgb8()
            }
            4 => match rng.random_range(0..3u8) {
                0 => imageops::rotate90(&face(rng)),
                1 => imageops::rotate180(&face(rng)),
                _ => imageops::rotate270(&face(rng)),
            },
            5 => dead_leaves(side, &face(rng), rng),
            _ => {
                let img = if rng.random() {
                    close_up(rng)
                } else {
                    face(rng)
                };
                let sigma = rng.random_range(1.0f32..2.0);
                let amount = rng.random_range(1.0f32..3.0);
                let blurred = imageops::blur(&img, sigma);
                image::RgbImage::from_fn(side, side, |x, y| {
                    let (p, b) = (img.get_pixel(x, y).0, blurred.get_pixel(x, y).0);
                    image::Rgb([0, 1, 2].map(|c| {
                        let v = f32::from(p[c]) + amount * (f32::from(p[c]) - f32::from(b[c]));
                        v.clamp(0.0, 255.0).round() as u8
                    }))
                })
            }
        }
    }
}

/// The dead-leaves model of natural images (Lee, Mumford and Huang 2001): opaque discs of
/// random colours, radii drawn with density ∝ r⁻³ between 1 px and half the side, dropped one
/// over another until the frame is covered, so that edges are sharp and sizes scale-invariant
/// as in photos. Half the colours are pixels of `palette` (a photo's colours), the rest uniform,
/// saturated, or near black or white (where a luminance tag clips); a light blur (σ ≤ 0.8) on
/// half of them.
fn dead_leaves(side: u32, palette: &image::RgbImage, rng: &mut impl Rng) -> image::RgbImage {
    let s = side as f32;
    let (r_min, r_max) = (s / 48.0, s);
    let mut pixels = vec![[0f32; 3]; (side * side) as usize];
    let mut covered = vec![false; pixels.len()];
    let mut left = pixels.len();
    // discs are drawn front to back: a pixel keeps the first disc that covers it
    for _ in 0..4000 {
        if left == 0 {
            break;
        }
        // inverse CDF of p(r) ∝ r⁻³ on [r_min, r_max]
        let u: f32 = rng.random();
        let r = (r_min.powi(-2) - u * (r_min.powi(-2) - r_max.powi(-2))).powf(-0.5);
        let (cx, cy) = (rng.random_range(-r..s + r), rng.random_range(-r..s + r));
        let colour: [f32; 3] = match rng.random_range(0..8u8) {
            0 => [0, 1, 2].map(|_| if rng.random() { 1.0 } else { 0.0 }),
            1 => [0, 1, 2].map(|_| rng.random_range(0.0..0.06)),
            2 | 3 => [rng.random(), rng.random(), rng.random()],
            _ => {
                let (w, h) = palette.dimensions();
                let p = palette
                    .get_pixel(rng.random_range(0..w), rng.random_range(0..h))
                    .0;
                p.map(|v| f32::from(v) / 255.0)
            }
        };
        let (x0, x1) = (
            (cx - r).max(0.0) as u32,
            ((cx + r).ceil().max(0.0) as u32).min(side),
        );
        let (y0, y1) = (
            (cy - r).max(0.0) as u32,
            ((cy + r).ceil().max(0.0) as u32).min(side),
        );
        for y in y0..y1 {
            for x in x0..x1 {
                let k = (y * side + x) as usize;
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if !covered[k] && dx * dx + dy * dy <= r * r {
                    covered[k] = true;
                    pixels[k] = colour;
                    left -= 1;
                }
            }
        }
    }
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        let p = pixels[(y * side + x) as usize];
        image::Rgb(p.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    if rng.random() {
        image::imageops::blur(&img, rng.random_range(0.3f32..0.8))
    } else {
        img
    }
}

/// A drawn graphic of `side`²: a flat colour or a two-colour gradient, with 1–4 flat rectangles
/// and discs on it.
fn graphic(side: u32, rng: &mut impl Rng) -> image::RgbImage {
    let mut colour = || -> [f32; 3] { [rng.random(), rng.random(), rng.random()] };
    let (a, b) = (colour(), colour());
    let gradient = rng.random::<bool>();
    let (dx, dy): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
    let s = side as f32;
    let mut pixels: Vec<[f32; 3]> = (0..side * side)
        .map(|k| {
            if !gradient {
                return a;
            }
            let (x, y) = ((k % side) as f32 / s, (k / side) as f32 / s);
            let t = ((dx * x + dy * y) / (dx.abs() + dy.abs()).max(1e-3) + 0.5).clamp(0.0, 1.0);
            [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * t)
        })
        .collect();
    for _ in 0..rng.random_range(1..=4) {
        let fill = [rng.random(), rng.random(), rng.random()];
        let disc = rng.random::<bool>();
        let (cx, cy) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let (rx, ry) = (
            rng.random_range(0.05..0.4) * s,
            rng.random_range(0.05..0.4) * s,
        );
        for (k, p) in pixels.iter_mut().enumerate() {
            let (x, y) = ((k as u32 % side) as f32 - cx, (k as u32 / side) as f32 - cy);
            let inside = if disc {
                (x / rx).powi(2) + (y / ry).powi(2) <= 1.0
            } else {
                x.abs() <= rx && y.abs() <= ry
            };
            if inside {
                *p = fill;
            }
        }
    }
    image::RgbImage::from_fn(side, side, |x, y| {
        let p = pixels[(y * side + x) as usize];
        image::Rgb(p.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

/// The files of `split` with their identities (`faketagger_attacks::dataset`, the project's one
/// reader of face folders).
fn list(dir: &Path, split: Option<&str>) -> Result<Vec<(PathBuf, Option<String>)>, TrainError> {
    Ok(faketagger_attacks::dataset::list_faces(dir, split)
        .map_err(|e| dataset_err(dir, e))?
        .into_iter()
        .map(|face| (face.path, face.identity))
        .collect())
}
