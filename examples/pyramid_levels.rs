//! Whether skipping the detector's finest pyramid levels changes the faces it finds (issue 18's
//! 1080p embed: the levels for faces under 40 px are three quarters of PNet's work).
//!
//! Each photo is 1920×1080 with test faces pasted at 300, 200, 128, 96, 64, 48 and 32 px (the
//! crops; a face's box is about 0.6 of its crop) over the bundled astronaut scaled up
//! (`astronaut`) or generated colour fields (`generated`). For each set of options the faces are
//! found as the engine finds them (`find_faces`: the cascade's landmarks and the steadied ones)
//! and compared with those of facenet-pytorch's defaults (`min_face` 20): faces found, faces
//! whose landmarks (both sets) are the same to 0.01 px, the largest difference, and the time of
//! a detection (median over the photos).
//!
//! `cargo run --release --example pyramid_levels -- ../shared/datasets/celeba-faces128 val 24 astronaut`

#[path = "common/photos.rs"]
mod photos;

use std::path::Path;
use std::time::Instant;

use faketagger::attacks::dataset::list_faces;
use faketagger::faces::{DetectOptions, Face, builtin_detector, find_faces};

const PASTED: [u32; 7] = [300, 200, 128, 96, 64, 48, 32];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count, backdrop_name] = args.as_slice() else {
        return Err("usage: pyramid_levels DATA_DIR SPLIT PHOTOS generated|astronaut".into());
    };
    let photos: usize = count.parse()?;
    let device = faketagger::model::Backend::Flex.device()?;
    let detector = builtin_detector(&device)?;
    let faces = list_faces(Path::new(data), Some(split))?;
    let backdrop = photos::backdrop(backdrop_name)?;
    let reference = DetectOptions::default();
    let variants = [
        ("min_face 20 (reference)", reference),
        (
            "min_face 32 on the 20 px pyramid",
            DetectOptions {
                min_face: 32.0,
                ..reference
            },
        ),
        (
            "min_face 40 on the 20 px pyramid",
            DetectOptions {
                min_face: 40.0,
                ..reference
            },
        ),
        (
            "min_face 40, its own pyramid",
            DetectOptions {
                min_face: 40.0,
                pyramid_from: 40.0,
                ..reference
            },
        ),
    ];
    // per variant: found, same as the reference, largest difference, times
    let mut found = [0usize; 4];
    let mut same = [0usize; 4];
    let mut largest = [0f32; 4];
    let mut by_side = [[0usize; PASTED.len()]; 4];
    let mut times: [Vec<f64>; 4] = Default::default();
    for p in 0..photos {
        let (photo, pasted) =
            photos::with_faces(&faces, p, &PASTED, backdrop.as_ref(), [7000, 50])?;
        let mut results: Vec<Vec<Face>> = Vec::new();
        for (v, (_, options)) in variants.iter().enumerate() {
            let start = Instant::now();
            let faces = find_faces(&detector, &photo, options)?;
            times[v].push(start.elapsed().as_secs_f64() * 1e3);
            found[v] += faces.len();
            for (k, paste) in pasted.iter().enumerate() {
                let [x, y, s, _] = paste.crop;
                let centre = [x as f32 + s as f32 / 2.0, y as f32 + s as f32 / 2.0];
                let hit = faces.iter().any(|f| {
                    let c = [(f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0];
                    (c[0] - centre[0]).abs() < s as f32 / 3.0
                        && (c[1] - centre[1]).abs() < s as f32 / 3.0
                });
                by_side[v][k] += usize::from(hit);
            }
            results.push(faces);
        }
        for v in 0..variants.len() {
            for face in &results[v] {
                let nearest = results[0]
                    .iter()
                    .map(|r| difference(face, r))
                    .min_by(f32::total_cmp);
                if let Some(d) = nearest.filter(|d| *d < 8.0) {
                    largest[v] = largest[v].max(d);
                    same[v] += usize::from(d < 0.01);
                    if d >= 0.01 && std::env::var_os("PYRAMID_DIFFS").is_some() {
                        eprintln!(
                            "variant {v}: box {:.0} px, landmarks {d:.2} px apart",
                            face.bbox[2] - face.bbox[0]
                        );
                    }
                }
            }
        }
        eprint!(".");
    }
    eprintln!();
    println!(
        "{photos} photos of 1920×1080 ({backdrop_name}), faces pasted at {PASTED:?} px\n\n| options | faces found | same landmarks as the reference | largest difference (px) | found by pasted side | detection ms (median) |\n|---|---|---|---|---|---|"
    );
    for (v, (name, _)) in variants.iter().enumerate() {
        times[v].sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {} | {:.3} | {:?} | {:.0} |",
            found[v],
            same[v],
            largest[v],
            by_side[v],
            times[v][times[v].len() / 2]
        );
    }
    Ok(())
}

/// The largest distance between two faces' landmarks, the cascade's and the steadied ones.
fn difference(a: &Face, b: &Face) -> f32 {
    a.landmarks
        .iter()
        .zip(&b.landmarks)
        .chain(a.steadied.iter().zip(&b.steadied))
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .fold(0.0, f32::max)
}
