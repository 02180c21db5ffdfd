//! The training loop behind `faketagger train`: stages, seeded steps, validation, logs and
//! checkpoints with exact resume.
//!
//! A run folder holds:
//! - `run.toml`: the run file as started (a resume checks it still describes the same networks);
//! - `log.csv`: one line per step (`step,stage,seconds,<metrics>,attack`);
//! - `val.csv`: one line per validation row (`step,stage,attack,psnr,ssim,bit_accuracy,exact_tag`);
//! - `checkpoint/`: the networks, Adam's moments and `state.json` (steps done, wall time),
//!   replaced atomically every `checkpoint_minutes`, at the end of each stage and when stopped;
//! - `<name>.{json,bpk}` (the trained weights, written at the end) and for simulators
//!   `samples.png`.
//!
//! Every step draws its randomness from a generator seeded by (seed, step), so a run resumed
//! from a checkpoint takes exactly the steps the uninterrupted run would have taken.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use faketagger_codec::Codec;
use faketagger_model::TaggerNetConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, RunKind};
use crate::data::FaceSet;
use crate::simulators::{SimulatorTrainer, SimulatorTrainingConfig};
use crate::tagger::{TaggerTrainer, TaggerTrainingConfig};
use crate::validate::{ValAttack, ValRow, validate_tagger};
use crate::{TrainError, io_error};

/// Where a run reports its progress; the CLI draws it, tests and libraries stay silent.
pub trait Reporter {
    /// The run starts at step `from` (0, or the checkpoint's) of `total`.
    fn start(&self, _config: &RunConfig, _from: usize, _total: usize) {}
    /// Stage `name` begins (or resumes).
    fn stage(&self, _name: &str) {}
    /// A step finished; `summary` is a short line of its metrics.
    fn step(&self, _step: usize, _summary: &str) {}
    /// A validation finished.
    fn validation(&self, _step: usize, _rows: &[ValRow]) {}
    /// A checkpoint was written.
    fn checkpoint(&self, _step: usize, _dir: &Path) {}
    /// The run stopped at `step` (finished when it is the total).
    fn finish(&self, _step: usize, _total: usize) {}
}

/// A reporter that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SilentReporter;
impl Reporter for SilentReporter {}

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run; refused when the run folder already holds one.
    Fresh,
    /// Continue from the run folder's checkpoint.
    Resume,
    /// Discard the run folder's checkpoint and logs, and start again.
    Restart,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Steps done in total (including those before a resume).
    pub steps: usize,
    /// Steps the run has in all its stages.
    pub total: usize,
    /// Wall time of all sessions of the run, in seconds.
    pub seconds: f64,
    /// The last validation.
    pub validation: Vec<ValRow>,
    /// Trained weights written (when the run finished).
    pub weights: Option<PathBuf>,
}

/// What `checkpoint/state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    step: usize,
    seconds: f64,
}

const CHECKPOINT: &str = "checkpoint";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";
const RUN_FILE: &str = "run.toml";
const LOG_FILE: &str = "log.csv";
const VAL_FILE: &str = "val.csv";
const SAMPLES_FILE: &str = "samples.png";
/// Faces in a simulator's sample grid.
const SAMPLE_FACES: usize = 8;
/// File stem of the tagger's weights (what the engine loads).
pub const TAGGER_NAME: &str = "tagger";
/// Validation seed: every validation of a run sees the same tags and attacks.
const VAL_SEED: u64 = 7;

/// The generator of step `step`'s random draws.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    // SplitMix64's mix of the pair, so neighbouring steps get unrelated streams
    use faketagger_codec::SplitMix64;
    StdRng::seed_from_u64(SplitMix64::mix(
        seed ^ (step as u64).wrapping_mul(SplitMix64::GAMMA),
    ))
}

/// The tagger config a run file's `[model]` is merged over.
fn tagger_defaults() -> TaggerTrainingConfig {
    TaggerTrainingConfig::new(TaggerNetConfig::standard())
}

/// The trainer of a run's kind (one per run: its variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Job {
    Tagger {
        trainer: Box<TaggerTrainer>,
        attacks: Vec<(String, ValAttack)>,
        codec: Codec,
    },
    Simulator(Box<SimulatorTrainer>),
}

impl Job {
    fn columns(&self) -> &'static str {
        match self {
            Job::Tagger { .. } => "loss,image_mse,message_bce,psnr,ssim,bit_accuracy,attack",
            Job::Simulator(_) => "mse,psnr",
        }
    }

    fn set_stage(&mut self, run: &RunConfig, stage: usize) -> Result<(), TrainError> {
        match self {
            Job::Tagger { trainer, .. } => {
                trainer.set_config(run.stage_config(&tagger_defaults(), stage)?)
            }
            Job::Simulator(trainer) => {
                trainer.set_config(run.stage_config(&SimulatorTrainingConfig::new(), stage)?)
            }
        }
    }

    /// One step: the CSV fields and a short summary.
    fn step(
        &mut self,
        faces: &FaceSet,
        step: usize,
        rng: &mut StdRng,
    ) -> Result<(String, String), TrainError> {
        Ok(match self {
            Job::Tagger { trainer, .. } => {
                let s = trainer.step(faces, rng)?;
                (
                    format!(
                        "{},{},{},{},{},{},{}",
                        s.loss,
                        s.image_mse,
                        s.message_bce,
                        s.psnr,
                        s.ssim,
                        s.bit_accuracy,
                        s.attack
                    ),
                    format!(
                        "loss {:.4} psnr {:.2} acc {:.4} [{}]",
                        s.loss, s.psnr, s.bit_accuracy, s.attack
                    ),
                )
            }
            Job::Simulator(trainer) => {
                let mse = trainer.step(faces, step, rng);
                let psnr = crate::tagger::psnr_of_mse(mse);
                (
                    format!("{mse},{psnr}"),
                    format!("mse {mse:.5} psnr {psnr:.2}"),
                )
            }
        })
    }

    fn validate(
        &self,
        train: &FaceSet,
        val: &FaceSet,
        device: &Device,
    ) -> Result<Vec<ValRow>, TrainError> {
        match self {
            Job::Tagger {
                trainer,
                attacks,
                codec,
            } => {
                let mut rows = validate_tagger(
                    &trainer.net(),
                    trainer.simulators(),
                    val,
                    attacks,
                    codec,
                    1.0,
                    VAL_SEED,
                    device,
                )?;
                // a run with scenes is also read on as many fixed scenes made from val
                if trainer.config().scenes > 0.0 {
                    let scenes = val.scenes(val.len(), VAL_SEED);
                    let real: Vec<_> = attacks
                        .iter()
                        .filter(|(_, a)| matches!(a, ValAttack::Real(_)))
                        .cloned()
                        .collect();
                    for mut row in validate_tagger(
                        &trainer.net(),
                        trainer.simulators(),
                        &scenes,
                        &real,
                        codec,
                        1.0,
                        VAL_SEED,
                        device,
                    )? {
                        row.attack = format!("scenes/{}", row.attack);
                        rows.push(row);
                    }
                }
                Ok(rows)
            }
            Job::Simulator(trainer) => Ok(vec![trainer.validate(train, val)]),
        }
    }

    fn save(&self, dir: &Path) -> Result<PathBuf, TrainError> {
        match self {
            Job::Tagger { trainer, .. } => {
                trainer.save(dir, TAGGER_NAME)?;
                Ok(dir.join(format!("{TAGGER_NAME}.bpk")))
            }
            Job::Simulator(trainer) => {
                trainer.save(dir)?;
                Ok(dir.join(format!("{}.bpk", trainer.config().weights_name())))
            }
        }
    }

    fn save_optimizer(&self, path: &Path) -> Result<(), TrainError> {
        match self {
            Job::Tagger { trainer, .. } => trainer.save_optimizer(path),
            Job::Simulator(trainer) => trainer.save_optimizer(path),
        }
    }

    /// Loads weights from `dir` and, when given, Adam's moments.
    fn load(self, dir: &Path, optimizer: Option<&Path>) -> Result<Self, TrainError> {
        Ok(match self {
            Job::Tagger {
                trainer,
                attacks,
                codec,
            } => {
                let mut trainer = trainer.with_weights(dir, TAGGER_NAME)?;
                if let Some(path) = optimizer {
                    trainer = trainer.load_optimizer(path)?;
                }
                Job::Tagger {
                    trainer: Box::new(trainer),
                    attacks,
                    codec,
                }
            }
            Job::Simulator(trainer) => {
                let mut trainer = trainer.with_weights(dir)?;
                if let Some(path) = optimizer {
                    trainer = trainer.load_optimizer(path)?;
                }
                Job::Simulator(Box::new(trainer))
            }
        })
    }
}

/// A training run.
pub struct Run<'r> {
    config: RunConfig,
    device: Device,
    reporter: &'r dyn Reporter,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'r> Run<'r> {
    /// A run of `config` on `device` (autodiff is added by the trainers).
    pub fn new(config: RunConfig, device: &Device, reporter: &'r dyn Reporter) -> Self {
        Self {
            config,
            device: device.clone(),
            reporter,
        }
    }

    fn out(&self, file: &str) -> PathBuf {
        self.config.out.join(file)
    }

    fn build_job(&self, train: &FaceSet) -> Result<Job, TrainError> {
        let run = &self.config;
        Ok(match run.kind {
            RunKind::Tagger => {
                let config: TaggerTrainingConfig = run.stage_config(&tagger_defaults(), 0)?;
                let trainer =
                    TaggerTrainer::new(config, &self.device)?.with_simulators(&run.simulators)?;
                let mut attacks: Vec<(String, ValAttack)> = run
                    .val_attacks
                    .iter()
                    .map(|text| {
                        text.parse()
                            .map(|a| (text.clone(), ValAttack::Real(a)))
                            .map_err(|e| TrainError::Config(format!("val_attacks: {e}")))
                    })
                    .collect::<Result<_, _>>()?;
                for (index, sim) in trainer.simulators().iter().enumerate() {
                    // every face swap identity is one row: the tag must survive each of them
                    for variant in 0..sim.variants() {
                        attacks.push((
                            format!("simulator{index}:{variant}"),
                            ValAttack::Simulator { index, variant },
                        ));
                    }
                }
                let codec = Codec::v1();
                if codec.channel_bits() != trainer.config().net.encoder.channel_bits {
                    return Err(TrainError::Config(format!(
                        "the codec carries {} channel bits, the networks {}",
                        codec.channel_bits(),
                        trainer.config().net.encoder.channel_bits
                    )));
                }
                Job::Tagger {
                    trainer: Box::new(trainer),
                    attacks,
                    codec,
                }
            }
            RunKind::Simulator => {
                let defaults = SimulatorTrainingConfig::new();
                let config: SimulatorTrainingConfig = run.stage_config(&defaults, 0)?;
                Job::Simulator(Box::new(SimulatorTrainer::new(
                    config,
                    train,
                    &self.device,
                )?))
            }
        })
    }

    /// Merges and checks every stage's config before the first step, so that a typo or a change
    /// of shapes in the last stage does not stop a run hours in. Returns the side of the faces
    /// the run trains on.
    fn check_stages(&self) -> Result<usize, TrainError> {
        let mut shapes = Vec::new();
        for index in 0..self.config.stages.len() {
            shapes.push(match self.config.kind {
                RunKind::Tagger => {
                    let c: TaggerTrainingConfig =
                        self.config.stage_config(&tagger_defaults(), index)?;
                    c.validate()?;
                    (c.net.to_string(), c.net.resolution())
                }
                RunKind::Simulator => {
                    let c: SimulatorTrainingConfig = self
                        .config
                        .stage_config(&SimulatorTrainingConfig::new(), index)?;
                    c.validate()?;
                    (
                        format!("{} × {}", c.autoencoder, c.identities),
                        c.autoencoder.resolution,
                    )
                }
            });
        }
        let Some((first, side)) = shapes.first() else {
            return Err(TrainError::Config(
                "a run needs at least one [[stages]]".into(),
            ));
        };
        if shapes.iter().any(|(shape, _)| shape != first) {
            return Err(TrainError::Config(
                "a stage may not change the networks' shapes".into(),
            ));
        }
        Ok(*side)
    }

    /// Runs (or resumes) the run; stops after `max_steps` steps of this session when given,
    /// with a checkpoint, so that a later [`Start::Resume`] carries on.
    pub fn execute(
        &self,
        start: Start,
        max_steps: Option<usize>,
    ) -> Result<RunSummary, TrainError> {
        let run = &self.config;
        let resolution = self.check_stages()?;
        let checkpoint = self.out(CHECKPOINT);
        let resumable = checkpoint.join(STATE_FILE).is_file();
        let started_before = self.out(RUN_FILE).is_file();
        match start {
            Start::Fresh if resumable || started_before => {
                return Err(TrainError::Resume {
                    path: run.out.clone(),
                    reason: "already holds a run; resume it or restart it".into(),
                });
            }
            Start::Resume if !resumable => {
                return Err(TrainError::Resume {
                    path: run.out.clone(),
                    reason: "has no checkpoint to resume from".into(),
                });
            }
            Start::Restart => {
                for file in [CHECKPOINT, RUN_FILE, LOG_FILE, VAL_FILE] {
                    let path = self.out(file);
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
            _ => {}
        }
        std::fs::create_dir_all(&run.out).map_err(|e| io_error(&run.out, e))?;

        let train = FaceSet::load(&run.data, Some("train"), resolution, None)?;
        let val = FaceSet::load(&run.data, Some("val"), resolution, Some(run.eval_faces))?;
        let mut job = self.build_job(&train)?;
        let (mut step, mut seconds_before) = (0usize, 0.0f64);
        if start == Start::Resume {
            let saved = RunConfig::load(&self.out(RUN_FILE))?;
            if saved.kind != run.kind || saved.model != run.model || saved.seed != run.seed {
                return Err(TrainError::Resume {
                    path: run.out.clone(),
                    reason: format!(
                        "its {RUN_FILE} has another kind, seed or [model] than this run file; restart it or use another out"
                    ),
                });
            }
            let state: State = read_json(&checkpoint.join(STATE_FILE))?;
            job = job.load(&checkpoint, Some(&checkpoint.join(OPTIMIZER_FILE)))?;
            step = state.step;
            seconds_before = state.seconds;
            truncate_csv(&self.out(LOG_FILE), step)?;
            truncate_csv(&self.out(VAL_FILE), step)?;
        } else if let Some(init) = &run.init {
            job = job.load(init, None)?;
        }
        // the run file as it runs now (a resume may have extended the stages)
        write_atomic(&self.out(RUN_FILE), run.to_toml().as_bytes())?;
        if let Job::Tagger { trainer, .. } = &mut job {
            trainer.set_steps(step);
        }
        let mut log = open_csv(
            &self.out(LOG_FILE),
            &format!("step,stage,seconds,{}", job.columns()),
        )?;
        let mut val_log = open_csv(
            &self.out(VAL_FILE),
            "step,stage,attack,psnr,ssim,bit_accuracy,exact_tag",
        )?;

        let total = run.total_steps();
        let stop = max_steps.map_or(total, |m| (step + m).min(total));
        self.reporter.start(run, step, total);
        let session = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut stage = usize::MAX;
        let mut validation = Vec::new();
        let seconds = |session: &Instant| seconds_before + session.elapsed().as_secs_f64();
        while step < stop {
            step += 1;
            let now = run.stage_of(step);
            if now != stage {
                stage = now;
                job.set_stage(run, stage)?;
                self.reporter.stage(&run.stages[stage].name);
            }
            let stage_name = &run.stages[stage].name;
            let mut rng = step_rng(run.seed, step);
            let (fields, summary) = job.step(&train, step, &mut rng)?;
            writeln!(log, "{step},{stage_name},{:.1},{fields}", seconds(&session))
                .map_err(|e| io_error(&self.out(LOG_FILE), e))?;
            self.reporter.step(step, &summary);

            let stage_end = step == run.stage_start(stage) + run.stages[stage].steps;
            if step % run.eval_every == 0 || stage_end {
                validation = job.validate(&train, &val, &self.device)?;
                for row in &validation {
                    writeln!(
                        val_log,
                        "{step},{stage_name},{},{},{},{},{}",
                        row.attack,
                        opt(row.psnr),
                        opt(row.ssim),
                        opt(row.bit_accuracy),
                        opt(row.exact_tag)
                    )
                    .map_err(|e| io_error(&self.out(VAL_FILE), e))?;
                }
                self.reporter.validation(step, &validation);
            }
            let due = last_checkpoint.elapsed().as_secs_f64() >= run.checkpoint_minutes * 60.0;
            if due || stage_end || step == stop {
                log.flush().map_err(|e| io_error(&self.out(LOG_FILE), e))?;
                val_log
                    .flush()
                    .map_err(|e| io_error(&self.out(VAL_FILE), e))?;
                self.write_checkpoint(&job, step, seconds(&session))?;
                last_checkpoint = Instant::now();
                self.reporter.checkpoint(step, &checkpoint);
            }
        }
        let mut weights = None;
        if step == total {
            weights = Some(job.save(&run.out)?);
            if let Job::Simulator(trainer) = &job {
                let path = self.out(SAMPLES_FILE);
                trainer
                    .samples(&val, SAMPLE_FACES)
                    .save(&path)
                    .map_err(|e| io_error(&path, e))?;
            }
        }
        self.reporter.finish(step, total);
        Ok(RunSummary {
            steps: step,
            total,
            seconds: seconds(&session),
            validation,
            weights,
        })
    }

    /// Writes `checkpoint/` through a temporary folder, so that a crash leaves the previous one.
    fn write_checkpoint(&self, job: &Job, step: usize, seconds: f64) -> Result<(), TrainError> {
        let dir = self.out(CHECKPOINT);
        let tmp = self.out("checkpoint.tmp");
        let old = self.out("checkpoint.old");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
        job.save(&tmp)?;
        job.save_optimizer(&tmp.join(OPTIMIZER_FILE))?;
        let state = serde_json::to_vec_pretty(&State { step, seconds }).unwrap_or_default();
        std::fs::write(tmp.join(STATE_FILE), state).map_err(|e| io_error(&tmp, e))?;
        let _ = std::fs::remove_dir_all(&old);
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(|e| io_error(&dir, e))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| io_error(&dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

fn opt(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| io_error(path, e))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

/// Opens a CSV log for appending, writing `header` when it is new.
fn open_csv(path: &Path, header: &str) -> Result<File, TrainError> {
    let fresh = !path.is_file();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    if fresh {
        writeln!(file, "{header}").map_err(|e| io_error(path, e))?;
    }
    Ok(file)
}

/// Drops the lines of a CSV log after step `step` (written after the checkpoint a run resumes
/// from).
fn truncate_csv(path: &Path, step: usize) -> Result<(), TrainError> {
    let Ok(file) = File::open(path) else {
        return Ok(());
    };
    let mut kept = String::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_error(path, e))?;
        let line_step = line.split(',').next().and_then(|s| s.parse::<usize>().ok());
        if i == 0 || line_step.is_some_and(|s| s <= step) {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    write_atomic(path, kept.as_bytes())
}
