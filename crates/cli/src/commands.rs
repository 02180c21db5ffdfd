//! The subcommands: glue between settings and the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use faketagger::io::{self, Overwrite, read_image};
use faketagger::{ChannelBits, Codec, Detection, Embedded, Error};
use image::DynamicImage;
use serde_json::json;

use crate::settings::{AttackKind, AttackSettings, DecodeSettings, EmbedSettings, Job, parse_tag};

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
        _ => None,
    }
}

pub fn report(error: &Error) {
    eprintln!("error: {error}");
    if let Some(h) = hint(error) {
        eprintln!("hint: {h}");
    }
}

/// Reads a job's input, transforms it and writes the output atomically with the input's ICC
/// profile: the pipeline `embed` and `attack` share. `transform` returns the image to write and
/// whatever the caller reports.
fn process<T>(
    job: &Job,
    quality: u8,
    overwrite: Overwrite,
    inputs: &[PathBuf],
    transform: impl FnOnce(&DynamicImage) -> Result<(DynamicImage, T), Error>,
) -> Result<T, Error> {
    io::check_output(&job.output, overwrite, inputs)?;
    let loaded = read_image(&job.input)?;
    let (image, report) = transform(&loaded.image)?;
    let bytes = io::encode_image(&image, job.format, quality, &loaded.metadata, &job.output)?;
    io::write_atomic(&job.output, &bytes, overwrite, inputs)?;
    Ok(report)
}

pub fn embed(settings: EmbedSettings, quiet: bool) -> Result<ExitCode> {
    let tagger = settings.model.tagger()?;
    let inputs: Vec<_> = settings.jobs.iter().map(|j| j.input.clone()).collect();
    let mut failed = false;
    for job in &settings.jobs {
        let result = process(
            job,
            settings.quality,
            settings.overwrite,
            &inputs,
            |image| {
                let Embedded {
                    image,
                    channel_bits,
                    psnr,
                } = tagger.embed(image, settings.tag, settings.strength)?;
                Ok((image, (channel_bits, psnr)))
            },
        );
        match result {
            Ok((channel_bits, psnr)) if settings.json => println!(
                "{}",
                json!({
                    "path": job.input,
                    "output": job.output,
                    "tag": settings.tag.to_string(),
                    "channel_bits": channel_bits.to_string(),
                    "psnr": finite_or_null(psnr),
                })
            ),
            Ok((_, psnr)) => {
                if !quiet {
                    println!(
                        "{} -> {}: tag {}, PSNR {:.1} dB",
                        job.input.display(),
                        job.output.display(),
                        settings.tag,
                        psnr
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
    Ok(ExitCode::from(if failed { EXIT_ERROR } else { EXIT_FOUND }))
}

pub fn attack(settings: AttackSettings, quiet: bool) -> Result<ExitCode> {
    let job = &settings.job;
    let result = process(
        job,
        settings.quality,
        settings.overwrite,
        std::slice::from_ref(&job.input),
        |image| Ok((apply_attack(&settings, image)?, ())),
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
        AttackKind::Image(attack) => return Ok(attack.apply(image, settings.seed)?),
        AttackKind::FaceSwap {
            into,
            donor,
            landmarks,
        } => (*into, donor, landmarks),
    };
    let donor = read_image(donor_path)?.image;
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

/// PSNR of an unchanged image is +∞, which JSON cannot carry.
fn finite_or_null(x: f64) -> Option<f64> {
    x.is_finite().then_some((x * 100.0).round() / 100.0)
}

pub fn decode(settings: DecodeSettings) -> Result<ExitCode> {
    let tagger = settings.model.tagger()?;
    let results = tagger.decode_files(&settings.inputs, settings.threads.get());
    let (mut errors, mut untagged) = (false, false);
    for (path, result) in settings.inputs.iter().zip(results) {
        match result {
            Ok(d) => {
                untagged |= d.tag.is_none();
                if settings.json {
                    println!("{}", detection_json(&path.display().to_string(), &d));
                } else {
                    println!("{}: {}", path.display(), describe(&d));
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

fn detection_json(path: &str, d: &Detection) -> serde_json::Value {
    json!({
        "path": path,
        "found": d.tag.is_some(),
        "tag": d.tag.map(|t| t.to_string()),
        "confidence": (f64::from(d.confidence) * 1e4).round() / 1e4,
        "channel_bits": d.channel_bits.to_string(),
        "corrected": d.corrected,
    })
}

fn describe(d: &Detection) -> String {
    match d.tag {
        Some(tag) => format!(
            "tag {tag} (confidence {:.2}, {} symbols corrected)",
            d.confidence, d.corrected
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
        println!("{}", detection_json("-", &d));
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
