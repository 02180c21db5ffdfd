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
    /// Decode photos and look their tags up in the registry: who issued them, for whom, whether
    /// the record's signature verifies, and whether the photo is the registered original or
    /// derived from it. Exit code 0: every photo traced to a valid record; 1: at least one not;
    /// 2: an error.
    Trace(TraceArgs),
    /// Create, list and show issuer keys (ed25519), and trust other issuers' public keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Serve embedding, decoding and tag lookups over HTTP (JSON).
    Serve(ServeArgs),
    /// The paper-style table: tag each face of a folder, run every attack, simulator and face
    /// swap, and report bit accuracy, exact-tag recovery and confidence per attack, PSNR/SSIM,
    /// false positives on the untouched faces, and timings.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of faces; its meta.csv (when present) gives splits and landmarks.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Which split of meta.csv ("all": every face of the folder).
    #[arg(long, value_name = "NAME", default_value = "test")]
    pub split: String,
    /// Evaluate the first N faces only.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Resize faces to PX×PX first (e.g. 256 to compare with peers measured at 256²).
    #[arg(long, value_name = "PX")]
    pub size: Option<u32>,
    /// "all" (every standard attack and both landmark face swaps), or a comma-separated list:
    /// jpeg:50,resize:0.5,faceswap,faceswap:into,...; "inphoto" adds the face-in-a-photo rows
    /// (inphoto:SHARE@SIDE: the face pasted at SHARE of a 1080p photo, tagged with its face,
    /// found and aligned at SIDE px; inphoto:SHARE@into: moved into another photo), e.g.
    /// --attacks all,inphoto
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub attacks: String,
    /// Trained DeepFake simulators to run the tagged faces through (weights folders).
    #[arg(long, value_name = "DIR,DIR", value_delimiter = ',')]
    pub simulators: Vec<PathBuf>,
    /// Embedding strength.
    #[arg(long, value_name = "F", default_value_t = faketagger::DEFAULT_STRENGTH)]
    pub strength: f32,
    /// Faces: `auto` tags each face as `embed` does by default (the whole photo, and each face
    /// the detector finds with residuals of its own: its aligned crop when the face is small in
    /// the photo, and its inner crop) and reads each attacked face as `decode` does (the faces
    /// when the whole photo has no tag); `off` tags and reads the whole photo only.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "off"])]
    pub faces: String,
    /// Seed of the tags and random attacks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long, conflicts_with_all = ["csv", "markdown"])]
    pub json: bool,
    /// Print the table as CSV.
    #[arg(long, conflicts_with = "markdown")]
    pub csv: bool,
    /// Print the table as Markdown (the default).
    #[arg(long)]
    pub markdown: bool,
    /// Also draw bit accuracy against attack strength, one panel per family (SVG).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Also write the whole report as JSON to FILE (whatever is printed).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Faces worked on at once (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Where the tag registry lives.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The tag registry: a SQLite file, or a postgres:// URL (builds with the `postgres`
    /// feature). Default: $FAKETAGGER_HOME/registry.sqlite (~/.faketagger/registry.sqlite).
    #[arg(long, value_name = "LOCATION", env = "FAKETAGGER_REGISTRY")]
    pub registry: Option<String>,
}

/// Where issuer keys live.
#[derive(Debug, Args)]
pub struct KeyDirArgs {
    /// Folder of issuer keys. Default: $FAKETAGGER_HOME/keys (~/.faketagger/keys).
    #[arg(long, value_name = "DIR", env = "FAKETAGGER_KEYS")]
    pub keys: Option<PathBuf>,
}

/// How JPEG outputs are written.
#[derive(Debug, Args)]
pub struct JpegArgs {
    /// JPEG quality when the output is a JPEG file (1–100).
    #[arg(
        long,
        value_name = "Q",
        default_value_t = i64::from(faketagger::io::DEFAULT_JPEG_QUALITY),
        allow_negative_numbers = true
    )]
    pub quality: i64,
}

/// How input photos are read.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Read a photo whose file ends before its image does (a partial download or copy), the
    /// missing part filled by the decoder; by default such a file is refused.
    #[arg(long)]
    pub allow_truncated: bool,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Photos to trace.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// One JSON object per input and line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an issuer key (never replaces one).
    New {
        /// The issuer's name: letters, digits, '_', '.', '-'.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        dir: KeyDirArgs,
    },
    /// List the issuer keys: names and public keys.
    List {
        #[command(flatten)]
        dir: KeyDirArgs,
    },
    /// Show an issuer's public key (and, only when asked, its secret).
    Show {
        /// The issuer's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Also print the secret key (for a backup; anyone holding it can sign as this issuer).
        #[arg(long)]
        secret: bool,
        #[command(flatten)]
        dir: KeyDirArgs,
    },
    /// Make the registry trust another issuer's public key (records it signs then verify).
    Trust {
        /// The issuer's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Its public key: 64 hex digits (`faketagger keys show NAME` on the issuer's machine).
        #[arg(value_name = "PUBLIC_KEY")]
        public_key: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// File of API keys, one per line, that the writing endpoints (POST /v1/embed) accept as
    /// `Authorization: Bearer KEY`. Without it, embedding over HTTP is disabled.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// The issuer whose key signs the records POST /v1/embed registers (default: the only key
    /// in the key folder).
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,
    /// Largest request body, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    pub max_body_mib: usize,
    /// Largest image accepted, in megapixels.
    #[arg(long, value_name = "MP", default_value_t = 40)]
    pub max_megapixels: u32,
    /// Images decoded or embedded at once (default: all cores); further requests wait up to
    /// --queue-timeout, then get 503.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Seconds a request waits for a free worker before a 503.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub queue_timeout: u64,
    /// Most images in one POST /v1/decode request.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_batch: usize,
    /// Let the page at / register tags (records signed by --issuer) when its user ticks
    /// "register". Only on a loopback --addr; without it the page registers nothing.
    #[arg(long)]
    pub register: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub keys: KeyDirArgs,
    #[command(flatten)]
    pub model: ModelArgs,
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
    /// Backend: flex (CPU), cuda, wgpu or tch (when built with that feature).
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
    #[arg(
        long,
        value_name = "HEX",
        required_unless_present = "register",
        conflicts_with = "register"
    )]
    pub tag: Option<String>,
    /// Draw a fresh random tag for each photo and record it, signed, in the registry.
    #[arg(long, requires = "owner")]
    pub register: bool,
    /// --register: whom the photo belongs to.
    #[arg(long, value_name = "TEXT", requires = "register")]
    pub owner: Option<String>,
    /// --register: a note kept with the record.
    #[arg(long, value_name = "TEXT", requires = "register")]
    pub note: Option<String>,
    /// --register: the issuer whose key signs the record (default: the only key in the key
    /// folder; `faketagger keys new NAME` makes one).
    #[arg(long, value_name = "NAME", requires = "register")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub keys: KeyDirArgs,
    /// Embedding strength: higher survives more, shows more.
    #[arg(long, value_name = "F", default_value_t = faketagger::DEFAULT_STRENGTH, allow_negative_numbers = true)]
    pub strength: f32,
    #[command(flatten)]
    pub jpeg: JpegArgs,
    /// Replace existing outputs (never inputs).
    #[arg(long)]
    pub force: bool,
    /// Tag a photo that already carries a tag (by default it is refused, naming the tag it
    /// carries and, with --register, its owner).
    #[arg(long)]
    pub retag: bool,
    /// Faces: `auto` tags the whole photo and gives each face found its own tag residual, made
    /// in the face's aligned crop, where DeepFake tools look; `only` tags the faces and leaves
    /// the rest of the photo as it was; `off` tags the whole photo only (no face detection).
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "off", "only"])]
    pub faces: String,
    /// One JSON object per input and line on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub read: ReadArgs,
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
    /// Backend for the networks: flex (CPU), cuda, wgpu or tch (when built with that feature).
    #[arg(long, value_name = "NAME", default_value = "flex")]
    pub device: String,
    /// Smallest face looked for, in pixels (of the photo, or of its copy 1920 px long when it
    /// is larger); at least 12. Faces down to about half of it are still found. The detector
    /// runs the levels of the 20 px pyramid DeepFake tools use (MTCNN's default), leaving out
    /// those for faces under PX: larger is faster (1080p, 2 cores: ~100–150 ms at 20, 35–75 at
    /// 32, 25–50 at 40), and the faces it finds keep the tools' landmarks (at 32, every face
    /// with a box of 52 px or more)
    #[arg(long, value_name = "PX", default_value_t = faketagger::faces::DEFAULT_MIN_FACE)]
    pub min_face: f32,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// The attack, as the world does it: jpeg:Q (4:2:0, as libjpeg and platforms write it),
    /// jpeg444:Q, webp[:Q] (lossy, default 75), resize:F, stretch:FX/FY, crop:F (area kept),
    /// rotate:DEG, straighten:DEG, shift:F[/FY], border:F[/R/B/L][@FILL], letterbox:W/H[@FILL],
    /// screenshot:SCALE, blur:SIGMA, noise:SIGMA (0–1 scale), brightness:F, contrast:F,
    /// saturation:F, grey, gamma:G, sharpen:AMOUNT, median:R, palette:COLOURS, social:F or
    /// social:1080px, chains A+B (e.g. jpeg:90+jpeg:70); FILL is white, black, grey, RRGGBB or
    /// photo (the --donor photo); faceswap (the --donor's face pasted over INPUT) or
    /// faceswap:into (INPUT's face pasted into the --donor photo).
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
    /// faceswap: the other face; @photo canvases: the photo around INPUT.
    #[arg(long, value_name = "PHOTO")]
    pub donor: Option<PathBuf>,
    /// faceswap: a CelebA-style meta.csv with the landmarks (lm0_x … lm4_y) of INPUT and the
    /// donor, looked up by file name (default: the meta.csv beside each photo, else the layout
    /// of an aligned face crop).
    #[arg(long, value_name = "CSV")]
    pub landmarks: Option<PathBuf>,
    #[command(flatten)]
    pub jpeg: JpegArgs,
    /// Replace an existing output (never the input).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub read: ReadArgs,
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
    /// Read each face too, aligned as DeepFake tools align faces: `auto` when the whole photo
    /// carries no tag, `all` always, `off` never.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "all", "off"])]
    pub faces: String,
    #[command(flatten)]
    pub read: ReadArgs,
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
