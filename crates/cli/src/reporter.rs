//! Progress of `faketagger train`, drawn with indicatif: a bar with steps/s, ETA and the last
//! step's metrics; validations and checkpoints printed above it. Hidden with `--quiet`, and
//! indicatif hides the bar when stderr is not a terminal (logs then get one line per validation).

use std::path::Path;

use faketagger_train::{Reporter, RunConfig, ValRow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct TrainProgress {
    bar: ProgressBar,
    quiet: bool,
}

impl TrainProgress {
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar, quiet }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

fn cell(value: Option<f64>, scale: f64, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.digits$}", v * scale))
}

impl Reporter for TrainProgress {
    fn start(&self, config: &RunConfig, from: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(from as u64);
        self.bar.reset_eta();
        self.line(format!(
            "training {:?} from {} into {} (step {from} of {total})",
            config.kind,
            config.data.display(),
            config.out.display()
        ));
    }

    fn stage(&self, name: &str) {
        self.bar.set_prefix(name.to_owned());
    }

    fn step(&self, step: usize, summary: &str) {
        self.bar.set_position(step as u64);
        self.bar.set_message(summary.to_owned());
    }

    fn validation(&self, step: usize, rows: &[ValRow]) {
        let mut text = format!("validation at step {step}:");
        if let Some(first) = rows.first() {
            text.push_str(&format!(
                " PSNR {} dB, SSIM {}",
                cell(first.psnr, 1.0, 2),
                cell(first.ssim, 1.0, 4)
            ));
        }
        for row in rows
            .iter()
            .filter(|r| r.bit_accuracy.is_some() || r.attack == "unmarked")
        {
            text.push_str(&format!(
                "\n  {:<24} bits {:>6}%  exact {:>6}%",
                row.attack,
                cell(row.bit_accuracy, 100.0, 2),
                cell(row.exact_tag, 100.0, 1)
            ));
        }
        self.line(text);
    }

    fn checkpoint(&self, step: usize, dir: &Path) {
        self.line(format!("checkpoint at step {step}: {}", dir.display()));
    }

    fn finish(&self, _step: usize, _total: usize) {
        self.bar.finish_and_clear();
    }
}

/// A plain counting bar (`faketagger eval`), hidden with `--quiet` or off a terminal.
pub fn count_bar(len: u64, unit: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}
