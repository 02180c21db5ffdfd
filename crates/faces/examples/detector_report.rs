//! Measures the face detector (issue 18 §1), as reported in `weights/mtcnn/MODEL_CARD.md`:
//!
//! 1. landmark agreement with `meta.csv` on a split (themselves a detector's output, so a
//!    consistency check): mean distance of the five points, in inter-ocular distances;
//! 2. recall on composites: `--composites` 1920×1080 photos, each with one test face at every
//!    crop side of [`SIDES`] scattered over a generated background; a face counts as found when
//!    a detection's landmarks lie within [`MATCH_IOD`] inter-ocular distances of where it was
//!    pasted; every other detection is a false positive;
//! 3. time per 1080p composite for each `--min-face`.
//!
//! ```text
//! cargo run --release -p faketagger-faces --example detector_report -- \
//!     --data ../shared/datasets/celeba-faces128 --split test --composites 20 --min-face 20,40
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use faketagger_attacks::composite::{self, Pasted};
use faketagger_attacks::dataset::{FaceFile, list_faces};
use faketagger_faces::{DetectOptions, Detector, Face, Landmarks};
use faketagger_model::Backend;

/// Crop sides pasted in each composite (a 128 px CelebA crop's face box is about 0.55 of it).
const SIDES: [u32; 8] = [24, 32, 48, 64, 96, 128, 192, 256];
/// A detection is the pasted face when its landmarks are this close, in inter-ocular distances.
const MATCH_IOD: f32 = 0.25;
const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

fn iod(lm: &Landmarks) -> f32 {
    (lm[0][0] - lm[1][0]).hypot(lm[0][1] - lm[1][1])
}

fn landmark_error(found: &Landmarks, truth: &Landmarks) -> f32 {
    let mean = found
        .iter()
        .zip(truth)
        .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
        .sum::<f32>()
        / 5.0;
    mean / iod(truth)
}

fn percentile(sorted: &[f32], p: f32) -> f32 {
    sorted[((sorted.len() - 1) as f32 * p).round() as usize]
}

struct Args {
    data: PathBuf,
    split: String,
    composites: usize,
    min_faces: Vec<f32>,
    weights: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::from(faketagger_attacks::dataset::SHARED_FACES),
        split: "test".into(),
        composites: 20,
        min_faces: vec![20.0, 40.0],
        weights: PathBuf::from("weights/mtcnn"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data" => args.data = value.into(),
            "--split" => args.split = value,
            "--weights" => args.weights = value.into(),
            "--composites" => {
                args.composites = value.parse().map_err(|e| format!("--composites: {e}"))?
            }
            "--min-face" => {
                args.min_faces = value
                    .split(',')
                    .map(|v| v.parse().map_err(|e| format!("--min-face {v}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn agreement(detector: &Detector, faces: &[FaceFile]) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut missed = 0;
    let start = Instant::now();
    for face in faces {
        let truth = face
            .landmarks
            .ok_or(format!("{} has no landmarks", face.file))?;
        let image = image::open(&face.path)
            .map_err(|e| format!("{}: {e}", face.path.display()))?
            .to_rgb8();
        let found = detector
            .detect(&image, &DetectOptions::default())
            .map_err(|e| e.to_string())?;
        // What a tool would take: the best-scoring face.
        match found.first() {
            Some(best) => errors.push(landmark_error(&best.landmarks, &truth)),
            None => missed += 1,
        }
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / faces.len() as f64;
    errors.sort_by(f32::total_cmp);
    let mean = errors.iter().sum::<f32>() / errors.len() as f32;
    let over = errors.iter().filter(|&&e| e > 0.1).count();
    println!(
        "landmarks vs meta.csv: {} faces, {} without a detection; error in inter-ocular distances: mean {mean:.4}, median {:.4}, p95 {:.4}, max {:.4}; {over} over 0.1; {ms:.1} ms per 128 px face",
        faces.len(),
        missed,
        percentile(&errors, 0.5),
        percentile(&errors, 0.95),
        errors[errors.len() - 1],
    );
    Ok(())
}

fn matches(found: &Face, pasted: &Pasted) -> bool {
    landmark_error(&found.landmarks, &pasted.landmarks) < MATCH_IOD
}

fn recall(
    detector: &Detector,
    faces: &[FaceFile],
    count: usize,
    min_faces: &[f32],
) -> Result<(), String> {
    let mut photos = Vec::new();
    let mut sources = Vec::new();
    for face in faces.iter().take(count * SIDES.len()) {
        let image = image::open(&face.path)
            .map_err(|e| format!("{}: {e}", face.path.display()))?
            .to_rgb8();
        sources.push((
            image,
            face.landmarks
                .ok_or(format!("{} has no landmarks", face.file))?,
        ));
    }
    for (k, chunk) in sources.chunks(SIDES.len()).enumerate().take(count) {
        let mut canvas = composite::background(WIDTH, HEIGHT, k as u64);
        let list: Vec<_> = chunk.iter().map(|(i, l)| (i, *l)).collect();
        let placed = composite::scatter(&mut canvas, &list, &SIDES[..list.len()], k as u64)
            .map_err(|e| e.to_string())?;
        photos.push((canvas, placed));
    }
    for &min_face in min_faces {
        let options = DetectOptions {
            min_face,
            ..DetectOptions::default()
        };
        let mut found_by_side = [0usize; SIDES.len()];
        let mut false_positives = 0;
        let mut times = Vec::new();
        for (canvas, placed) in &photos {
            let start = Instant::now();
            let found = detector
                .detect(canvas, &options)
                .map_err(|e| e.to_string())?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            for (s, side) in SIDES.iter().enumerate() {
                if placed
                    .iter()
                    .any(|p| p.crop[2] == *side && found.iter().any(|f| matches(f, p)))
                {
                    found_by_side[s] += 1;
                }
            }
            false_positives += found
                .iter()
                .filter(|f| !placed.iter().any(|p| matches(f, p)))
                .count();
        }
        times.sort_by(f64::total_cmp);
        let recall: Vec<String> = SIDES
            .iter()
            .zip(found_by_side)
            .map(|(side, n)| format!("{side}px {n}/{}", photos.len()))
            .collect();
        println!(
            "min_face {min_face}: {} composites {WIDTH}x{HEIGHT}, recall by crop side: {}; {false_positives} false positives; {:.0} ms median per photo ({:.0}–{:.0})",
            photos.len(),
            recall.join(", "),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let run = || -> Result<(), String> {
        let args = args()?;
        let device = Backend::Flex.device().map_err(|e| e.to_string())?;
        let detector = Detector::load(&args.weights, &device).map_err(|e| e.to_string())?;
        let faces = list_faces(&args.data, Some(&args.split)).map_err(|e| e.to_string())?;
        println!(
            "detector_report: split {} of {}",
            args.split,
            args.data.display()
        );
        agreement(&detector, &faces)?;
        recall(&detector, &faces, args.composites, &args.min_faces)
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("detector_report: {e}");
            ExitCode::FAILURE
        }
    }
}
