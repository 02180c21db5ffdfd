//! Raw command-line flags (clap derive). Validation happens in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Proactive tagging of face images: hide an error-corrected 64-bit tag in a photo, invisibly,
/// and recover it after DeepFake and platform pipelines.
#[derive(Debug, Parser)]
#[command(
    name = "faketagger",
    version,
    about,
    max_term_width = 100,
    after_help = "embed and decode run the learned networks compiled into this build \
                  (weights/faketagger-v1, see its MODEL_CARD.md for what they survive); --weights DIR \
                  loads others, --baseline runs the classical DCT spread-spectrum scheme."
)]
pub struct Cli {
    /// Print nothing but results and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tag photos.
    Embed(EmbedArgs),
    /// Look for tags in photos. Exit code 0: every input carries a tag; 1: at least one does
    /// not; 2: an error.
    Decode(DecodeArgs),
    /// Apply one real attack to a photo (what platforms and forgers do to tagged photos).
    Attack(AttackArgs),
    /// Tag ⇄ channel bits, without images (for integrations and debugging).
    #[command(subcommand)]
    Codec(CodecCommand),
    /// Train the tagger or a DeepFake simulator from a run file (training/configs/*.toml).
    Train(TrainArgs),
    /// Draw a training run's logs as SVG plots (RUN_DIR/plots/).
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run file: kind, data, output folder, training config and curriculum.
    #[arg(long, value_name = "TOML")]
    pub config: PathBuf,
    /// Continue the run in its output folder from its last checkpoint.
    #[arg(long, conflicts_with = "restart")]
    pub resume: bool,
    /// Discard the output folder's checkpoint and logs and start the run again.
    #[arg(long)]
    pub restart: bool,
    /// Stop after this many steps (with a checkpoint; --resume carries on).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<usize>,
    /// Dataset folder, instead of the run file's `data`.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Output folder, instead of the run file's `out`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Backend: flex (CPU), cuda or wgpu (when built with that feature).
    #[arg(long, value_name = "NAME", default_value = "flex")]
    pub device: String,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A run's output folder (with log.csv and val.csv).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Photos to tag (PNG, JPEG, WebP, TIFF, BMP). Inputs are never modified.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output file (one input only); its extension picks the format.
    #[arg(
        short,
        long,
        value_name = "OUTPUT",
        conflicts_with = "out_dir",
        required_unless_present = "out_dir"
    )]
    pub output: Option<PathBuf>,
    /// Directory for the outputs, each named like its input.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The tag: 16 hex digits.
    #[arg(long, value_name = "HEX")]
    pub tag: String,
    /// Embedding strength: higher survives more, shows more.
    #[arg(long, value_name = "F", default_value_t = faketagger::DEFAULT_STRENGTH)]
    pub strength: f32,
    /// JPEG quality of JPEG outputs (1–100).
    #[arg(long, value_name = "Q", default_value_t = 95)]
    pub quality: u8,
    /// Replace existing outputs (never inputs).
    #[arg(long)]
    pub force: bool,
    /// One JSON object per input and line on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Which networks run, and where.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Directory with trained networks (tagger.json + tagger.bpk) instead of the built-in ones.
    #[arg(long, value_name = "DIR", conflicts_with = "baseline")]
    pub weights: Option<PathBuf>,
    /// Run the classical DCT spread-spectrum baseline instead of the networks.
    #[arg(long)]
    pub baseline: bool,
    /// Backend for the networks: flex (CPU), cuda or wgpu (when built with that feature).
    #[arg(long, value_name = "NAME", default_value = "flex")]
    pub device: String,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// The attack: identity, jpeg:Q, webp[:Q] (lossy, default 75), resize:F, crop:F (area kept),
    /// rotate:DEG, blur:SIGMA, noise:SIGMA (0–1 scale), brightness:F, contrast:F; faceswap
    /// (the --donor's face pasted over INPUT) or faceswap:into (INPUT's face pasted into the
    /// --donor photo).
    #[arg(value_name = "KIND[:PARAM]")]
    pub attack: String,
    /// The photo to attack (never modified).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Output file; its extension picks the format.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,
    /// Seed of the random attacks (noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// faceswap: the other face.
    #[arg(long, value_name = "PHOTO")]
    pub donor: Option<PathBuf>,
    /// faceswap: a CelebA-style meta.csv with the landmarks (lm0_x … lm4_y) of INPUT and the
    /// donor, looked up by file name (default: the meta.csv beside each photo, else the layout
    /// of an aligned face crop).
    #[arg(long, value_name = "CSV")]
    pub landmarks: Option<PathBuf>,
    /// JPEG quality when the output is a JPEG file (1–100).
    #[arg(long, value_name = "Q", default_value_t = 95)]
    pub quality: u8,
    /// Replace an existing output (never the input).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Photos to examine.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// One JSON object per input and line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Subcommand)]
pub enum CodecCommand {
    /// Print the channel word for a tag.
    Encode {
        /// The tag: 16 hex digits.
        #[arg(long, value_name = "HEX")]
        tag: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Decode a channel word given as a string of 0 and 1 (hard decisions).
    Decode {
        /// The channel bits.
        #[arg(value_name = "BITS")]
        bits: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
}
