//! Run files: what `faketagger train --config training/configs/NAME.toml` reads.
//!
//! ```toml
//! kind = "tagger"                      # or "simulator"
//! data = "../shared/datasets/celeba-faces128"
//! out = "runs/faketagger-v1"
//! seed = 42
//! eval_every = 250
//!
//! [model]                              # fields of the kind's training config (defaults kept)
//! batch_size = 16
//! noise = { jpeg = 0.0 }
//!
//! [[stages]]                           # the curriculum, run in order
//! name = "clean"
//! steps = 800
//!
//! [[stages]]
//! name = "attacks"
//! steps = 3000
//! set = { learning_rate = 3e-4, noise = { jpeg = 1.0 } }   # changes from `[model]` on
//! ```
//!
//! `[model]` and each stage's `set` are merged over the kind's defaults
//! ([`TaggerTrainingConfig`](crate::TaggerTrainingConfig) or
//! [`SimulatorTrainingConfig`](crate::SimulatorTrainingConfig)); a key the config does not have
//! is an error naming it, so typos do not pass silently. Stages accumulate: a stage's `set`
//! applies on top of the stages before it. Relative paths are relative to the directory the
//! command runs in.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TrainError;

/// What a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// The encoder/decoder pair ([`crate::TaggerTrainer`]).
    Tagger,
    /// A DeepFake simulator: a reconstruction autoencoder or a face swap
    /// ([`crate::SimulatorTrainer`]).
    Simulator,
}

/// One stage of the curriculum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Name shown in the progress bar and logs.
    pub name: String,
    /// Steps in this stage.
    pub steps: usize,
    /// Changes to the training config from this stage on.
    #[serde(default)]
    pub set: toml::Table,
}

/// Default validation interval in steps.
const DEFAULT_EVAL_EVERY: usize = 250;
/// Default validation faces (the first of the `val` split).
const DEFAULT_EVAL_FACES: usize = 128;
/// Default wall time between checkpoints.
const DEFAULT_CHECKPOINT_MINUTES: f64 = 5.0;

/// A training run, as read from its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// What the run trains.
    pub kind: RunKind,
    /// Dataset folder (any image folder; `meta.csv` gives splits, identities, landmarks).
    pub data: PathBuf,
    /// Run folder: checkpoints, logs, plots and the trained weights.
    pub out: PathBuf,
    /// Seed of the initial weights and of every random draw.
    #[serde(default)]
    pub seed: u64,
    /// Validation every this many steps (and at the end of each stage).
    #[serde(default = "default_eval_every")]
    pub eval_every: usize,
    /// Validation faces, the first of the `val` split.
    #[serde(default = "default_eval_faces")]
    pub eval_faces: usize,
    /// Wall time between checkpoints.
    #[serde(default = "default_checkpoint_minutes")]
    pub checkpoint_minutes: f64,
    /// Trained weights to start from (a weights folder with the same shapes), if any.
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Simulator weights folders the tagger trains through (tagger runs only).
    #[serde(default)]
    pub simulators: Vec<PathBuf>,
    /// Real attacks validated after each interval (tagger runs; `crates/attacks` syntax).
    #[serde(default = "default_val_attacks")]
    pub val_attacks: Vec<String>,
    /// Fields of the training config, over its defaults.
    #[serde(default)]
    pub model: toml::Table,
    /// The curriculum.
    pub stages: Vec<Stage>,
}

fn default_eval_every() -> usize {
    DEFAULT_EVAL_EVERY
}
fn default_eval_faces() -> usize {
    DEFAULT_EVAL_FACES
}
fn default_checkpoint_minutes() -> f64 {
    DEFAULT_CHECKPOINT_MINUTES
}
fn default_val_attacks() -> Vec<String> {
    [
        "identity",
        "jpeg:50",
        "resize:0.5",
        "blur:1",
        "noise:0.02",
        "crop:0.8",
    ]
    .map(String::from)
    .to_vec()
}

impl RunConfig {
    /// Reads and checks a run file.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::io_error(path, e))?;
        Self::parse(&text).map_err(|e| match e {
            TrainError::Config(reason) => {
                TrainError::Config(format!("{}: {reason}", path.display()))
            }
            other => other,
        })
    }

    /// Parses and checks a run file's text.
    pub fn parse(text: &str) -> Result<Self, TrainError> {
        let config: Self = toml::from_str(text).map_err(|e| TrainError::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// The run file as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), TrainError> {
        if self.stages.is_empty() {
            return Err(TrainError::Config(
                "a run needs at least one [[stages]]".into(),
            ));
        }
        if let Some(stage) = self.stages.iter().find(|s| s.steps == 0) {
            return Err(TrainError::Config(format!(
                "stage {:?} has no steps",
                stage.name
            )));
        }
        if self.eval_every == 0 || self.eval_faces == 0 {
            return Err(TrainError::Config(
                "eval_every and eval_faces must be positive".into(),
            ));
        }
        if self.checkpoint_minutes.is_nan() || self.checkpoint_minutes <= 0.0 {
            return Err(TrainError::Config(
                "checkpoint_minutes must be positive".into(),
            ));
        }
        if self.kind != RunKind::Tagger && !self.simulators.is_empty() {
            return Err(TrainError::Config(
                "only tagger runs train through simulators".into(),
            ));
        }
        if let Some(dir) = self.simulators.iter().find(|d| !d.is_dir()) {
            return Err(TrainError::Config(format!(
                "simulator {}: not a directory (train it first: kind = \"simulator\")",
                dir.display()
            )));
        }
        for attack in &self.val_attacks {
            attack
                .parse::<faketagger_attacks::Attack>()
                .map_err(|e| TrainError::Config(format!("val_attacks: {e}")))?;
        }
        Ok(())
    }

    /// Steps of all stages.
    pub fn total_steps(&self) -> usize {
        self.stages.iter().map(|s| s.steps).sum()
    }

    /// The stage that step `step` (from 1) belongs to, by index; the last stage past the end.
    pub fn stage_of(&self, step: usize) -> usize {
        let mut end = 0;
        for (i, stage) in self.stages.iter().enumerate() {
            end += stage.steps;
            if step <= end {
                return i;
            }
        }
        self.stages.len() - 1
    }

    /// Steps before stage `index` starts.
    pub fn stage_start(&self, index: usize) -> usize {
        self.stages.iter().take(index).map(|s| s.steps).sum()
    }

    /// The training config of stage `index`: `defaults` (the kind's config as JSON) with
    /// `[model]`, the seed, and the `set` of every stage up to `index` merged in.
    pub fn stage_config<C: burn::config::Config>(
        &self,
        defaults: &C,
        index: usize,
    ) -> Result<C, TrainError> {
        let mut value = serde_json::to_value(defaults)
            .map_err(|e| TrainError::Config(format!("defaults: {e}")))?;
        merge(&mut value, &toml_to_json(&self.model), "model")?;
        if let Some(seed) = value.get_mut("seed") {
            *seed = Value::from(self.seed);
        }
        for stage in self.stages.iter().take(index + 1) {
            merge(
                &mut value,
                &toml_to_json(&stage.set),
                &format!("stages.{}.set", stage.name),
            )?;
        }
        serde_json::from_value(value).map_err(|e| TrainError::Config(e.to_string()))
    }
}

fn toml_to_json(table: &toml::Table) -> Value {
    serde_json::to_value(table).unwrap_or(Value::Null)
}

/// Merges `patch` into `base`: objects key by key (a key `base` lacks is an error), anything
/// else replaced, integers allowed where `base` holds a float.
fn merge(base: &mut Value, patch: &Value, path: &str) -> Result<(), TrainError> {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                let here = format!("{path}.{key}");
                let Some(slot) = base.get_mut(key) else {
                    let known: Vec<&str> = base.keys().map(String::as_str).collect();
                    return Err(TrainError::Config(format!(
                        "unknown key {here} (known here: {})",
                        known.join(", ")
                    )));
                };
                merge(slot, value, &here)?;
            }
            Ok(())
        }
        (slot @ Value::Object(_), other) => Err(TrainError::Config(format!(
            "{path} must be a table like {slot}, not {other}"
        ))),
        (slot, value) => {
            *slot = value.clone();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaggerTrainingConfig;
    use faketagger_model::TaggerNetConfig;

    const RUN: &str = r#"
kind = "tagger"
data = "faces"
out = "runs/x"
seed = 9

[model]
batch_size = 8
noise = { jpeg = 0.0 }

[[stages]]
name = "clean"
steps = 10

[[stages]]
name = "attacks"
steps = 20
set = { learning_rate = 3e-4, noise = { jpeg = 2 } }
"#;

    #[test]
    fn stages_merge_over_model_over_defaults() {
        let run = RunConfig::parse(RUN).unwrap();
        assert_eq!(run.total_steps(), 30);
        assert_eq!(
            (
                run.stage_of(1),
                run.stage_of(10),
                run.stage_of(11),
                run.stage_of(99)
            ),
            (0, 0, 1, 1)
        );
        let defaults = TaggerTrainingConfig::new(TaggerNetConfig::standard());
        let clean: TaggerTrainingConfig = run.stage_config(&defaults, 0).unwrap();
        let attacks: TaggerTrainingConfig = run.stage_config(&defaults, 1).unwrap();
        assert_eq!(
            (clean.batch_size, clean.seed, clean.noise.jpeg),
            (8, 9, 0.0)
        );
        assert_eq!(clean.learning_rate, defaults.learning_rate);
        assert_eq!((attacks.batch_size, attacks.noise.jpeg), (8, 2.0));
        assert_eq!(attacks.learning_rate, 3e-4);
        assert_eq!(attacks.noise.resize, defaults.noise.resize);
    }

    #[test]
    fn typos_and_bad_runs_are_refused_with_the_key_named() {
        let defaults = TaggerTrainingConfig::new(TaggerNetConfig::standard());
        let typo = RUN.replace("batch_size = 8", "bacth_size = 8");
        let err = RunConfig::parse(&typo)
            .unwrap()
            .stage_config(&defaults, 0)
            .unwrap_err();
        assert!(err.to_string().contains("model.bacth_size"), "{err}");
        let nested = RUN.replace("jpeg = 2", "jpge = 2");
        let err = RunConfig::parse(&nested)
            .unwrap()
            .stage_config(&defaults, 1)
            .unwrap_err();
        assert!(
            err.to_string().contains("stages.attacks.set.noise.jpge"),
            "{err}"
        );
        for (bad, needle) in [
            (RUN.replace("steps = 20", "steps = 0"), "no steps"),
            (RUN.replace("kind = \"tagger\"", "kind = \"gan\""), "gan"),
            (
                RUN.replace("seed = 9", "seed = 9\nval_attacks = [\"jpeg:500\"]"),
                "jpeg",
            ),
            (
                RUN.replace("seed = 9", "seed = 9\nsurprise = 1"),
                "surprise",
            ),
        ] {
            let err = RunConfig::parse(&bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let wrong_type = RUN.replace("noise = { jpeg = 0.0 }", "noise = 3");
        let err = RunConfig::parse(&wrong_type)
            .unwrap()
            .stage_config(&defaults, 0)
            .unwrap_err();
        assert!(
            err.to_string().contains("model.noise must be a table"),
            "{err}"
        );
    }

    #[test]
    fn a_run_file_survives_a_round_trip() {
        let run = RunConfig::parse(RUN).unwrap();
        assert_eq!(RunConfig::parse(&run.to_toml()).unwrap(), run);
    }
}
