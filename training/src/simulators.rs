//! Training the DeepFake simulators (FakeTagger §3.3): a reconstruction autoencoder, or a face
//! swap in the DeepFakes manner (one shared encoder, one decoder per identity, each decoder
//! trained to rebuild its own identity from randomly warped inputs).
//!
//! Loss: mean squared error of the reconstruction. The warp (a random zoom and shift of the
//! input, DeepFakes' "random warp") makes the shared encoder code a face's content rather than
//! its exact pixels, which is what lets a decoder render another person's pose and expression.

use std::collections::BTreeMap;
use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
pub use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::regenerator::RegeneratorConfig;
use faketagger_model::noise::simulators::{
    AUTOENCODER_NAME, AutoencoderConfig, FACESWAP_NAME, FaceSwapConfig, REGENERATOR_NAME, Simulator,
};
use faketagger_model::noise::{NoiseConfig, NoiseOp, Noiser};
use faketagger_model::weights;
use image::RgbImage;
use rand::Rng;
use rand::rngs::StdRng;

use crate::TrainError;
use crate::data::FaceSet;
use crate::validate::ValRow;

/// Everything that shapes a simulator's training.
#[derive(Config, Debug)]
pub struct SimulatorTrainingConfig {
    /// The autoencoder's shape (the face swap's shared encoder and each decoder).
    #[config(default = "AutoencoderConfig::new()")]
    pub autoencoder: AutoencoderConfig,
    /// 1: a reconstruction autoencoder trained on every face; 2 or more: a face swap over that
    /// many identities (those with the most training faces).
    #[config(default = 1)]
    pub identities: usize,
    /// A regenerator's shape (TAESD layout, 8-bit latent): when given, the run trains this
    /// instead of `autoencoder` (on every face; `identities` must be 1).
    #[config(default = "None")]
    pub regenerator: Option<RegeneratorConfig>,
    /// Faces per step.
    #[config(default = 16)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Largest fraction of the area the random warp may zoom away from the input (0: no warp).
    #[config(default = 0.15)]
    pub warp: f32,
    /// Faces per identity held out of a face swap's training, to measure its reconstruction.
    #[config(default = 2)]
    pub holdout: usize,
    /// Seed of the initial weights and every random draw.
    #[config(default = 42)]
    pub seed: u64,
}

impl SimulatorTrainingConfig {
    /// Checks every part of the config.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.autoencoder.validate().map_err(TrainError::Config)?;
        if let Some(regen) = &self.regenerator {
            regen.validate().map_err(TrainError::Config)?;
            if self.identities != 1 {
                return Err(TrainError::Config(
                    "a regenerator trains on every face: identities must be 1".into(),
                ));
            }
        }
        if self.identities == 0 || self.batch_size == 0 {
            return Err(TrainError::Config(
                "identities and batch_size must be positive".into(),
            ));
        }
        if !(0.0..0.9).contains(&self.warp) {
            return Err(TrainError::Config(format!(
                "warp must be in 0..0.9, not {}",
                self.warp
            )));
        }
        crate::check_learning_rate(self.learning_rate)
    }

    /// Whether this trains a face swap.
    pub fn is_face_swap(&self) -> bool {
        self.identities > 1
    }

    /// File stem of the trained weights: `autoencoder`, `faceswap` or `regenerator`.
    pub fn weights_name(&self) -> &'static str {
        if self.regenerator.is_some() {
            REGENERATOR_NAME
        } else if self.is_face_swap() {
            FACESWAP_NAME
        } else {
            AUTOENCODER_NAME
        }
    }

    fn face_swap_config(&self) -> FaceSwapConfig {
        FaceSwapConfig::new(self.autoencoder.clone()).with_identities(self.identities)
    }
}

/// Trains a simulator.
pub struct SimulatorTrainer {
    config: SimulatorTrainingConfig,
    net: Simulator,
    optimizer: ModuleOptimizer,
    noiser: Noiser,
    device: Device,
    /// Training faces per variant (one list for an autoencoder, one per identity for a swap).
    train: Vec<Vec<usize>>,
    /// Held-out faces per variant (face swap) for validation.
    held_out: Vec<Vec<usize>>,
    /// Identity labels of a face swap's decoders, in order.
    identities: Vec<String>,
}

impl std::fmt::Debug for SimulatorTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorTrainer")
            .field("config", &self.config)
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

impl SimulatorTrainer {
    /// A fresh run over the training faces `train` (autodiff is added to `device` here).
    pub fn new(
        config: SimulatorTrainingConfig,
        train: &FaceSet,
        device: &Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let device = device.clone().autodiff();
        let (train_lists, held_out, identities) = if config.is_face_swap() {
            split_identities(train, config.identities, config.holdout)?
        } else {
            (
                vec![(0..train.len()).collect()],
                vec![Vec::new()],
                Vec::new(),
            )
        };
        let net = faketagger_model::init_seeded(&device, config.seed, |d| {
            if let Some(regen) = &config.regenerator {
                Simulator::Regenerator(regen.init(d))
            } else if config.is_face_swap() {
                Simulator::FaceSwap(config.face_swap_config().init(d))
            } else {
                Simulator::Autoencoder(config.autoencoder.init(d))
            }
        });
        Ok(Self {
            noiser: Noiser::new(NoiseConfig::clean(), &device),
            optimizer: AdamConfig::new().init(),
            net,
            config,
            device,
            train: train_lists,
            held_out,
            identities,
        })
    }

    /// Identity labels of the face swap's decoders, in order (empty for an autoencoder).
    pub fn identities(&self) -> &[String] {
        &self.identities
    }

    /// Indices of each variant's training faces and held-out faces (none for an autoencoder), in
    /// the face set the trainer was made with.
    pub fn faces(&self) -> (&[Vec<usize>], &[Vec<usize>]) {
        (&self.train, &self.held_out)
    }

    /// The config.
    pub fn config(&self) -> &SimulatorTrainingConfig {
        &self.config
    }

    /// Switches to another config with the same shapes (a curriculum stage).
    pub fn set_config(&mut self, config: SimulatorTrainingConfig) -> Result<(), TrainError> {
        config.validate()?;
        if config.autoencoder.to_string() != self.config.autoencoder.to_string()
            || config.identities != self.config.identities
        {
            return Err(TrainError::Config(
                "a stage may not change the simulator's shape".into(),
            ));
        }
        self.config = config;
        Ok(())
    }

    /// The simulator as trained so far, for inference.
    pub fn net(&self) -> Simulator {
        self.net.valid()
    }

    /// One optimisation step; returns the reconstruction MSE (0..1 units) of the batch.
    pub fn step(&mut self, faces: &FaceSet, step: usize, rng: &mut StdRng) -> f32 {
        let variant = step % self.train.len();
        let pool = &self.train[variant];
        let indices: Vec<usize> = (0..self.config.batch_size)
            .map(|_| pool[rng.random_range(0..pool.len())])
            .collect();
        let flips: Vec<bool> = (0..indices.len()).map(|_| rng.random()).collect();
        let target = faces.batch(&indices, &flips, &self.device);
        let input = if self.config.warp > 0.0 {
            let op = NoiseOp::Crop {
                area: 1.0 - rng.random::<f32>() * self.config.warp,
                x: rng.random(),
                y: rng.random(),
            };
            self.noiser
                .apply(target.clone(), &target, &[op], rng)
                .detach()
        } else {
            target.clone()
        };
        let output = self.net.forward(input, variant);
        let mse = crate::tagger::mean((output - target).powi_scalar(2));
        let grads = GradientsParams::from_grads(mse.backward(), &self.net);
        self.net = self
            .optimizer
            .step(self.config.learning_rate, self.net.clone(), grads);
        mse.into_scalar()
    }

    /// Reconstruction PSNR and SSIM: on `val` for an autoencoder, on the held-out faces of each
    /// identity (rendered as themselves) for a face swap.
    pub fn validate(&self, faces: &FaceSet, val: &FaceSet) -> ValRow {
        let net = self.net();
        let device = self.device.clone().inner();
        let mut total = Fidelity::default();
        if self.config.is_face_swap() {
            for (variant, held) in self.held_out.iter().enumerate() {
                total.add(&fidelity(&net, faces, held, variant, &device));
            }
        } else {
            let all: Vec<usize> = (0..val.len()).collect();
            total = fidelity(&net, val, &all, 0, &device);
        }
        ValRow {
            attack: "reconstruction".into(),
            psnr: Some(total.mean_psnr()),
            ssim: Some(total.mean_ssim()),
            bit_accuracy: None,
            exact_tag: None,
        }
    }

    /// A grid of samples: the first row holds `count` faces of `val`, each further row their
    /// rendering by one variant (the autoencoder's reconstruction, or each identity's swap).
    pub fn samples(&self, val: &FaceSet, count: usize) -> RgbImage {
        sample_grid(&self.net(), val, count, &self.device.clone().inner())
    }

    /// Saves the simulator as `<dir>/<autoencoder|faceswap>.{json,bpk}`.
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let name = self.config.weights_name();
        match self.net() {
            Simulator::Autoencoder(ae) => {
                weights::save(ae, &self.config.autoencoder, dir, name)?;
            }
            Simulator::FaceSwap(swap) => {
                weights::save(swap, &self.config.face_swap_config(), dir, name)?;
            }
            Simulator::Regenerator(regen) => {
                let config = self.config.regenerator.clone().ok_or_else(|| {
                    TrainError::Config("a regenerator was trained without its config".into())
                })?;
                weights::save(regen, &config, dir, name)?;
            }
        }
        Ok(())
    }

    /// Continues from the simulator saved in `dir` (same shapes).
    pub fn with_weights(mut self, dir: &Path) -> Result<Self, TrainError> {
        let files = weights::WeightsFiles::new(dir, self.config.weights_name());
        let record = std::fs::read(&files.record).map_err(|e| crate::io_error(&files.record, e))?;
        let expected = if let Some(regen) = &self.config.regenerator {
            regen.to_string()
        } else if self.config.is_face_swap() {
            self.config.face_swap_config().to_string()
        } else {
            self.config.autoencoder.to_string()
        };
        let saved = std::fs::read_to_string(&files.config)
            .map_err(|e| crate::io_error(&files.config, e))?;
        let same = serde_json::from_str::<serde_json::Value>(&saved).ok()
            == serde_json::from_str::<serde_json::Value>(&expected).ok();
        if !same {
            return Err(TrainError::Config(format!(
                "{} has other shapes than this run's simulator",
                files.config.display()
            )));
        }
        self.net = match std::mem::replace(
            &mut self.net,
            Simulator::Autoencoder(self.config.autoencoder.init(&self.device)),
        ) {
            Simulator::Autoencoder(ae) => {
                Simulator::Autoencoder(weights::apply_record(ae, record, &files.record)?)
            }
            Simulator::FaceSwap(swap) => {
                Simulator::FaceSwap(weights::apply_record(swap, record, &files.record)?)
            }
            Simulator::Regenerator(regen) => {
                Simulator::Regenerator(weights::apply_record(regen, record, &files.record)?)
            }
        };
        Ok(self)
    }

    /// Saves Adam's moments to `path`.
    pub fn save_optimizer(&self, path: &Path) -> Result<(), TrainError> {
        self.optimizer
            .save(path)
            .map_err(|e| crate::io_error(path, e))
    }

    /// Loads Adam's moments from `path` (after [`SimulatorTrainer::with_weights`]).
    pub fn load_optimizer(mut self, path: &Path) -> Result<Self, TrainError> {
        self.optimizer = AdamConfig::new()
            .init()
            .load(path)
            .map_err(|e| crate::io_error(path, e))?;
        Ok(self)
    }
}

/// Validation batch size.
const VAL_BATCH: usize = 32;

/// How faithfully a simulator renders faces: sums over the faces scored, and the worst PSNR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fidelity {
    /// Faces scored.
    pub faces: usize,
    /// Sum of their PSNRs (dB; each capped at 100).
    pub psnr_sum: f64,
    /// Sum of their SSIMs.
    pub ssim_sum: f64,
    /// Lowest PSNR (dB); infinite when no face was scored.
    pub min_psnr: f64,
}

impl Default for Fidelity {
    /// No face scored yet.
    fn default() -> Self {
        Self {
            faces: 0,
            psnr_sum: 0.0,
            ssim_sum: 0.0,
            min_psnr: f64::INFINITY,
        }
    }
}

impl Fidelity {
    /// Mean PSNR (dB), 0 when no face was scored.
    pub fn mean_psnr(&self) -> f64 {
        self.psnr_sum / self.faces.max(1) as f64
    }

    /// Mean SSIM, 0 when no face was scored.
    pub fn mean_ssim(&self) -> f64 {
        self.ssim_sum / self.faces.max(1) as f64
    }

    /// Pools another set of scores into this one.
    pub fn add(&mut self, other: &Fidelity) {
        self.faces += other.faces;
        self.psnr_sum += other.psnr_sum;
        self.ssim_sum += other.ssim_sum;
        self.min_psnr = self.min_psnr.min(other.min_psnr);
    }
}

/// PSNR and SSIM of `sim`'s `variant` rendering faces `indices` of `set` (in batches), each
/// output saved as 8-bit RGB and compared with the face.
pub fn fidelity(
    sim: &Simulator,
    set: &FaceSet,
    indices: &[usize],
    variant: usize,
    device: &Device,
) -> Fidelity {
    let mut score = Fidelity::default();
    for chunk in indices.chunks(VAL_BATCH) {
        let output = to_images(sim.forward(set.batch(chunk, &[], device), variant));
        for (&i, out) in chunk.iter().zip(&output) {
            let original = set.image(i);
            let psnr = faketagger_attacks::metrics::psnr(&original, out)
                .unwrap_or_default()
                .min(100.0);
            score.psnr_sum += psnr;
            score.ssim_sum += faketagger_attacks::metrics::ssim(&original, out).unwrap_or_default();
            score.min_psnr = score.min_psnr.min(psnr);
            score.faces += 1;
        }
    }
    score
}

/// The identities with the most faces (ties by label), each one's faces split into training
/// and `holdout` held-out faces.
#[allow(clippy::type_complexity)]
fn split_identities(
    faces: &FaceSet,
    count: usize,
    holdout: usize,
) -> Result<(Vec<Vec<usize>>, Vec<Vec<usize>>, Vec<String>), TrainError> {
    let mut by_identity: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, face) in faces.faces.iter().enumerate() {
        if let Some(id) = &face.identity {
            by_identity.entry(id.as_str()).or_default().push(i);
        }
    }
    let mut ranked: Vec<(&str, Vec<usize>)> = by_identity.into_iter().collect();
    ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    ranked.truncate(count);
    if ranked.len() < count || ranked.iter().any(|(_, f)| f.len() <= holdout) {
        return Err(TrainError::Config(format!(
            "a face swap over {count} identities needs {count} identities with more than {holdout} faces each in the training split (identities come from meta.csv)"
        )));
    }
    let mut train = Vec::new();
    let mut held = Vec::new();
    let mut names = Vec::new();
    for (name, list) in ranked {
        let cut = list.len() - holdout;
        train.push(list[..cut].to_vec());
        held.push(list[cut..].to_vec());
        names.push(name.to_owned());
    }
    Ok((train, held, names))
}

/// The grid [`SimulatorTrainer::samples`] draws, for any trained simulator.
pub fn sample_grid(sim: &Simulator, val: &FaceSet, count: usize, device: &Device) -> RgbImage {
    let count = count.min(val.len()).max(1);
    let r = val.resolution as u32;
    let indices: Vec<usize> = (0..count).collect();
    let input = val.batch(&indices, &[], device);
    let mut rows = vec![indices.iter().map(|&i| val.image(i)).collect::<Vec<_>>()];
    for variant in 0..sim.variants() {
        rows.push(to_images(sim.forward(input.clone(), variant)));
    }
    grid(&rows, r)
}

/// Rows of `side`² images laid out as one image, row by row.
pub fn grid(rows: &[Vec<RgbImage>], side: u32) -> RgbImage {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = RgbImage::new(side * columns as u32, side * rows.len() as u32);
    for (y, row) in rows.iter().enumerate() {
        for (x, img) in row.iter().enumerate() {
            image::imageops::replace(
                &mut out,
                img,
                i64::from(side) * x as i64,
                i64::from(side) * y as i64,
            );
        }
    }
    out
}
