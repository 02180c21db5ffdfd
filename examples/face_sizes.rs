//! How small may a face be and still carry its own tag (issue 18: the detector's smallest face,
//! and what finding smaller ones buys)? Each of COUNT test faces is pasted as a crop of side S
//! on a generated 640×480 photo; the faces are found (MTCNN at 12 px, its smallest), tagged with
//! their own residuals only (`--faces only`, `Tagger::embed_at`, the engine's per-face checks
//! and boosts), then found again on the tagged photo, aligned at 256 px as DeepFake tools align
//! faces and read (`Tagger::decode`). Per S: faces found, verified at embedding, read exactly,
//! the detector's box width, and PSNR. Then the detector's time on a 1920×1080 photo per
//! `min_face`.
//!
//! With a fourth argument, `EMBED_MIN_FACE`, the faces are tagged as `embed --min-face
//! EMBED_MIN_FACE` finds them and found again as a DeepFake tool running MTCNN at its default
//! (20 px) finds them.
//!
//! `cargo run --release --example face_sizes -- ../shared/datasets/celeba-faces128 test 12 [EMBED_MIN_FACE]`

use std::path::Path;
use std::time::Instant;

use faketagger::attacks::composite;
use faketagger::attacks::dataset::list_faces;
use faketagger::attacks::faceswap::align_face;
use faketagger::faces::{DetectOptions, builtin_detector, find_faces};
use faketagger::{FaceTagging, Tag, Tagger, psnr};
use image::DynamicImage;

const CROP_SIDES: [u32; 8] = [32, 48, 64, 80, 96, 128, 192, 256];
const MIN_FACES: [f32; 7] = [20.0, 32.0, 40.0, 48.0, 64.0, 80.0, 96.0];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, split, count, embed_min_face) = match args.as_slice() {
        [data, split, count] => (data, split, count, None),
        [data, split, count, min_face] => (data, split, count, Some(min_face.parse::<f32>()?)),
        _ => return Err("usage: face_sizes DATA_DIR SPLIT COUNT [EMBED_MIN_FACE]".into()),
    };
    let count: usize = count.parse()?;
    let device = faketagger::model::Backend::Flex.device()?;
    let tagger = Tagger::builtin(&device)?;
    let detector = builtin_detector(&device)?;
    // the faces as `embed` finds them, and as the attacker does
    let (finding, attacker) = match embed_min_face {
        None => {
            let smallest = DetectOptions {
                min_face: 12.0,
                ..DetectOptions::default()
            };
            (smallest, smallest)
        }
        Some(min_face) => (
            DetectOptions {
                min_face,
                ..DetectOptions::default()
            },
            DetectOptions::default(),
        ),
    };
    let faces = list_faces(Path::new(data), Some(split))?;
    let faces = &faces[..count.min(faces.len())];
    println!(
        "| crop side (px) | detector box (px, mean) | found | verified at embedding | read aligned 256 px | PSNR (dB) |"
    );
    println!("|---|---|---|---|---|---|");
    for side in CROP_SIDES {
        let (mut found, mut verified, mut read, mut boxes, mut db) = (0, 0, 0, 0.0f32, 0.0);
        for (k, face) in faces.iter().enumerate() {
            let source = image::open(&face.path)?.to_rgb8();
            let lm = face.landmarks.ok_or("no landmarks")?;
            let mut canvas = composite::background(640, 480, k as u64);
            composite::scatter(&mut canvas, &[(&source, lm)], &[side], k as u64)?;
            let photo = DynamicImage::ImageRgb8(canvas);
            // the faces as `embed` finds them
            let seen = find_faces(&detector, &photo, &finding)?;
            let Some(first) = seen.first() else { continue };
            found += 1;
            boxes += first.bbox[2] - first.bbox[0];
            let tag = Tag::new(0x5eed_0000_0000_0000 ^ (k as u64 * 0x9e37_79b9));
            let embedded =
                tagger.embed_at(&photo, tag, 1.0, FaceTagging::Only.sites(&seen[..1]), None)?;
            verified += usize::from(embedded.faces.first().is_some_and(|f| f.verified));
            db += psnr(&photo, &embedded.image);
            let again = detector.detect(&embedded.image.to_rgb8(), &attacker)?;
            if let Some(crop) = again
                .first()
                .and_then(|f| align_face(&embedded.image, &f.landmarks, 256))
            {
                read += usize::from(tagger.decode(&crop)?.tag == Some(tag));
            }
        }
        let n = faces.len();
        println!(
            "| {side} | {:.0} | {found}/{n} | {verified}/{found} | {read}/{found} | {:.1} |",
            boxes / found.max(1) as f32,
            db / found.max(1) as f64
        );
    }
    let source = image::open(&faces[0].path)?.to_rgb8();
    let lm = faces[0].landmarks.ok_or("no landmarks")?;
    let mut canvas = composite::background(1920, 1080, 7);
    composite::scatter(&mut canvas, &[(&source, lm)], &[400], 7)?;
    println!("\n| min_face (px) | detector on 1920×1080 (ms, median of 3) |\n|---|---|");
    for min_face in MIN_FACES {
        let options = DetectOptions {
            min_face,
            ..DetectOptions::default()
        };
        let mut ms: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                detector
                    .detect(&canvas, &options)
                    .map(|_| start.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<Result<_, _>>()?;
        ms.sort_by(f64::total_cmp);
        println!("| {min_face} | {:.0} |", ms[1]);
    }
    Ok(())
}
