//! How far the perceptual fingerprint moves under each attack, against how far apart different
//! photos are: the measurement behind `provenance::SAME_PHOTO_MAX_DISTANCE`.
//!
//! `cargo run --release --example fingerprint_distances -- DATA_DIR SPLIT COUNT`
//!
//! For each face of the split: the fingerprint distance (bits of 64) between the face and the
//! face after each real attack, after a landmark face swap (another face over it, and it into
//! another photo), and to the next face of the split (unrelated content).
//!
//! Then the face prints (issue 18): each face pasted at 10% of a 960×540 generated photo, found
//! by the built-in detector; the distance of its region's fingerprint ([`face_prints`], what a
//! record holds) and of the whole photo's after the same attacks on the whole photo, and after
//! the face is changed: another face swapped over it, the face blurred (σ = 1/12 of its box),
//! mirrored, or covered by an object (a flat ellipse). The measurement behind
//! `provenance::SAME_FACE_MAX_DISTANCE`.

use std::path::PathBuf;

use faketagger::attacks::composite;
use faketagger::attacks::{Attack, faceswap};
use faketagger::provenance::{
    SAME_FACE_MAX_DISTANCE, SAME_PHOTO_MAX_DISTANCE, face_prints, fingerprint, region_fingerprint,
};
use image::{DynamicImage, GenericImage, GenericImageView, Rgba};

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
    table(&rows, SAME_PHOTO_MAX_DISTANCE);
    face_rows(&faces, &files, &attacks)
}

fn table(rows: &[(String, Vec<u32>)], bound: u32) {
    println!(
        "| change | mean | median | p95 | max | ≤ {bound} | ≤ {} | ≤ {} |",
        bound + 2,
        bound + 4
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, d) in rows {
        if d.is_empty() {
            continue;
        }
        let mut d = d.clone();
        d.sort_unstable();
        let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
        let within = |b: u32| {
            let k = d.iter().filter(|&&x| x <= b).count();
            format!("{:.1}%", 100.0 * k as f64 / d.len() as f64)
        };
        println!(
            "| {name} | {:.1} | {} | {} | {} | {} | {} | {} |",
            d.iter().sum::<u32>() as f64 / d.len() as f64,
            at(0.5),
            at(0.95),
            d[d.len() - 1],
            within(bound),
            within(bound + 2),
            within(bound + 4),
        );
    }
}

/// The face prints' rows: see the module's documentation.
fn face_rows(
    faces: &[DynamicImage],
    files: &[faketagger::attacks::dataset::FaceFile],
    attacks: &[Attack],
) -> Result<(), Box<dyn std::error::Error>> {
    const EDITS: [&str; 4] = [
        "face swapped (another face over it)",
        "face blurred",
        "face mirrored",
        "face covered by an object",
    ];
    let device = faketagger::model::Backend::Flex.device()?;
    let detector = faketagger::faces::builtin_detector(&device)?;
    let options = faketagger::faces::default_detect_options();
    let names = ATTACKS.iter().copied().chain(EDITS);
    let mut face_rows: Vec<(String, Vec<u32>)> =
        names.clone().map(|a| (a.to_string(), Vec::new())).collect();
    let mut whole_rows = face_rows.clone();
    let (mut photos, mut found) = (0, 0);
    let n = faces.len();
    for (i, face) in faces.iter().enumerate() {
        let (Some(lm), Some(other_lm)) = (files[i].landmarks, files[(i + 1) % n].landmarks) else {
            continue;
        };
        let mut canvas = composite::background(960, 540, i as u64);
        let pasted = composite::scatter(&mut canvas, &[(&face.to_rgb8(), lm)], &[228], i as u64)?;
        let photo = DynamicImage::ImageRgb8(canvas);
        photos += 1;
        let detected = faketagger::faces::find_faces(&detector, &photo, &options)?;
        let Some(box_face) = detected.first() else {
            continue;
        };
        found += 1;
        let print = face_prints(&photo, std::slice::from_ref(box_face))[0];
        let whole = fingerprint(&photo);
        let mut push = |row: usize, changed: &DynamicImage| {
            let again = region_fingerprint(changed, &print);
            face_rows[row].1.push(again.distance(print.fingerprint));
            whole_rows[row].1.push(fingerprint(changed).distance(whole));
        };
        for (row, attack) in attacks.iter().enumerate() {
            push(row, &attack.apply(&photo, i as u64)?);
        }
        let [x, y, w, h] = print.pixels(photo.width(), photo.height());
        let edits = [
            faceswap::face_swap(&photo, &pasted[0].landmarks, &faces[(i + 1) % n], &other_lm)?,
            edit_region(&photo, [x, y, w, h], |region| region.blur(w as f32 / 12.0)),
            edit_region(&photo, [x, y, w, h], |region| region.fliph()),
            edit_region(&photo, [x, y, w, h], |region| {
                let mut object = region.clone();
                let colour = Rgba([200, 190, 170, 255]);
                let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
                for (px, py, pixel) in object
                    .as_mut_rgba8()
                    .into_iter()
                    .flat_map(|b| b.enumerate_pixels_mut())
                {
                    let (dx, dy) = (
                        (px as f32 - cx) / (0.45 * w as f32),
                        (py as f32 - cy) / (0.48 * h as f32),
                    );
                    if dx * dx + dy * dy <= 1.0 {
                        *pixel = colour;
                    }
                }
                object
            }),
        ];
        for (k, edited) in edits.iter().enumerate() {
            push(ATTACKS.len() + k, edited);
        }
    }
    println!(
        "\nface prints: {found}/{photos} faces found by the detector in their 960×540 photos (face 228 px, 10% of the area)\n"
    );
    println!("the face's region (same face up to {SAME_FACE_MAX_DISTANCE}):\n");
    table(&face_rows, SAME_FACE_MAX_DISTANCE);
    println!("\nthe whole photo (same photo up to {SAME_PHOTO_MAX_DISTANCE}):\n");
    table(&whole_rows, SAME_PHOTO_MAX_DISTANCE);
    Ok(())
}

/// `image` with the region `[x, y, w, h]` replaced by `edit` of it.
fn edit_region(
    image: &DynamicImage,
    [x, y, w, h]: [u32; 4],
    edit: impl Fn(&DynamicImage) -> DynamicImage,
) -> DynamicImage {
    let region = DynamicImage::ImageRgba8(image.view(x, y, w, h).to_image());
    let mut out = DynamicImage::ImageRgba8(image.to_rgba8());
    out.copy_from(&edit(&region).to_rgba8(), x, y)
        .expect("the region lies inside the photo");
    DynamicImage::ImageRgb8(out.to_rgb8())
}
