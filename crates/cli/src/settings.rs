//! Validated settings built from the raw flags: every check that names a flag lives here.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use faketagger::Tag;
use faketagger::io::{Overwrite, ReadOptions};
use image::ImageFormat;

use faketagger::attacks::Attack;

use faketagger::registry::{Issuer, KeyStore, Registry};

use crate::args::{
    AttackArgs, DecodeArgs, EmbedArgs, EvalArgs, KeyDirArgs, ModelArgs, ReadArgs, RegistryArgs,
    ServeArgs, TraceArgs, TrainArgs,
};

/// Which scheme runs: built-in networks, networks from a directory, or the baseline.
#[derive(Debug, Clone)]
pub enum ModelChoice {
    Builtin,
    Dir(PathBuf),
    Baseline,
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub choice: ModelChoice,
    pub backend: faketagger::model::Backend,
    /// How faces are looked for (`--min-face`).
    pub detect: faketagger::faces::DetectOptions,
}

/// The backend named by `--device`.
fn parse_device(name: &str) -> Result<faketagger::model::Backend> {
    name.parse().with_context(|| format!("--device {name}"))
}

impl ModelSettings {
    pub fn from_args(args: ModelArgs) -> Result<Self> {
        let backend = parse_device(&args.device)?;
        let choice = match (args.weights, args.baseline) {
            (_, true) => ModelChoice::Baseline,
            (Some(dir), false) => {
                if !dir.is_dir() {
                    bail!(
                        "--weights {}: not a directory\nhint: a weights directory holds tagger.json and tagger.bpk",
                        dir.display()
                    );
                }
                ModelChoice::Dir(dir)
            }
            (None, false) => ModelChoice::Builtin,
        };
        let detect = faketagger::faces::DetectOptions {
            min_face: args.min_face,
            ..faketagger::faces::default_detect_options()
        };
        detect
            .validate()
            .with_context(|| format!("--min-face {}", args.min_face))?;
        Ok(Self {
            choice,
            backend,
            detect,
        })
    }

    /// The face detector compiled into the build, on the same device.
    pub fn detector(&self) -> Result<faketagger::faces::Detector> {
        let device = self
            .backend
            .device()
            .with_context(|| format!("--device {}", self.backend))?;
        Ok(faketagger::faces::builtin_detector(&device)?)
    }

    /// Builds the tagger these settings name.
    pub fn tagger(&self) -> Result<faketagger::Tagger> {
        use faketagger::Tagger;
        if let ModelChoice::Baseline = self.choice {
            return Ok(Tagger::classic());
        }
        let device = self
            .backend
            .device()
            .with_context(|| format!("--device {}", self.backend))?;
        Ok(match &self.choice {
            ModelChoice::Dir(dir) => Tagger::load(dir, &device)
                .with_context(|| format!("--weights {}", dir.display()))?,
            _ => Tagger::builtin(&device)?,
        })
    }
}

/// Where one input's output goes, and in which format.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
    pub format: ImageFormat,
}

/// Which tag `embed` writes.
#[derive(Debug)]
pub enum TagSource {
    /// The one given with --tag.
    Fixed(Tag),
    /// A fresh random tag per photo, recorded in the registry.
    Register(Box<Registration>),
}

/// What `embed --register` records, and where.
#[derive(Debug)]
pub struct Registration {
    pub registry: String,
    pub issuer: Issuer,
    pub owner: String,
    pub note: String,
}

#[derive(Debug)]
pub struct EmbedSettings {
    pub jobs: Vec<Job>,
    pub tag: TagSource,
    pub strength: f32,
    pub quality: u8,
    pub overwrite: Overwrite,
    /// Tag photos that already carry a tag.
    pub retag: bool,
    pub faces: faketagger::FaceTagging,
    pub json: bool,
    pub read: ReadOptions,
    pub model: ModelSettings,
}

#[derive(Debug)]
pub struct DecodeSettings {
    pub inputs: Vec<PathBuf>,
    pub threads: NonZeroUsize,
    pub json: bool,
    pub faces: faketagger::FaceMode,
    pub read: ReadOptions,
    pub model: ModelSettings,
}

fn read_options(args: &ReadArgs) -> ReadOptions {
    ReadOptions {
        allow_truncated: args.allow_truncated,
    }
}

/// The formats outputs can be written in.
const OUTPUT_FORMATS: &str = "png, jpg/jpeg, webp (lossless), tif/tiff, bmp";

pub fn parse_tag(text: &str) -> Result<Tag> {
    text.parse::<Tag>().with_context(|| "--tag".to_string())
}

impl EmbedSettings {
    pub fn from_args(args: EmbedArgs) -> Result<Self> {
        let tag = match (&args.tag, args.register) {
            (Some(text), false) => TagSource::Fixed(parse_tag(text)?),
            (None, true) => TagSource::Register(Box::new(Registration {
                registry: registry_location(&args.registry)?,
                issuer: load_issuer(&key_store(&args.keys)?, args.issuer.as_deref())?,
                owner: args.owner.clone().unwrap_or_default(),
                note: args.note.clone().unwrap_or_default(),
            })),
            // clap enforces exactly one of the two
            _ => bail!("give one of --tag HEX or --register"),
        };
        check_strength(args.strength)?;
        let quality = check_quality(args.jpeg.quality)?;
        let jobs = match (&args.output, &args.out_dir) {
            (Some(output), None) => {
                if args.inputs.len() > 1 {
                    bail!(
                        "-o/--output takes one input, got {}\nhint: use --out-dir DIR to tag several photos",
                        args.inputs.len()
                    );
                }
                vec![Job {
                    input: args.inputs[0].clone(),
                    output: output.clone(),
                    format: output_format(output)?,
                }]
            }
            (None, Some(dir)) => {
                if !dir.is_dir() {
                    bail!(
                        "--out-dir {}: not a directory\nhint: create it first",
                        dir.display()
                    );
                }
                let mut jobs = Vec::with_capacity(args.inputs.len());
                for input in &args.inputs {
                    let Some(name) = input.file_name() else {
                        bail!("{}: not a file name", input.display());
                    };
                    let output = dir.join(name);
                    if let Some(other) = jobs.iter().find(|j: &&Job| j.output == output) {
                        bail!(
                            "{} and {} would both be written to {}\nhint: tag them into different directories",
                            other.input.display(),
                            input.display(),
                            output.display()
                        );
                    }
                    jobs.push(Job {
                        input: input.clone(),
                        format: output_format(&output)?,
                        output,
                    });
                }
                jobs
            }
            // clap enforces exactly one of the two
            _ => bail!("give one of -o/--output or --out-dir"),
        };
        Ok(Self {
            jobs,
            tag,
            strength: args.strength,
            quality,
            overwrite: if args.force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            },
            retag: args.retag,
            faces: args
                .faces
                .parse()
                .with_context(|| format!("--faces {}", args.faces))?,
            json: args.json,
            read: read_options(&args.read),
            model: ModelSettings::from_args(args.model)?,
        })
    }
}

fn check_quality(quality: i64) -> Result<u8> {
    faketagger::io::check_jpeg_quality(quality)
        .map_err(|_| anyhow::anyhow!("--quality {quality}: must lie between 1 and 100"))
}

fn check_strength(strength: f32) -> Result<f32> {
    faketagger::check_strength(strength).map_err(|_| {
        anyhow::anyhow!(
            "--strength {strength}: must lie {}\nhint: 1 is the default; higher survives more and shows more",
            faketagger::STRENGTH_EXPECTED
        )
    })
}

/// A real attack on one photo, or a face swap with a second one.
#[derive(Debug, Clone)]
pub enum AttackKind {
    Image {
        attack: Attack,
        /// The other photo of `@photo` canvases.
        backdrop: Option<PathBuf>,
    },
    FaceSwap {
        /// INPUT's face goes into the donor photo (else the donor's face over INPUT).
        into: bool,
        donor: PathBuf,
        landmarks: Option<PathBuf>,
    },
}

impl std::fmt::Display for AttackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttackKind::Image { attack, .. } => write!(f, "{attack}"),
            AttackKind::FaceSwap {
                into: false, donor, ..
            } => {
                write!(f, "faceswap (face of {})", donor.display())
            }
            AttackKind::FaceSwap {
                into: true, donor, ..
            } => {
                write!(f, "faceswap:into {}", donor.display())
            }
        }
    }
}

#[derive(Debug)]
pub struct AttackSettings {
    pub attack: AttackKind,
    pub job: Job,
    pub seed: u64,
    pub quality: u8,
    pub overwrite: Overwrite,
    pub read: ReadOptions,
}

impl AttackSettings {
    pub fn from_args(args: AttackArgs) -> Result<Self> {
        let attack = match args.attack.to_ascii_lowercase().as_str() {
            kind @ ("faceswap" | "faceswap:into") => {
                let Some(donor) = args.donor else {
                    bail!("{kind} needs --donor PHOTO: the other face");
                };
                AttackKind::FaceSwap {
                    into: kind.ends_with(":into"),
                    donor,
                    landmarks: args.landmarks,
                }
            }
            _ => {
                let attack = args
                    .attack
                    .parse::<Attack>()
                    .with_context(|| format!("KIND {:?}", args.attack))?;
                if args.landmarks.is_some() {
                    bail!("--landmarks goes with the faceswap attack only");
                }
                match (attack.needs_backdrop(), &args.donor) {
                    (true, None) => bail!(
                        "{attack} puts the photo on another photo: give it with --donor PHOTO"
                    ),
                    (false, Some(_)) => {
                        bail!("--donor goes with faceswap and @photo canvases only")
                    }
                    _ => {}
                }
                AttackKind::Image {
                    attack,
                    backdrop: args.donor,
                }
            }
        };
        let quality = check_quality(args.jpeg.quality)?;
        let format = output_format(&args.output)?;
        Ok(Self {
            attack,
            job: Job {
                input: args.input,
                output: args.output,
                format,
            },
            seed: args.seed,
            quality,
            overwrite: if args.force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            },
            read: read_options(&args.read),
        })
    }
}

fn output_format(path: &Path) -> Result<ImageFormat> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => Ok(ImageFormat::Png),
        Some("jpg" | "jpeg") => Ok(ImageFormat::Jpeg),
        Some("webp") => Ok(ImageFormat::WebP),
        Some("tif" | "tiff") => Ok(ImageFormat::Tiff),
        Some("bmp") => Ok(ImageFormat::Bmp),
        _ => bail!(
            "{}: cannot tell the output format from the extension\nhint: use one of {OUTPUT_FORMATS}",
            path.display()
        ),
    }
}

fn threads(flag: Option<usize>) -> Result<NonZeroUsize> {
    Ok(match flag {
        Some(n) => NonZeroUsize::new(n).context("--threads 0: give at least 1")?,
        None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
    })
}

impl DecodeSettings {
    pub fn from_args(args: DecodeArgs) -> Result<Self> {
        Ok(Self {
            inputs: args.inputs,
            threads: threads(args.threads)?,
            json: args.json,
            faces: args
                .faces
                .parse()
                .with_context(|| format!("--faces {}", args.faces))?,
            read: read_options(&args.read),
            model: ModelSettings::from_args(args.model)?,
        })
    }
}

/// What `faketagger train` runs.
#[derive(Debug)]
pub struct TrainSettings {
    pub run: faketagger_train::RunConfig,
    pub start: faketagger_train::run::Start,
    pub max_steps: Option<usize>,
    pub backend: faketagger::model::Backend,
}

impl TrainSettings {
    pub fn from_args(args: TrainArgs) -> Result<Self> {
        use faketagger_train::run::Start;
        // the error names the file
        let mut run = faketagger_train::RunConfig::load(&args.config)?;
        if let Some(data) = args.data {
            run.data = data;
        }
        if let Some(out) = args.out {
            run.out = out;
        }
        if !run.data.is_dir() {
            bail!(
                "dataset {}: not a directory\nhint: point the run file's `data` or --data at a folder of face images (with meta.csv for splits)",
                run.data.display()
            );
        }
        if args.max_steps == Some(0) {
            bail!("--max-steps 0: nothing to do");
        }
        let backend = parse_device(&args.device)?;
        let start = match (args.resume, args.restart) {
            (true, _) => Start::Resume,
            (_, true) => Start::Restart,
            _ => Start::Fresh,
        };
        Ok(Self {
            run,
            start,
            max_steps: args.max_steps,
            backend,
        })
    }
}

/// faketagger's own folder: $FAKETAGGER_HOME, else ~/.faketagger.
fn home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FAKETAGGER_HOME") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context(
        "neither FAKETAGGER_HOME nor HOME is set\nhint: pass --registry and --keys, or set FAKETAGGER_HOME",
    )?;
    Ok(PathBuf::from(home).join(".faketagger"))
}

/// The registry --registry names, else the default file.
pub fn registry_location(args: &RegistryArgs) -> Result<String> {
    match &args.registry {
        Some(location) if location.trim().is_empty() => bail!("--registry: empty location"),
        Some(location) => Ok(location.clone()),
        None => Ok(home()?.join("registry.sqlite").display().to_string()),
    }
}

/// Opens the registry at a location, naming the flag in errors.
pub fn open_registry(location: &str) -> Result<Registry> {
    // the registry's own errors name the location, password hidden
    Registry::open(location).context("--registry")
}

/// The key folder --keys names, else the default one.
pub fn key_store(args: &KeyDirArgs) -> Result<KeyStore> {
    Ok(KeyStore::new(match &args.keys {
        Some(dir) => dir.clone(),
        None => home()?.join("keys"),
    }))
}

/// The issuer `name`, or the only key in the store.
pub fn load_issuer(store: &KeyStore, name: Option<&str>) -> Result<Issuer> {
    if let Some(name) = name {
        return store.load(name).with_context(|| format!("--issuer {name}"));
    }
    let keys = store.list()?;
    match keys.as_slice() {
        [(name, _)] => Ok(store.load(name)?),
        [] => bail!(
            "no issuer key in {}\nhint: create one with `faketagger keys new NAME` (or point --keys at your key folder)",
            store.dir().display()
        ),
        several => bail!(
            "{} issuer keys in {} ({})\nhint: pick one with --issuer NAME",
            several.len(),
            store.dir().display(),
            several
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What `faketagger trace` runs.
#[derive(Debug)]
pub struct TraceSettings {
    pub inputs: Vec<PathBuf>,
    pub threads: NonZeroUsize,
    pub json: bool,
    pub registry: String,
    pub read: ReadOptions,
    pub model: ModelSettings,
}

impl TraceSettings {
    pub fn from_args(args: TraceArgs) -> Result<Self> {
        Ok(Self {
            inputs: args.inputs,
            threads: threads(args.threads)?,
            json: args.json,
            registry: registry_location(&args.registry)?,
            read: read_options(&args.read),
            model: ModelSettings::from_args(args.model)?,
        })
    }
}

/// What `faketagger serve` runs.
#[derive(Debug)]
pub struct ServeSettings {
    pub addr: std::net::SocketAddr,
    pub api_keys: Vec<String>,
    pub issuer: Option<Issuer>,
    /// The page may register tags (`--register`).
    pub register: bool,
    pub max_body_bytes: usize,
    pub max_pixels: u64,
    pub concurrency: NonZeroUsize,
    pub queue_timeout: std::time::Duration,
    pub max_batch: usize,
    pub registry: String,
    pub model: ModelSettings,
}

/// Shortest API key accepted: 128 bits of hex.
const MIN_API_KEY_LEN: usize = 32;

impl ServeSettings {
    pub fn from_args(args: ServeArgs) -> Result<Self> {
        let addr: std::net::SocketAddr = args.addr.parse().with_context(|| {
            format!(
                "--addr {}: expected IP:PORT, like 127.0.0.1:8080",
                args.addr
            )
        })?;
        let api_keys = match &args.api_keys {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--api-keys {}", path.display()))?;
                let keys: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from)
                    .collect();
                if keys.is_empty() {
                    bail!("--api-keys {}: no key in the file", path.display());
                }
                if let Some(short) = keys.iter().find(|k| k.len() < MIN_API_KEY_LEN) {
                    bail!(
                        "--api-keys {}: a key of {} characters; use at least {MIN_API_KEY_LEN}\nhint: `openssl rand -hex 16` makes one",
                        path.display(),
                        short.len()
                    );
                }
                keys
            }
        };
        if args.register && !addr.ip().is_loopback() {
            bail!(
                "--register: only with a loopback --addr (127.0.0.1:PORT), where the page embeds \
                 without a key; API clients register with their keys"
            );
        }
        // the registering endpoint needs a signing key only when it can be reached
        let issuer = if api_keys.is_empty() && !args.register {
            None
        } else {
            Some(load_issuer(
                &key_store(&args.keys)?,
                args.issuer.as_deref(),
            )?)
        };
        if args.max_body_mib == 0 || args.max_body_mib > 1024 {
            bail!("--max-body-mib {}: between 1 and 1024", args.max_body_mib);
        }
        if args.max_megapixels == 0
            || u64::from(args.max_megapixels) * 1_000_000 > faketagger::io::MAX_PIXELS
        {
            bail!(
                "--max-megapixels {}: between 1 and {}",
                args.max_megapixels,
                faketagger::io::MAX_PIXELS / 1_000_000
            );
        }
        if args.max_batch == 0 {
            bail!("--max-batch 0: give at least 1");
        }
        Ok(Self {
            addr,
            api_keys,
            issuer,
            register: args.register,
            max_body_bytes: args.max_body_mib << 20,
            max_pixels: u64::from(args.max_megapixels) * 1_000_000,
            concurrency: threads(args.concurrency).context("--concurrency")?,
            queue_timeout: std::time::Duration::from_secs(args.queue_timeout),
            max_batch: args.max_batch,
            registry: registry_location(&args.registry)?,
            model: ModelSettings::from_args(args.model)?,
        })
    }
}

/// How `faketagger eval` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Json,
    Csv,
}

/// What `faketagger eval` runs.
#[derive(Debug)]
pub struct EvalSettings {
    pub data: PathBuf,
    pub split: Option<String>,
    pub count: Option<usize>,
    pub size: Option<u32>,
    pub probes: Vec<faketagger::eval::ProbeSpec>,
    pub simulators: Vec<PathBuf>,
    pub options: faketagger::eval::EvalOptions,
    pub format: ReportFormat,
    pub plot: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub model: ModelSettings,
}

impl EvalSettings {
    pub fn from_args(args: EvalArgs) -> Result<Self> {
        use faketagger::eval::{EvalOptions, ProbeSpec};
        if !args.data.is_dir() {
            bail!(
                "--data {}: not a directory\nhint: point it at a folder of face images (with meta.csv for splits)",
                args.data.display()
            );
        }
        check_strength(args.strength)?;
        if args.count.is_some_and(|n| n < 2) {
            bail!("--count: at least 2 faces (face swaps pair each face with the next)");
        }
        if let Some(side) = args.size
            && !(faketagger::io::MIN_SIDE..=4096).contains(&side)
        {
            bail!(
                "--size {side}: between {} and 4096",
                faketagger::io::MIN_SIDE
            );
        }
        let mut probes = Vec::new();
        for text in args.attacks.split(',') {
            match text.trim() {
                "all" => probes.extend(ProbeSpec::standard()),
                "inphoto" => probes.extend(ProbeSpec::in_photo_standard()),
                text => probes
                    .push(ProbeSpec::parse(text).with_context(|| format!("--attacks {text}"))?),
            }
        }
        for dir in &args.simulators {
            if !dir.is_dir() {
                bail!("--simulators {}: not a directory", dir.display());
            }
        }
        let model = ModelSettings::from_args(args.model)?;
        Ok(Self {
            data: args.data,
            split: (args.split != "all").then_some(args.split),
            count: args.count,
            size: args.size,
            probes,
            simulators: args.simulators,
            options: EvalOptions {
                detect: model.detect,
                faces: args
                    .faces
                    .parse()
                    .with_context(|| format!("--faces {}", args.faces))?,
                strength: args.strength,
                threads: threads(args.threads)?.get(),
                seed: args.seed,
            },
            format: if args.json {
                ReportFormat::Json
            } else if args.csv {
                ReportFormat::Csv
            } else {
                ReportFormat::Markdown
            },
            plot: args.plot,
            report: args.report,
            model,
        })
    }
}
