//! How far the perceptual fingerprint moves under each attack, against how far apart different
//! photos are: the measurement behind `provenance::SAME_PHOTO_MAX_DISTANCE`.
//!
//! `cargo run --release --example fingerprint_distances -- DATA_DIR SPLIT COUNT`
//!
//! For each face of the split: the fingerprint distance (bits of 64) between the face and the
//! face after each real attack, after a landmark face swap (another face over it, and it into
//! another photo), and to the next face of the split (unrelated content).

use std::path::PathBuf;

use faketagger::attacks::{Attack, faceswap};
use faketagger::provenance::{SAME_PHOTO_MAX_DISTANCE, fingerprint};
use image::DynamicImage;

const ATTACKS: [&str; 11] = [
    "jpeg:90",
    "jpeg:50",
    "webp",
    "resize:0.5",
    "resize:0.25",
    "crop:0.9",
    "crop:0.8",
    "blur:1",
    "noise:0.02",
    "rotate:2",
    "brightness:1.2",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count] = args.as_slice() else {
        return Err("usage: fingerprint_distances DATA_DIR SPLIT COUNT".into());
    };
    let data = PathBuf::from(data);
    let files: Vec<faketagger::attacks::dataset::FaceFile> =
        faketagger::attacks::dataset::list_faces(&data, Some(split))?
            .into_iter()
            .take(count.parse()?)
            .collect();
    let faces: Vec<DynamicImage> = files
        .iter()
        .map(|f| image::open(&f.path))
        .collect::<Result<_, _>>()?;
    let attacks: Vec<Attack> = ATTACKS
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let mut rows: Vec<(String, Vec<u32>)> = ATTACKS
        .iter()
        .map(|a| (a.to_string(), Vec::new()))
        .chain(
            [
                "faceswap (other face over it)",
                "faceswap:into (it into another photo)",
                "another face of the split",
            ]
            .map(|s| (s.to_string(), Vec::new())),
        )
        .collect();
    let n = faces.len();
    for (i, face) in faces.iter().enumerate() {
        let print = fingerprint(face);
        let mut push = |row: usize, image: &DynamicImage| {
            rows[row].1.push(print.distance(fingerprint(image)));
        };
        for (row, attack) in attacks.iter().enumerate() {
            push(row, &attack.apply(face, i as u64)?);
        }
        let other = &faces[(i + 1) % n];
        let lm = files[i].landmarks;
        let other_lm = files[(i + 1) % n].landmarks;
        if let (Some(lm), Some(other_lm)) = (lm, other_lm) {
            push(
                ATTACKS.len(),
                &faceswap::face_swap(face, &lm, other, &other_lm)?,
            );
            push(
                ATTACKS.len() + 1,
                &faceswap::face_swap(other, &other_lm, face, &lm)?,
            );
        }
        push(ATTACKS.len() + 2, other);
    }
    println!(
        "{n} {split} faces; fingerprint distance in bits of 64 (same photo up to {SAME_PHOTO_MAX_DISTANCE})\n"
    );
    println!("| change | mean | median | p95 | max | ≤ {SAME_PHOTO_MAX_DISTANCE} |");
    println!("|---|---|---|---|---|---|");
    for (name, mut d) in rows {
        if d.is_empty() {
            continue;
        }
        d.sort_unstable();
        let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
        let within = d.iter().filter(|&&x| x <= SAME_PHOTO_MAX_DISTANCE).count();
        println!(
            "| {name} | {:.1} | {} | {} | {} | {:.1}% |",
            d.iter().sum::<u32>() as f64 / d.len() as f64,
            at(0.5),
            at(0.95),
            d[d.len() - 1],
            100.0 * within as f64 / d.len() as f64
        );
    }
    Ok(())
}
