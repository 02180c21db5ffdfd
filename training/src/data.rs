//! Face images for training and evaluation, held in memory as 8-bit RGB.
//!
//! A dataset is any folder of images. When it has a CelebA-style `meta.csv` (columns `file`,
//! `identity` and `split` among others), splits and identities come from it; a folder without one
//! has no splits, so training (which takes `train` and `val`) needs it. Read by
//! `faketagger_attacks::dataset`, the project's one reader of face folders.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use rand::Rng;

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

    /// A random batch of `size` faces with random flips.
    pub fn random_batch(&self, size: usize, rng: &mut impl Rng, device: &Device) -> Tensor<4> {
        let indices: Vec<usize> = (0..size).map(|_| rng.random_range(0..self.len())).collect();
        let flips: Vec<bool> = (0..size).map(|_| rng.random()).collect();
        self.batch(&indices, &flips, device)
    }
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
