//! The tagger's training step: cover + random channel bits → encoder → residual added and
//! quantised to 8 bits → attack layers → decoder → logits.
//!
//! Losses: image MSE (weighted, ramped in over the first steps so the message path forms first)
//! plus binary cross-entropy of the logits against the bits.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use faketagger_attacks::Attack;
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::Simulator;
use faketagger_model::noise::{NoiseConfig, NoiseOp, Noiser};
use faketagger_model::{TaggerNet, TaggerNetConfig, weights};
use image::imageops::FilterType;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::TrainError;
use crate::data::FaceSet;

/// Everything that shapes a training run of the tagger.
#[derive(Config, Debug)]
pub struct TaggerTrainingConfig {
    /// The networks.
    pub net: TaggerNetConfig,
    /// The attack layers.
    #[config(default = "NoiseConfig::new()")]
    pub noise: NoiseConfig,
    /// Images per step.
    #[config(default = 16)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Weight of the image MSE (0..1 pixel units) against the message BCE.
    #[config(default = 300.0)]
    pub image_weight: f32,
    /// Steps over which the covers fade in from flat grey: the decoder first learns to read
    /// the residual alone, then to separate it from ever more of the cover.
    #[config(default = 400)]
    pub cover_fade: usize,
    /// Steps at the start with no image loss, so the message path forms first.
    #[config(default = 500)]
    pub message_warmup: usize,
    /// Steps after the warm-up over which the image weight ramps from 0 to `image_weight`.
    #[config(default = 1000)]
    pub image_weight_ramp: usize,
    /// Weight of the structural term, 1 − SSIM (11×11 Gaussian window), added to the image loss
    /// with the same ramp as `image_weight`.
    #[config(default = 0.0)]
    pub ssim_weight: f32,
    /// Fraction of batches sent through a DeepFake simulator (when the trainer has any)
    /// instead of the attack layers.
    #[config(default = 0.0)]
    pub simulator: f32,
    /// Seed of every random draw (weights, batches, bits, attacks).
    #[config(default = 42)]
    pub seed: u64,
    /// Real attacks (`faketagger attack` texts: `webp:50`, `palette:256`, `jpeg:50+grey`, …)
    /// trained through with the straight-through estimator `x + (attack(x) − x).detach()`
    /// (SepMark, DiffMark): the forward pass is the real attack, the gradient the identity.
    #[config(default = "Vec::new()")]
    pub real_attacks: Vec<String>,
    /// Fraction of batches sent through one of `real_attacks` (drawn uniformly) instead of the
    /// attack layers.
    #[config(default = 0.0)]
    pub real_attack: f32,
    /// Fraction of batches whose tagged faces are pasted into other faces as `eval`'s
    /// `faceswap:into` does it (the next cover of the batch takes the tagged face through a
    /// feathered ellipse over eyes, nose and mouth, colours matched; both at the aligned crops'
    /// landmark layout; straight-through gradient), so that the face alone carries the tag
    /// (SepMark's FaceErase). Drawn only when positive, after the real attacks.
    #[config(default = 0.0)]
    pub face_into: f32,
    /// Fraction of the attack layers' batches that first go through a small crop resized back
    /// (area `jitter_min_area..1` at a random position: shifts of a few pixels and scales of a
    /// few percent), before their drawn attacks. The tag then never reaches the decoder exactly
    /// where the encoder put it, so the pair cannot rely on the pixel phase of a fine pattern,
    /// which every crop, border, turn and regeneration changes. Drawn only when positive.
    #[config(default = 0.0)]
    pub jitter: f32,
    /// Smallest area the jitter's crop keeps.
    #[config(default = 0.9)]
    pub jitter_min_area: f32,
    /// Fraction of the covers that are not aligned faces but scenes
    /// ([`FaceSet::scene`]: close-ups, mosaics, drawn graphics, grey copies, turned faces), so
    /// that the networks tag and read a whole photo's 128 px copy as well as a face. Drawn only
    /// when positive.
    #[config(default = 0.0)]
    pub scenes: f32,
    /// Extra weight of flat areas in the image loss (perceptual masking: a change shows first
    /// where the photo has no texture to hide it). Each pixel's squared change counts
    /// `1 + flat_weight · flatness` times ([`flatness`]: 1 on a flat cover, → 0 in texture), with
    /// the same ramp as `image_weight`. 0 leaves the loss as it was.
    #[config(default = 0.0)]
    pub flat_weight: f32,
    /// Spread of a step's embedding strength: each step's residual is scaled by a strength
    /// drawn log-uniformly in `1/strength_spread..=strength_spread` (the image loss sees the
    /// scaled one; the geometric mean stays 1), so the decoder reads the tag at the strengths
    /// the engine may settle on, lower and higher (it raises a photo's strength ×1.5 at a time,
    /// up to three times, when the tag does not read back) instead of at one amplitude. 1 keeps
    /// every step at strength 1, as before (nothing drawn).
    #[config(default = 1.0)]
    pub strength_spread: f32,
    /// Whether the encoder learns. `false` trains the decoder alone on the encoder's tags
    /// (the image losses then change nothing): tags already embedded stay readable, and the
    /// decoder can be taught a wider tolerance (shifts, scales, turns) for the same residual.
    #[config(default = true)]
    pub train_encoder: bool,
}

impl TaggerTrainingConfig {
    /// Checks every part of the config.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.net.validate().map_err(TrainError::Config)?;
        self.noise.validate().map_err(TrainError::Config)?;
        if self.batch_size == 0 {
            return Err(TrainError::Config("batch_size must be positive".into()));
        }
        for (name, value) in [
            ("simulator", self.simulator),
            ("face_into", self.face_into),
            ("jitter", self.jitter),
            ("real_attack", self.real_attack),
            ("scenes", self.scenes),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(TrainError::Config(format!(
                    "{name} must be a fraction in 0..=1, not {value}"
                )));
            }
        }
        if !(1.0..=8.0).contains(&self.strength_spread) {
            return Err(TrainError::Config(format!(
                "strength_spread must be in 1..=8, not {}",
                self.strength_spread
            )));
        }
        if !(self.flat_weight >= 0.0 && self.flat_weight.is_finite()) {
            return Err(TrainError::Config(format!(
                "flat_weight must be 0 or more, not {}",
                self.flat_weight
            )));
        }
        if !(0.5..=1.0).contains(&self.jitter_min_area) {
            return Err(TrainError::Config(format!(
                "jitter_min_area must be in 0.5..=1, not {}",
                self.jitter_min_area
            )));
        }
        if self.real_attack > 0.0 && self.real_attacks.is_empty() {
            return Err(TrainError::Config(
                "real_attack > 0 needs a list of real_attacks".into(),
            ));
        }
        // each real attack must apply to a face of the networks' size: found now, not mid-run
        let side = self.net.encoder.resolution as u32;
        let face = image::RgbImage::from_pixel(side, side, image::Rgb([128, 128, 128]));
        for attack in self.parsed_real_attacks()? {
            attack_images(
                &attack,
                std::slice::from_ref(&face),
                std::slice::from_ref(&face),
                0,
            )
            .map_err(|e| {
                TrainError::Config(format!(
                    "real_attacks: {attack} cannot apply to a {side}×{side} face: {e}"
                ))
            })?;
        }
        crate::check_learning_rate(self.learning_rate)
    }

    /// `real_attacks`, parsed.
    pub fn parsed_real_attacks(&self) -> Result<Vec<Attack>, TrainError> {
        self.real_attacks
            .iter()
            .map(|t| {
                t.parse::<Attack>()
                    .map_err(|e| TrainError::Config(format!("real_attacks: {e}")))
            })
            .collect()
    }
}

/// What one training step measured (on the attacked batch it trained on).
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Step number, from 1.
    pub step: usize,
    /// Weighted total loss.
    pub loss: f32,
    /// Image MSE in 0..1 units.
    pub image_mse: f32,
    /// Message BCE.
    pub message_bce: f32,
    /// Mean PSNR of the tagged batch (dB).
    pub psnr: f32,
    /// Mean SSIM of the tagged batch.
    pub ssim: f32,
    /// Fraction of channel bits decoded right.
    pub bit_accuracy: f32,
    /// The attacks the batch went through (`+`-joined), or `simulatorI:V`.
    pub attack: String,
}

/// What an evaluation measured.
#[derive(Debug, Clone, Copy)]
pub struct EvalStats {
    /// Mean PSNR of the tagged images (dB), before the attack.
    pub psnr: f32,
    /// Fraction of channel bits decoded right after the attack.
    pub bit_accuracy: f32,
}

/// Trains an encoder/decoder pair.
pub struct TaggerTrainer {
    config: TaggerTrainingConfig,
    net: TaggerNet,
    optimizer: ModuleOptimizer,
    noiser: Noiser,
    real_attacks: Vec<Attack>,
    simulators: Vec<Simulator>,
    device: Device,
    step: usize,
}

impl TaggerTrainer {
    /// A fresh run on `device` (autodiff is added here).
    pub fn new(config: TaggerTrainingConfig, device: &Device) -> Result<Self, TrainError> {
        config.validate()?;
        let device = device.clone().autodiff();
        let net = faketagger_model::init_seeded(&device, config.seed, |d| config.net.init(d));
        Ok(Self {
            noiser: Noiser::new(config.noise.clone(), &device),
            real_attacks: config.parsed_real_attacks()?,
            optimizer: AdamConfig::new().init(),
            simulators: Vec::new(),
            net,
            config,
            device,
            step: 0,
        })
    }

    /// Frozen DeepFake simulators, loaded from their weights directories: a
    /// [`TaggerTrainingConfig::simulator`] fraction of batches goes through one of them. A
    /// folder marked as a grader only (it holds [`GRADES_ONLY_FILE`]) is refused.
    ///
    /// [`GRADES_ONLY_FILE`]: faketagger_model::noise::simulators::GRADES_ONLY_FILE
    pub fn with_simulators(mut self, dirs: &[std::path::PathBuf]) -> Result<Self, TrainError> {
        use faketagger_model::noise::simulators::GRADES_ONLY_FILE;
        for dir in dirs {
            if dir.join(GRADES_ONLY_FILE).exists() {
                return Err(TrainError::Config(format!(
                    "{} only grades (it holds {GRADES_ONLY_FILE}): a tagger may not be trained \
                     or validated against it",
                    dir.display()
                )));
            }
            let sim = Simulator::load(dir, &self.device)?.no_grad();
            self.simulators.push(sim);
        }
        Ok(self)
    }

    /// The simulators this trainer uses.
    pub fn simulators(&self) -> &[Simulator] {
        &self.simulators
    }

    /// Switches to another config of the same networks (a curriculum stage): attacks, losses,
    /// learning rate. The networks and the optimizer state are kept.
    pub fn set_config(&mut self, config: TaggerTrainingConfig) -> Result<(), TrainError> {
        config.validate()?;
        if config.net.to_string() != self.config.net.to_string() {
            return Err(TrainError::Config(
                "a stage may not change the networks' shapes (net)".into(),
            ));
        }
        self.noiser = Noiser::new(config.noise.clone(), &self.device);
        self.real_attacks = config.parsed_real_attacks()?;
        self.config = config;
        Ok(())
    }

    /// Sets the number of steps taken (when resuming from a checkpoint).
    pub fn set_steps(&mut self, steps: usize) {
        self.step = steps;
    }

    /// Saves the networks as `<dir>/<name>.{json,bpk}`.
    pub fn save(&self, dir: &std::path::Path, name: &str) -> Result<(), TrainError> {
        weights::save(self.net(), &self.config.net, dir, name)?;
        Ok(())
    }

    /// Saves Adam's moments to `path`.
    pub fn save_optimizer(&self, path: &std::path::Path) -> Result<(), TrainError> {
        self.optimizer
            .save(path)
            .map_err(|e| crate::io_error(path, e))
    }

    /// Loads Adam's moments from `path` (after [`TaggerTrainer::with_weights`]).
    pub fn load_optimizer(mut self, path: &std::path::Path) -> Result<Self, TrainError> {
        self.optimizer = AdamConfig::new()
            .init()
            .load(path)
            .map_err(|e| crate::io_error(path, e))?;
        Ok(self)
    }

    /// Continues from the trained network in `<dir>/<name>.{json,bpk}`, which must have this
    /// run's shapes ([`TaggerNetConfig::same_parameters`]).
    pub fn with_weights(mut self, dir: &std::path::Path, name: &str) -> Result<Self, TrainError> {
        let files = weights::WeightsFiles::new(dir, name);
        let saved: TaggerNetConfig = weights::load_config(&files.config)?;
        if !self.config.net.same_parameters(&saved) {
            return Err(TrainError::Config(format!(
                "{} has other shapes than this run's net config",
                files.config.display()
            )));
        }
        let record = std::fs::read(&files.record).map_err(|e| TrainError::Dataset {
            path: files.record.clone(),
            reason: e.to_string(),
        })?;
        // applied to a network built on the autodiff device, so its parameters are tracked
        self.net =
            weights::apply_record(self.config.net.init(&self.device), record, &files.record)?;
        Ok(self)
    }

    /// The network as trained so far, for inference (no autodiff).
    pub fn net(&self) -> TaggerNet {
        self.net.valid()
    }

    /// The config.
    pub fn config(&self) -> &TaggerTrainingConfig {
        &self.config
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// One optimisation step on a random batch of `faces`, every random draw taken from `rng`.
    pub fn step(&mut self, faces: &FaceSet, rng: &mut StdRng) -> Result<StepStats, TrainError> {
        self.step += 1;
        let cover = faces.random_batch(
            self.config.batch_size,
            self.config.scenes,
            rng,
            &self.device,
        );
        let fade = (self.step as f32 / self.config.cover_fade.max(1) as f32).min(1.0);
        let cover = if fade < 1.0 {
            cover.mul_scalar(fade).add_scalar(0.5 * (1.0 - fade))
        } else {
            cover
        };
        let bits = random_bits(
            self.config.batch_size,
            self.config.net.encoder.channel_bits,
            rng,
            &self.device,
        );
        let simulate = !self.simulators.is_empty() && rng.random::<f32>() < self.config.simulator;
        // drawn only when real attacks are on, so that older runs keep their random stream
        let real_now = if !simulate && self.config.real_attack > 0.0 {
            rng.random::<f32>() < self.config.real_attack
        } else {
            false
        };
        let real = real_now
            .then(|| self.real_attacks[rng.random_range(0..self.real_attacks.len())].clone());
        let into = !simulate
            && real.is_none()
            && self.config.face_into > 0.0
            && rng.random::<f32>() < self.config.face_into;
        let ops = if simulate || real.is_some() || into {
            Vec::new()
        } else {
            let mut ops = self.noiser.sample(rng);
            if self.config.jitter > 0.0 && rng.random::<f32>() < self.config.jitter {
                let area = self.config.jitter_min_area
                    + (1.0 - self.config.jitter_min_area) * rng.random::<f32>();
                let jitter = NoiseOp::Crop {
                    area,
                    x: rng.random(),
                    y: rng.random(),
                };
                ops.insert(0, jitter);
            }
            ops
        };

        // drawn only when on, so that older runs keep their random stream
        let strength = if self.config.strength_spread > 1.0 {
            self.config
                .strength_spread
                .powf(2.0 * rng.random::<f32>() - 1.0)
        } else {
            1.0
        };
        let tagged = if self.config.train_encoder {
            embed(&self.net, cover.clone(), bits.clone(), strength)
        } else {
            // a frozen encoder, run off the autodiff graph: no gradient reaches it, so only
            // the decoder's weights move (a forward on the graph that no backward consumes is
            // held there: detached instead, a run grew to 24 GB in 1,200 steps)
            embed(
                &self.net.valid(),
                cover.clone().inner(),
                bits.clone().inner(),
                strength,
            )
            .autodiff()
        };
        let image_mse = mean((tagged.clone() - cover.clone()).powi_scalar(2));
        let flat_mse = (self.config.flat_weight > 0.0).then(|| {
            let [_, channels, _, _] = cover.dims();
            mean(
                (tagged.clone() - cover.clone()).powi_scalar(2)
                    * flatness(cover.clone()).repeat_dim(1, channels),
            )
        });
        let ssim = ssim(tagged.clone(), cover.clone());
        let (attacked, attack) = if simulate {
            let which = rng.random_range(0..self.simulators.len());
            let sim = &self.simulators[which];
            let variant = rng.random_range(0..sim.variants());
            (
                sim.forward(tagged, variant),
                format!("simulator{which}:{variant}"),
            )
        } else if into {
            (face_into(tagged, &cover)?, "faceswap:into".to_owned())
        } else if let Some(attack) = real {
            let seed = rng.random();
            (
                straight_through(&attack, tagged, &cover, seed)?,
                attack.to_string(),
            )
        } else {
            let names: Vec<String> = ops.iter().map(ToString::to_string).collect();
            (
                self.noiser.apply(tagged, &cover, &ops, rng),
                names.join("+"),
            )
        };
        let logits = self.net.decoder.forward(attacked);
        let message_bce = bce_with_logits(logits.clone(), bits.clone());

        let ramp = (self.step.saturating_sub(self.config.message_warmup) as f32
            / self.config.image_weight_ramp.max(1) as f32)
            .min(1.0);
        let mut loss = message_bce.clone()
            + image_mse
                .clone()
                .mul_scalar(self.config.image_weight * ramp);
        if let Some(flat_mse) = flat_mse {
            loss = loss
                + flat_mse.mul_scalar(self.config.image_weight * self.config.flat_weight * ramp);
        }
        if self.config.ssim_weight > 0.0 {
            loss = loss
                + ssim
                    .clone()
                    .neg()
                    .add_scalar(1.0)
                    .mul_scalar(self.config.ssim_weight * ramp);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self
            .optimizer
            .step(self.config.learning_rate, self.net.clone(), grads);

        let image_mse = scalar(image_mse);
        Ok(StepStats {
            step: self.step,
            loss: scalar(loss),
            psnr: psnr_of_mse(image_mse),
            ssim: scalar(ssim),
            image_mse,
            message_bce: scalar(message_bce),
            bit_accuracy: bit_accuracy(logits, bits),
            attack,
        })
    }

    /// Tags `faces` (in order, in batches) with random bits drawn from `seed`, applies `op`, and
    /// measures PSNR and bit accuracy with the current network.
    pub fn evaluate(&self, faces: &FaceSet, op: NoiseOp, strength: f32, seed: u64) -> EvalStats {
        evaluate(
            &self.net(),
            faces,
            &self.noiser,
            op,
            strength,
            seed,
            &self.device.clone().inner(),
        )
    }
}

impl std::fmt::Debug for TaggerTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaggerTrainer")
            .field("config", &self.config)
            .field("step", &self.step)
            .field("simulators", &self.simulators.len())
            .finish_non_exhaustive()
    }
}

/// Random ±1 channel bits.
///
/// # Shapes
/// - returns `[batch, bits]`
pub fn random_bits(batch: usize, bits: usize, rng: &mut impl Rng, device: &Device) -> Tensor<2> {
    let data: Vec<f32> = (0..batch * bits)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    Tensor::from_data(TensorData::new(data, [batch, bits]), device)
}

/// A real (non-differentiable) attack in a training graph: forward, the attack itself on the
/// 8-bit images (each resized back to the batch's side when it changes the size; `@photo`
/// canvases use the next cover of the batch); backward, the identity:
/// `x + (attack(x) − x).detach()`.
///
/// # Shapes
/// - `x`, `cover`: `[B, 3, H, W]` in 0..1; returns the same shape.
pub fn straight_through(
    attack: &Attack,
    x: Tensor<4>,
    cover: &Tensor<4>,
    seed: u64,
) -> Result<Tensor<4>, TrainError> {
    straight_through_images(x, cover, |images, covers| {
        attack_images(attack, images, covers, seed)
    })
}

/// Each tagged face of a batch pasted into the next cover (`eval`'s `faceswap:into` on aligned
/// crops), straight-through like [`straight_through`].
///
/// # Shapes
/// - `x`, `cover`: `[B, 3, H, W]` in 0..1; returns the same shape.
pub fn face_into(x: Tensor<4>, cover: &Tensor<4>) -> Result<Tensor<4>, TrainError> {
    use faketagger_attacks::faceswap::{aligned_landmarks, face_swap};
    straight_through_images(x, cover, |faces, covers| {
        faces
            .iter()
            .enumerate()
            .map(|(k, face)| {
                let target = &covers[(k + 1) % covers.len()];
                let landmarks = aligned_landmarks(face.width(), face.height());
                let out = face_swap(
                    &image::DynamicImage::ImageRgb8(target.clone()),
                    &landmarks,
                    &image::DynamicImage::ImageRgb8(face.clone()),
                    &landmarks,
                )?;
                Ok(out.to_rgb8())
            })
            .collect()
    })
}

/// The straight-through estimator around any change of the 8-bit images: forward,
/// `change(images, covers)` (same count and size); backward, the identity.
fn straight_through_images(
    x: Tensor<4>,
    cover: &Tensor<4>,
    change: impl FnOnce(
        &[image::RgbImage],
        &[image::RgbImage],
    ) -> Result<Vec<image::RgbImage>, TrainError>,
) -> Result<Tensor<4>, TrainError> {
    let device = x.device();
    let images = to_images(x.clone().detach());
    let covers = to_images(cover.clone().detach());
    let real = from_images(&change(&images, &covers)?, &device);
    Ok(x.clone() + (real - x.detach()))
}

/// `attack` applied to each image of a batch as the world does it, the result brought back to
/// the image's size (a crop or a border changes it) with a triangle filter. Image `k` gets the
/// seed `seed ^ k`, and canvases on another photo (`@photo`) use `backdrops[(k + 1) % len]`.
/// Training and validation attack batches only through here.
pub fn attack_images(
    attack: &Attack,
    images: &[image::RgbImage],
    backdrops: &[image::RgbImage],
    seed: u64,
) -> Result<Vec<image::RgbImage>, TrainError> {
    images
        .iter()
        .enumerate()
        .map(|(k, img)| {
            let backdrop = backdrops
                .get((k + 1) % backdrops.len().max(1))
                .map(|b| image::DynamicImage::ImageRgb8(b.clone()));
            let out = attack
                .apply_on(
                    &image::DynamicImage::ImageRgb8(img.clone()),
                    seed ^ k as u64,
                    backdrop.as_ref(),
                )?
                .to_rgb8();
            Ok(if out.dimensions() == img.dimensions() {
                out
            } else {
                image::imageops::resize(&out, img.width(), img.height(), FilterType::Triangle)
            })
        })
        .collect()
}

/// Tags `cover` with `bits` at `strength`: residual added, clamped to 0..1 and quantised to 8 bits
/// (straight-through), as a saved image would be.
pub fn embed(net: &TaggerNet, cover: Tensor<4>, bits: Tensor<2>, strength: f32) -> Tensor<4> {
    let residual = net.encoder.forward(cover.clone(), bits);
    let tagged = (cover + residual.mul_scalar(strength)).clamp(0.0, 1.0);
    let quantised = tagged
        .clone()
        .detach()
        .mul_scalar(255.0)
        .round()
        .div_scalar(255.0);
    tagged.clone() - tagged.detach() + quantised
}

/// Local standard deviation of luma (0..1 units) at which [`flatness`] is 1/e: 2.55 levels of
/// 255, about where a faint pattern stops hiding (a JPEG block of sky or skin varies less).
const FLAT_SIGMA: f32 = 0.01;
/// σ of the Gaussian window over which [`flatness`] measures texture.
const FLAT_WINDOW: f32 = 1.5;

/// How flat each pixel's neighbourhood is: `exp(−σ / FLAT_SIGMA)`, σ the standard deviation of
/// the cover's luma (Rec. 601) in a Gaussian window of σ [`FLAT_WINDOW`]. 1 on a flat area,
/// near 0 in texture and on edges. No gradient flows through it.
///
/// # Shapes
/// - `cover`: `[B, 3, H, W]` in 0..1; returns `[B, 1, H, W]`
pub fn flatness(cover: Tensor<4>) -> Tensor<4> {
    let [b, _, h, w] = cover.dims();
    let luma = |c: usize, k: f32| cover.clone().narrow(1, c, 1).mul_scalar(k);
    let y = (luma(0, 0.299) + luma(1, 0.587) + luma(2, 0.114)).detach();
    let mu = faketagger_model::noise::gaussian_blur(y.clone(), FLAT_WINDOW);
    let var =
        faketagger_model::noise::gaussian_blur(y.powi_scalar(2), FLAT_WINDOW) - mu.powi_scalar(2);
    let sigma = var.clamp_min(0.0).sqrt();
    let flat = sigma.div_scalar(FLAT_SIGMA).neg().exp();
    debug_assert_eq!(flat.dims(), [b, 1, h, w]);
    flat
}

/// Radius of the SSIM window (11×11, Wang et al. 2004), σ = 1.5.
const SSIM_RADIUS: usize = 5;
const SSIM_SIGMA: f32 = 1.5;
/// SSIM's stabilisers for a 0..1 range: (0.01)², (0.03)² (Wang et al. 2004).
const SSIM_C1: f32 = 1e-4;
const SSIM_C2: f32 = 9e-4;

/// Mean SSIM of two image batches in 0..1, per channel with a Gaussian window, differentiable
/// (the same definition as `faketagger_attacks::metrics::ssim`, on 0..1 values).
///
/// # Shapes
/// - `a`, `b`: `[B, C, H, W]` with H, W ≥ 11; returns `[1]`
pub fn ssim(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    let [_, channels, _, _] = a.dims();
    let device = a.device();
    let side = 2 * SSIM_RADIUS + 1;
    let mut kernel: Vec<f32> = (0..side)
        .map(|i| {
            let d = i as f32 - SSIM_RADIUS as f32;
            (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|v| *v /= total);
    let taps: Vec<f32> = (0..channels).flat_map(|_| kernel.iter().copied()).collect();
    let row = Tensor::<4>::from_data(
        TensorData::new(taps.clone(), [channels, 1, 1, side]),
        &device,
    );
    let column = Tensor::<4>::from_data(TensorData::new(taps, [channels, 1, side, 1]), &device);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], channels);
    let blur = |x: Tensor<4>| {
        conv2d(
            conv2d(x, row.clone(), None, options.clone()),
            column.clone(),
            None,
            options.clone(),
        )
    };
    // Written around d = a − b: SSIM = l · cs with l = 1 − μ_d² / (μ_a² + μ_b² + C1) and
    // cs = 1 − σ_d² / (σ_a² + σ_b² + C2), equal to Wang et al.'s products but without
    // subtracting E[ab] ≈ 0.25 from E[a²] ≈ 0.25 in f32: for a faint residual (σ_d² ≈ 1e-4)
    // that cancellation left 1 − SSIM with a relative error of about 1e-3.
    let d = a.clone() - b.clone();
    let mu_d = blur(d.clone());
    let var_d = blur(d.powi_scalar(2)) - mu_d.clone().powi_scalar(2);
    let (mu_a, mu_b) = (blur(a.clone()), blur(b.clone()));
    let var_a = blur(a.powi_scalar(2)) - mu_a.clone().powi_scalar(2);
    let var_b = blur(b.powi_scalar(2)) - mu_b.clone().powi_scalar(2);
    let luminance = (mu_d.powi_scalar(2)
        / (mu_a.powi_scalar(2) + mu_b.powi_scalar(2)).add_scalar(SSIM_C1))
    .neg()
    .add_scalar(1.0);
    let structure = (var_d / (var_a + var_b).add_scalar(SSIM_C2))
        .neg()
        .add_scalar(1.0);
    mean(luminance * structure)
}

/// Mean of every value of a batch of images, reduced one axis at a time: burn 0.22's `flex`
/// sums a whole tensor in one f32 pass (`mean()` of 196,608 values near 0.5 was off by 1.4e-4
/// relative, which moved the logged SSIM by 3e-4), while per-axis means are exact to f32 there
/// and on `wgpu`. The gradient is the same.
pub fn mean(x: Tensor<4>) -> Tensor<1> {
    x.mean_dim(3)
        .mean_dim(2)
        .mean_dim(1)
        .mean_dim(0)
        .reshape([1])
}

/// Mean binary cross-entropy of logits against ±1 bits.
pub fn bce_with_logits(logits: Tensor<2>, bits: Tensor<2>) -> Tensor<1> {
    let targets = bits.add_scalar(1.0).div_scalar(2.0);
    (softplus(logits.clone(), 1.0) - logits * targets).mean()
}

/// Fraction of logits whose sign matches the ±1 bits.
pub fn bit_accuracy(logits: Tensor<2>, bits: Tensor<2>) -> f32 {
    let agree = logits.mul(bits).greater_elem(0.0).float().mean();
    scalar(agree)
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_data()
        .try_to_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN)
}

/// PSNR in dB of an MSE in 0..1 units.
pub fn psnr_of_mse(mse: f32) -> f32 {
    if mse <= 0.0 {
        f32::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

/// Evaluation batch size.
const EVAL_BATCH: usize = 32;

/// Tags every face in `faces` with seeded random bits, applies `op` and decodes.
pub fn evaluate(
    net: &TaggerNet,
    faces: &FaceSet,
    noiser: &Noiser,
    op: NoiseOp,
    strength: f32,
    seed: u64,
    device: &Device,
) -> EvalStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let bits_n = net.decoder_bits();
    let (mut psnr_sum, mut correct, mut total) = (0f64, 0f64, 0f64);
    let indices: Vec<usize> = (0..faces.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let cover = faces.batch(chunk, &[], device);
        let bits = random_bits(chunk.len(), bits_n, &mut rng, device);
        let tagged = embed(net, cover.clone(), bits.clone(), strength);
        let per_image: Vec<f32> = (tagged.clone() - cover.clone())
            .powi_scalar(2)
            .mean_dim(3)
            .mean_dim(2)
            .mean_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        psnr_sum += per_image
            .iter()
            .map(|&m| f64::from(psnr_of_mse(m).min(100.0)))
            .sum::<f64>();
        let attacked = noiser.apply(tagged, &cover, &[op], &mut rng);
        let logits = net.decoder.forward(attacked);
        correct += f64::from(bit_accuracy(logits, bits)) * (chunk.len() * bits_n) as f64;
        total += (chunk.len() * bits_n) as f64;
    }
    EvalStats {
        psnr: (psnr_sum / faces.len().max(1) as f64) as f32,
        bit_accuracy: (correct / total.max(1.0)) as f32,
    }
}
