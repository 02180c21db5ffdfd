//! Does a face's own residual make the face crop a DeepFake tool takes carry the tag (issue 18)?
//! Each of COUNT test faces is pasted as a crop covering 10% of a 1920×1080 photo (455 px, over a
//! generated background), the photo is tagged by the default model (whole-photo residual, the
//! behaviour of `--faces off`), second with each detected face's own residual on top (`--faces
//! auto`, `Tagger::embed_at`), third with the faces' residuals alone (`--faces only`). The "attacker" then detects the face with MTCNN on the tagged photo,
//! aligns it at 112, 224 and 256 px as DeepFake tools do, and the decoder reads that crop
//! (`Tagger::decode`, with its crop search). Also: the whole photo still decodes, and PSNR.
//!
//! `cargo run --release --example face_tags -- ../shared/datasets/celeba-faces128 test 24`

use std::path::Path;

use faketagger::attacks::composite;
use faketagger::attacks::dataset::list_faces;
use faketagger::attacks::faceswap::align_face;
use faketagger::faces::{DetectOptions, Detector, find_faces};
use faketagger::{FaceTagging, Tag, Tagger, psnr};
use image::DynamicImage;

const SIDES: [u32; 3] = [112, 224, 256];
/// A square crop covering 10% of a 1920×1080 photo.
const FACE_SIDE: u32 = 455;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count] = args.as_slice() else {
        return Err("usage: face_tags DATA_DIR SPLIT COUNT".into());
    };
    let count: usize = count.parse()?;
    let device = faketagger::model::Backend::Flex.device()?;
    let tagger = Tagger::builtin(&device)?;
    let detector = Detector::load(Path::new("weights/mtcnn"), &device)?;
    let options = DetectOptions {
        min_face: 40.0,
        ..DetectOptions::default()
    };
    let faces = list_faces(Path::new(data), Some(split))?;
    // [variant][side] exact counts; whole-photo exact; psnr sums
    let mut exact = [[0usize; SIDES.len()]; 3];
    let mut whole = [0usize; 3];
    let mut psnrs = [0.0f64; 3];
    let mut strengths = Vec::new();
    let (mut verified, mut face_strengths) = (0, Vec::new());
    let mut detected = 0;
    for (k, face) in faces.iter().take(count).enumerate() {
        let source = image::open(&face.path)?.to_rgb8();
        let lm = face.landmarks.ok_or("no landmarks")?;
        let mut canvas = composite::background(1920, 1080, k as u64);
        composite::scatter(&mut canvas, &[(&source, lm)], &[FACE_SIDE], k as u64)?;
        let photo = DynamicImage::ImageRgb8(canvas);
        let tag = Tag::new(0x5eed_0000_0000_0000 ^ (k as u64 * 0x9e37_79b9));
        // the faces as `embed` finds them
        let found = find_faces(&detector, &photo, &options)?;
        let embed = |mode: FaceTagging| tagger.embed_at(&photo, tag, 1.0, mode.sites(&found), None);
        let embedded = embed(FaceTagging::Off)?;
        strengths.push(embedded.strength);
        let plain = embedded.image;
        let with_faces = embed(FaceTagging::Auto)?;
        verified += with_faces.faces.iter().filter(|f| f.verified).count();
        face_strengths.extend(with_faces.faces.iter().map(|f| f.strength));
        let with_faces = with_faces.image;
        let faces_only = embed(FaceTagging::Only)?.image;
        for (v, tagged) in [plain, with_faces, faces_only].iter().enumerate() {
            psnrs[v] += psnr(&photo, tagged);
            if tagger.decode(tagged)?.tag == Some(tag) {
                whole[v] += 1;
            }
            // the attacker's view: detect on the tagged photo, align, decode
            let seen = detector.detect(&tagged.to_rgb8(), &options)?;
            let Some(best) = seen.first() else { continue };
            if v == 0 {
                detected += 1;
            }
            for (s, &side) in SIDES.iter().enumerate() {
                let crop = align_face(tagged, &best.landmarks, side).ok_or("degenerate")?;
                if tagger.decode(&crop)?.tag == Some(tag) {
                    exact[v][s] += 1;
                }
            }
        }
        eprint!(".");
    }
    eprintln!();
    let n = count.min(faces.len());
    println!(
        "{n} photos 1920x1080, face crop {FACE_SIDE} px (10% of the area); face detected after tagging on {detected}"
    );
    println!("whole-photo strength after the embed check's boosts: {strengths:?}");
    println!(
        "faces' own residuals: {verified}/{} verified at embedding; strengths {face_strengths:?}",
        face_strengths.len()
    );
    for (v, name) in [
        "whole-photo residual (shipped)",
        "+ each face's own residual",
        "each face's own residual alone",
    ]
    .iter()
    .enumerate()
    {
        let rows: Vec<String> = SIDES
            .iter()
            .zip(exact[v])
            .map(|(side, e)| format!("aligned {side} px {e}/{n}"))
            .collect();
        println!(
            "{name}: PSNR {:.2} dB; whole photo {}/{n} exact; {}",
            psnrs[v] / n as f64,
            whole[v],
            rows.join(", ")
        );
    }
    Ok(())
}
