//! The subcommands: glue between settings and the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use faketagger::io::{self, Overwrite, ReadOptions};
use faketagger::{ChannelBits, Codec, Detection, Error, Saving};
use image::DynamicImage;
use serde_json::json;

use faketagger::provenance::{self, Trace};

use crate::args::KeysCommand;
use crate::settings::{
    AttackKind, AttackSettings, DecodeSettings, EmbedSettings, EvalSettings, Job, ReportFormat,
    TagSource, TraceSettings, key_store, open_registry, parse_tag, registry_location,
};

/// Exit codes, as ripgrep's: found / not found / error.
pub const EXIT_FOUND: u8 = 0;
pub const EXIT_NOT_FOUND: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// A hint for the errors a user can act on.
pub fn hint(error: &Error) -> Option<&'static str> {
    match error {
        Error::OutputExists { .. } => Some("pass --force to replace it, or choose another output"),
        Error::OutputIsInput { .. } => {
            Some("write the tagged photo to a new file or another --out-dir")
        }
        Error::BadImage { .. } => Some("faketagger reads PNG, JPEG, WebP, TIFF and BMP files"),
        Error::ImageTooSmall { .. } => {
            Some("tag the photo at its original size, before it is downscaled")
        }
        Error::ImageTooLarge { .. } => Some("downscale the photo first; tags survive resizing"),
        Error::Truncated { .. } => Some(
            "copy or download the photo again; --allow-truncated reads what is there (the decoder fills the rest)",
        ),
        Error::AlreadyTagged { .. } => Some(
            "pass --retag to tag it anyway (the new tag goes over the old one); `faketagger trace` tells whose it is",
        ),
        // a lossless output already keeps every pixel: only the strength is left to raise
        Error::NotCarried { saved_as, .. } if saved_as.starts_with("JPEG") => {
            Some("save as PNG (lossless), raise the JPEG --quality, or raise --strength")
        }
        Error::NotCarried { .. } => Some(
            "raise --strength (the tag may then show); flat or grey photos carry it least well",
        ),
        _ => None,
    }
}

pub fn report(error: &Error) {
    eprintln!("error: {error}");
    if let Some(h) = hint(error) {
        eprintln!("hint: {h}");
    }
}

/// Reads a job's input (with `read`), turns it into the output file's bytes and writes them
/// atomically: the pipeline `embed` and `attack` share. `transform` returns the bytes to write and
/// whatever the caller reports.
fn process<T>(
    job: &Job,
    read: ReadOptions,
    overwrite: Overwrite,
    inputs: &[PathBuf],
    transform: impl FnOnce(&io::LoadedImage) -> Result<(Vec<u8>, T), Error>,
) -> Result<T, Error> {
    io::check_output(&job.output, overwrite, inputs)?;
    let loaded = io::read_image_with(&job.input, read)?;
    let (bytes, report) = transform(&loaded)?;
    io::write_atomic(&job.output, &bytes, overwrite, inputs)?;
    Ok(report)
}

pub fn embed(settings: EmbedSettings, quiet: bool) -> Result<ExitCode> {
    let load = || -> Result<_> {
        let tagger = settings.model.tagger()?;
        // the classical baseline has no face residual: `auto` tags its whole photos only
        let faces = settings
            .faces
            .for_scheme(tagger.scheme())
            .context("--faces")?;
        let detector = match faces {
            faketagger::FaceTagging::Off => None,
            _ => Some(settings.model.detector()?),
        };
        Ok((tagger, faces, detector))
    };
    // the networks load while the registry opens and the first photo is read
    std::thread::scope(|scope| embed_with(&settings, quiet, Background::start(scope, load)))
}

/// [`embed`] with its networks loading in the background.
fn embed_with(
    settings: &EmbedSettings,
    quiet: bool,
    networks: Background<
        '_,
        (
            faketagger::Tagger,
            faketagger::FaceTagging,
            Option<faketagger::faces::Detector>,
        ),
    >,
) -> Result<ExitCode> {
    let options = settings.model.detect;
    // the registry opens (and is created) before any photo is read
    let source = match &settings.tag {
        TagSource::Register(r) => Ok((open_registry(&r.registry)?, r)),
        TagSource::Fixed(tag) => Err(*tag),
    };
    let inputs: Vec<_> = settings.jobs.iter().map(|j| j.input.clone()).collect();
    let mut failed = false;
    for job in &settings.jobs {
        let result = process(job, settings.read, settings.overwrite, &inputs, |loaded| {
            let saving = Saving {
                format: job.format,
                quality: settings.quality,
                metadata: &loaded.metadata,
                path: &job.output,
            };
            let (tag_source, known) = match &source {
                Ok((registry, r)) => (
                    provenance::TagSource::Register {
                        registry,
                        issuer: &r.issuer,
                        owner: &r.owner,
                        note: &r.note,
                    },
                    Some(registry),
                ),
                Err(tag) => (provenance::TagSource::Given(*tag), None),
            };
            let (tagger, faces, detector) = networks.get()?;
            let found = faketagger::faces::faces_to_tag(
                *faces,
                detector.as_ref(),
                &loaded.image,
                &options,
            )?;
            let mut tagged = provenance::tag_photo(
                tagger,
                &loaded.image,
                &job.input,
                settings.strength,
                faces.sites(&found),
                Some(&saving),
                tag_source,
                settings.retag,
                known,
            )?;
            let bytes = tagged.embedded.bytes.take().unwrap_or_default();
            Ok((bytes, tagged))
        });
        // networks that do not load are the command's error, before any result
        if networks.wait().is_err() {
            return networks.finish().map(|_| ExitCode::from(EXIT_ERROR));
        }
        match result {
            Ok(t) => {
                let visible = t.embedded.may_show();
                let raised = t.embedded.strength > settings.strength;
                // the aligned crop is what DeepFake tools take; whether the inner crop read
                // back in place is in --json (`inner_verified`): a moved face is read with a
                // search around it, which finds more than that one read does
                for (i, face) in t.embedded.faces.iter().enumerate() {
                    if !face.verified {
                        eprintln!(
                            "warning: {}: {} does not read back its tag when aligned{}",
                            job.output.display(),
                            face_at(i + 1, &face.face),
                            if face.strength > 0.0 {
                                format!(", even at strength {:.2}", face.strength)
                            } else {
                                " (no residual of its own: its landmarks cannot be aligned, or \
                                 its residual cost the photo its tag)"
                                    .into()
                            }
                        );
                    }
                }
                if visible {
                    eprintln!(
                        "warning: {}: PSNR {:.1} dB at strength {:.2}, under {} dB: the tag may show on this photo{}",
                        job.output.display(),
                        t.embedded.psnr,
                        t.embedded.strength,
                        faketagger::PSNR_FLOOR_DB,
                        if raised {
                            " (the engine raised the strength so that the tag survives saving)"
                        } else {
                            ""
                        }
                    );
                }
                if settings.json {
                    println!(
                        "{}",
                        joined([
                            json!({ "path": job.input, "output": job.output }),
                            faketagger::json::embedded(t.tag, &t.embedded),
                            json!({
                                "requested_strength": settings.strength,
                                "record": t.record,
                            }),
                        ])
                    );
                } else if !quiet {
                    let registered = match &t.record {
                        Some(r) => {
                            format!(" (registered: issuer {}, owner {:?})", r.issuer, r.owner)
                        }
                        None => String::new(),
                    };
                    let boosted = if raised {
                        format!(", strength raised to {:.2}", t.embedded.strength)
                    } else {
                        String::new()
                    };
                    let faces = &t.embedded.faces;
                    let faces = match (faces.len(), settings.faces) {
                        (_, faketagger::FaceTagging::Off) => String::new(),
                        (0, _) => ", no face found".into(),
                        (n, _) => format!(
                            ", {} tagged ({} read back aligned)",
                            count(n, "face"),
                            faces.iter().filter(|f| f.verified).count()
                        ),
                    };
                    println!(
                        "{} -> {}: tag {}, PSNR {:.1} dB{boosted}{faces}, verified in the saved file{registered}",
                        job.input.display(),
                        job.output.display(),
                        t.tag,
                        t.embedded.psnr,
                    );
                }
            }
            Err(e) => {
                failed = true;
                if settings.json {
                    println!(
                        "{}",
                        json!({ "path": job.input, "output": job.output, "error": e.to_string() })
                    );
                }
                report(&e);
            }
        }
    }
    networks.finish()?;
    Ok(ExitCode::from(if failed { EXIT_ERROR } else { EXIT_FOUND }))
}

pub fn attack(settings: AttackSettings, quiet: bool) -> Result<ExitCode> {
    let job = &settings.job;
    let result = process(
        job,
        settings.read,
        settings.overwrite,
        std::slice::from_ref(&job.input),
        |loaded| {
            let image = apply_attack(&settings, &loaded.image)?;
            let bytes = io::encode_image(
                &image,
                job.format,
                settings.quality,
                &loaded.metadata,
                &job.output,
            )?;
            Ok((bytes, ()))
        },
    );
    if let Err(e) = result {
        report(&e);
        return Ok(ExitCode::from(EXIT_ERROR));
    }
    if !quiet {
        println!(
            "{} -> {}: {}",
            job.input.display(),
            job.output.display(),
            settings.attack
        );
    }
    Ok(ExitCode::from(EXIT_FOUND))
}

fn apply_attack(settings: &AttackSettings, image: &DynamicImage) -> Result<DynamicImage, Error> {
    use faketagger::attacks::faceswap::{aligned_landmarks, face_swap, landmarks_from_csv};
    let (into, donor_path, landmarks) = match &settings.attack {
        AttackKind::Image { attack, backdrop } => {
            let backdrop = backdrop
                .as_deref()
                .map(|path| io::read_image_with(path, settings.read))
                .transpose()?;
            let backdrop = backdrop.as_ref().map(|b| &b.image);
            return Ok(attack.apply_on(image, settings.seed, backdrop)?);
        }
        AttackKind::FaceSwap {
            into,
            donor,
            landmarks,
        } => (*into, donor, landmarks),
    };
    let donor = io::read_image_with(donor_path, settings.read)?.image;
    // landmarks: the given CSV, else the meta.csv beside each photo, else an aligned crop's
    let find = |path: &std::path::Path, img: &DynamicImage| {
        let csv = landmarks
            .clone()
            .or_else(|| path.parent().map(|d| d.join("meta.csv")));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        csv.and_then(|c| std::fs::read_to_string(c).ok())
            .and_then(|text| landmarks_from_csv(&text, name))
            .unwrap_or_else(|| aligned_landmarks(img.width(), img.height()))
    };
    let input_lm = find(&settings.job.input, image);
    let donor_lm = find(donor_path, &donor);
    Ok(if into {
        face_swap(&donor, &donor_lm, image, &input_lm)?
    } else {
        face_swap(image, &input_lm, &donor, &donor_lm)?
    })
}

/// "1 symbol", "2 symbols".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn decode(settings: DecodeSettings) -> Result<ExitCode> {
    let load = || -> Result<_> {
        let tagger = settings.model.tagger()?;
        // the classical baseline has no face reads
        let faces = match tagger.scheme() {
            faketagger::SchemeKind::Learned => settings.faces,
            _ => faketagger::FaceMode::Off,
        };
        Ok((tagger, faces))
    };
    // the detector is made when a photo's faces are first looked for (a tagged photo's are not),
    // apart: a rayon thread waiting for it must not take up another photo that waits for it too
    let detector = std::sync::OnceLock::new();
    let detector = || -> Result<Option<&faketagger::faces::Detector>, faketagger::Error> {
        let made = detector.get_or_init(|| {
            std::thread::scope(|scope| {
                match scope
                    .spawn(|| in_own_pool(|| settings.model.detector()))
                    .join()
                {
                    Ok(made) => made,
                    Err(_) => Err(anyhow::anyhow!("loading the face detector panicked")),
                }
            })
        });
        match made {
            Ok(detector) => Ok(Some(detector)),
            Err(e) => Err(faketagger::Error::Unsupported(format!(
                "the face detector did not load: {e:#}"
            ))),
        }
    };
    let options = settings.model.detect;
    // the tagger loads while the first photos are read (a 1080p JPEG takes about as long)
    let results = std::thread::scope(|scope| {
        let networks = Background::start(scope, load);
        let results = faketagger::io::map_files(
            &settings.inputs,
            settings.threads.get(),
            settings.read,
            |loaded| {
                let (tagger, faces) = networks.get()?;
                tagger.decode_with_faces_on_demand(&loaded.image, &detector, *faces, &options)
            },
        );
        // a network that does not load is the command's error, before any result
        networks.finish().map(|_| results)
    })?;
    let (mut errors, mut untagged) = (false, false);
    for (path, result) in settings.inputs.iter().zip(results) {
        match result {
            Ok(read) => {
                untagged |= read.tag().is_none();
                if settings.json {
                    println!(
                        "{}",
                        joined([json!({ "path": path }), faketagger::json::photo(&read)])
                    );
                } else {
                    println!("{}: {}", path.display(), describe_photo(&read));
                }
            }
            Err(e) => {
                errors = true;
                if settings.json {
                    println!(
                        "{}",
                        json!({ "path": path, "found": false, "error": e.to_string() })
                    );
                }
                report(&e);
            }
        }
    }
    Ok(ExitCode::from(if errors {
        EXIT_ERROR
    } else if untagged {
        EXIT_NOT_FOUND
    } else {
        EXIT_FOUND
    }))
}

/// What `make` returns, made on a thread of its own from the start (the networks, loaded while
/// the first photo is read): [`Background::get`] waits for it.
struct Background<'scope, T> {
    handle: std::sync::Mutex<Option<std::thread::ScopedJoinHandle<'scope, Result<T>>>>,
    made: std::sync::OnceLock<Result<T>>,
}

impl<'scope, T: Send + Sync + 'scope> Background<'scope, T> {
    /// `make` runs in a one-thread rayon pool of its own: the photos' tasks may hold every
    /// thread of the global pool while they wait for it, so anything parallel inside `make`
    /// (burn's CPU backend runs some operations on rayon) must not queue there.
    fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        make: impl FnOnce() -> Result<T> + Send + 'scope,
    ) -> Self {
        Self {
            handle: std::sync::Mutex::new(Some(scope.spawn(move || in_own_pool(make)))),
            made: std::sync::OnceLock::new(),
        }
    }

    fn wait(&self) -> &Result<T> {
        self.made.get_or_init(|| {
            let handle = self.handle.lock().ok().and_then(|mut h| h.take());
            match handle.map(std::thread::ScopedJoinHandle::join) {
                Some(Ok(made)) => made,
                Some(Err(_)) => Err(anyhow::anyhow!("loading the networks panicked")),
                None => Err(anyhow::anyhow!("the networks' loading was lost")),
            }
        })
    }

    /// The value, once made; a failure becomes a library error for the photo at hand, and
    /// [`Background::finish`] gives the real one.
    fn get(&self) -> Result<&T, faketagger::Error> {
        self.wait().as_ref().map_err(|_| {
            faketagger::Error::Unsupported("the networks did not load (see the error)".into())
        })
    }

    /// The value, or the error making it gave.
    fn finish(self) -> Result<T> {
        self.wait();
        self.made
            .into_inner()
            .unwrap_or_else(|| Err(anyhow::anyhow!("the networks' loading was lost")))
    }
}

/// `make` (networks being loaded) run in a one-thread rayon pool of its own, so that nothing
/// parallel inside it queues behind tasks that wait for it.
fn in_own_pool<T: Send>(make: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(make),
        Err(e) => Err(anyhow::anyhow!("no thread to load the networks on: {e}")),
    }
}

/// "face 2 at 10,20–110,140": the face's number and box.
fn face_at(number: usize, face: &faketagger::faces::Face) -> String {
    let [x1, y1, x2, y2] = face.bbox.map(|v| v.round() as i64);
    format!("face {number} at {x1},{y1}–{x2},{y2}")
}

/// One JSON object with the fields of each of `objects`, in order (a JSON line of `embed` or
/// `decode`: the path, then the engine's fields).
fn joined<const N: usize>(objects: [serde_json::Value; N]) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    for object in objects {
        if let serde_json::Value::Object(fields) = object {
            line.extend(fields);
        }
    }
    serde_json::Value::Object(line)
}

fn describe_photo(read: &faketagger::faces::PhotoRead) -> String {
    let mut text = describe(&read.photo);
    for (i, face) in read.faces.iter().enumerate() {
        text.push_str(&format!(
            "\n  {}: {}",
            face_at(i + 1, &face.face),
            describe(&face.detection)
        ));
    }
    text
}

fn describe(d: &Detection) -> String {
    match d.tag {
        Some(tag) => format!(
            "tag {tag} (confidence {:.2}, {} corrected)",
            d.confidence,
            count(d.corrected, "symbol")
        ),
        None => format!("no tag (confidence {:.2})", d.confidence),
    }
}

pub fn codec_encode(tag: &str, json_out: bool) -> Result<ExitCode> {
    let tag = parse_tag(tag)?;
    let bits = Codec::v1().encode(tag);
    if json_out {
        println!(
            "{}",
            json!({ "tag": tag.to_string(), "channel_bits": bits.to_string() })
        );
    } else {
        println!("{bits}");
    }
    Ok(ExitCode::from(EXIT_FOUND))
}

pub fn codec_decode(bits: &str, json_out: bool) -> Result<ExitCode> {
    let codec = Codec::v1();
    let bits: ChannelBits = bits
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("BITS: {e}"))?;
    let decoding = codec.decode_hard(&bits).map_err(|e| {
        anyhow::anyhow!("BITS: {e}\nhint: `faketagger codec encode --tag HEX` shows a valid word")
    })?;
    let d = Detection::from(decoding);
    if json_out {
        println!(
            "{}",
            joined([json!({ "path": "-" }), faketagger::json::detection(&d)])
        );
    } else {
        println!("{}", describe(&d));
    }
    Ok(ExitCode::from(if d.tag.is_some() {
        EXIT_FOUND
    } else {
        EXIT_NOT_FOUND
    }))
}

pub fn train(settings: crate::settings::TrainSettings, quiet: bool) -> Result<ExitCode> {
    use anyhow::Context;
    let device = settings
        .backend
        .device()
        .with_context(|| format!("--device {}", settings.backend))?;
    let reporter = crate::reporter::TrainProgress::new(quiet);
    let out = settings.run.out.clone();
    let summary = faketagger_train::Run::new(settings.run, &device, &reporter)
        .execute(settings.start, settings.max_steps)
        .map_err(|e| match e {
            faketagger_train::TrainError::Resume { .. } => anyhow::anyhow!(
                "{e}\nhint: pass --resume to continue from its checkpoint, or --restart to start over"
            ),
            other => anyhow::Error::new(other),
        })?;
    if !quiet {
        let hours = summary.seconds / 3600.0;
        match &summary.weights {
            Some(weights) => println!(
                "finished {} steps in {hours:.2} h; weights {}",
                summary.steps,
                weights.display()
            ),
            None => println!(
                "stopped at step {} of {} ({hours:.2} h so far); continue with --resume",
                summary.steps, summary.total
            ),
        }
        for path in faketagger_train::plot::plot_run(&out)? {
            println!("plot {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn plot(run: &std::path::Path) -> Result<ExitCode> {
    use anyhow::Context;
    let written = faketagger_train::plot::plot_run(run)
        .with_context(|| format!("{}: not a training run folder (log.csv)", run.display()))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn trace(settings: TraceSettings) -> Result<ExitCode> {
    let registry = open_registry(&settings.registry)?;
    let tagger = settings.model.tagger()?;
    let threads = settings.threads.get();
    // a photo tagged on its faces only carries the tag there
    let detector = match tagger.scheme() {
        faketagger::SchemeKind::Learned => Some(settings.model.detector()?),
        _ => None,
    };
    let options = settings.model.detect;
    let results = faketagger::io::map_files(&settings.inputs, threads, settings.read, |loaded| {
        let read = tagger.decode_with_faces(
            &loaded.image,
            detector.as_ref(),
            faketagger::FaceMode::Auto,
            &options,
        )?;
        Ok(provenance::trace(
            &loaded.image,
            read.detection(),
            &registry,
        )?)
    });
    let (mut errors, mut untraced) = (false, false);
    for (path, result) in settings.inputs.iter().zip(results) {
        match result {
            Ok(t) => {
                untraced |= !matches!(
                    t.verdict,
                    provenance::Verdict::Original | provenance::Verdict::Derived
                );
                if settings.json {
                    let mut value = serde_json::to_value(&t)?;
                    if let Some(object) = value.as_object_mut() {
                        object.insert("path".into(), json!(path));
                        object.insert(
                            "created_utc".into(),
                            json!(
                                t.lookup
                                    .as_ref()
                                    .map(|l| faketagger::json::rfc3339(l.record.created))
                            ),
                        );
                    }
                    println!("{value}");
                } else {
                    print!("{}", describe_trace(&path.display().to_string(), &t));
                }
            }
            Err(e) => {
                errors = true;
                if settings.json {
                    println!("{}", json!({ "path": path, "error": e.to_string() }));
                }
                report(&e);
            }
        }
    }
    Ok(ExitCode::from(if errors {
        EXIT_ERROR
    } else if untraced {
        EXIT_NOT_FOUND
    } else {
        EXIT_FOUND
    }))
}

/// A provenance report for people, several lines.
pub fn describe_trace(name: &str, t: &Trace) -> String {
    use std::fmt::Write;
    let mut out = format!("{name}: {}\n", t.verdict.describe());
    if let Some(tag) = t.tag {
        let _ = writeln!(out, "  tag         {tag} (confidence {:.2})", t.confidence);
    }
    if let Some(found) = &t.lookup {
        let r = &found.record;
        let _ = writeln!(out, "  issuer      {} (key {})", r.issuer, r.issuer_key);
        let _ = writeln!(out, "  signature   {}", found.signature);
        let _ = writeln!(out, "  owner       {}", r.owner);
        let _ = writeln!(
            out,
            "  created     {}",
            faketagger::json::rfc3339(r.created)
        );
        if !r.note.is_empty() {
            let _ = writeln!(
                out,
                "  note        {}",
                r.note.replace('\n', "\n              ")
            );
        }
    }
    if let Some(d) = t.fingerprint_distance {
        let _ = writeln!(
            out,
            "  fingerprint {d}/64 bits from the original's (same photo up to {})",
            provenance::SAME_PHOTO_MAX_DISTANCE
        );
    }
    for (i, face) in t.face_prints.iter().enumerate() {
        let [x, y, w, h] = face.region;
        let _ = writeln!(
            out,
            "  face {}      at {x},{y} {w}×{h}: {}/64 bits from the registered face's{}",
            i + 1,
            face.distance,
            if face.changed {
                " — CHANGED (replaced, swapped or blurred)"
            } else {
                ""
            }
        );
    }
    out
}

pub fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::New { name, dir } => {
            let store = key_store(&dir)?;
            let issuer = store.create(&name)?;
            println!("created issuer key {name} in {}", store.dir().display());
            println!("public key {}", issuer.public_key());
        }
        KeysCommand::List { dir } => {
            let store = key_store(&dir)?;
            let keys = store.list()?;
            if keys.is_empty() {
                eprintln!(
                    "no issuer key in {}\nhint: `faketagger keys new NAME` makes one",
                    store.dir().display()
                );
                return Ok(ExitCode::from(EXIT_NOT_FOUND));
            }
            for (name, key) in keys {
                println!("{name}\t{key}");
            }
        }
        KeysCommand::Show { name, secret, dir } => {
            let issuer = key_store(&dir)?.load(&name)?;
            println!("issuer     {}", issuer.name());
            println!("public key {}", issuer.public_key());
            if secret {
                println!("secret key {}", issuer.secret_hex());
            }
        }
        KeysCommand::Trust {
            name,
            public_key,
            registry,
        } => {
            let key: faketagger::registry::PublicKey = public_key.parse().context("PUBLIC_KEY")?;
            let registry = open_registry(&registry_location(&registry)?)?;
            registry.trust_issuer(&name, &key)?;
            println!(
                "{}: records signed by {name} ({key}) now verify",
                registry.location()
            );
        }
    }
    Ok(ExitCode::from(EXIT_FOUND))
}

pub fn eval(settings: EvalSettings, quiet: bool) -> Result<ExitCode> {
    use faketagger::eval::{self, ProbeSpec};
    use faketagger::model::noise::simulators::Simulator;

    let tagger = settings.model.tagger()?;
    let device = settings
        .model
        .backend
        .device()
        .with_context(|| format!("--device {}", settings.model.backend))?;
    let faces = eval::load_faces(
        &settings.data,
        settings.split.as_deref(),
        settings.count,
        settings.size,
    )?;
    if faces.len() < 2 {
        anyhow::bail!(
            "{}: {} faces{}; an evaluation needs at least 2",
            settings.data.display(),
            faces.len(),
            settings
                .split
                .as_deref()
                .map(|s| format!(" in split {s:?}"))
                .unwrap_or_default()
        );
    }
    let mut simulators = Vec::new();
    let mut labels = Vec::new();
    for dir in &settings.simulators {
        simulators.push(
            Simulator::load(dir, &device)
                .with_context(|| format!("--simulators {}", dir.display()))?,
        );
        labels.push(format!(
            "simulator {}",
            dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        ));
    }
    let mut probes = settings.probes.clone();
    probes.extend(ProbeSpec::simulators(&labels, &simulators));
    let mut options = settings.options;
    options.faces = options.faces.for_scheme(tagger.scheme())?;
    let in_photo = (options.faces != faketagger::FaceTagging::Off
        || probes
            .iter()
            .any(|p| matches!(p.probe, eval::Probe::InPhoto { .. })))
    .then(|| eval::InPhotoSetup::builtin(&device))
    .transpose()?;
    let bar = crate::reporter::count_bar(faces.len() as u64, "faces", quiet);
    let report = eval::evaluate(
        &tagger,
        &faces,
        &probes,
        &simulators,
        in_photo.as_ref(),
        &device,
        options,
        &|done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    match settings.format {
        ReportFormat::Markdown => print!("{}", report.to_markdown()),
        ReportFormat::Csv => print!("{}", report.to_csv()),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if let Some(path) = &settings.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("--report {}", path.display()))?;
    }
    if let Some(path) = &settings.plot {
        faketagger_train::plot::plot_curves(path, &report.curves())?;
        if !quiet {
            eprintln!("plot: {}", path.display());
        }
    }
    Ok(ExitCode::from(EXIT_FOUND))
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(0, "symbol"), "0 symbols");
        assert_eq!(count(1, "symbol"), "1 symbol");
        assert_eq!(count(2, "symbol"), "2 symbols");
    }
}
