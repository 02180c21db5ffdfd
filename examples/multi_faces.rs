//! Photos with several faces (issue 18 §3, targets "every face of a multi-face photo decodes"
//! and the false-positive check on untagged multi-face photos). Each photo is 1920×1080 with four
//! test faces pasted at 300, 240, 200 and 160 px (face crops covering 4.3% down to 1.2% of the
//! frame), no two overlapping, over a backdrop: `generated` (composite::background, a new one
//! per photo: random colour fields the v1 whole-photo tag handles poorly) or `astronaut` (the
//! bundled public-domain photo cropped to 16:9 and scaled up, the same for every photo).
//!
//! - Untagged: `decode --faces all` as the CLI runs it (`Tagger::decode_with_faces`, the
//!   built-in detector at its defaults): faces read, tags found (any is a false positive).
//! - Tagged with `--faces auto` and `--faces only` (`Tagger::embed_at`, saved as PNG): the
//!   attacker's view, each face the detector finds on the tagged photo aligned at 112, 224 and
//!   256 px as DeepFake tools align it and decoded as the crop it is (`Tagger::decode`, with
//!   its crop search: `decode --faces off`), and where that reads no tag, as `decode` reads it
//!   (`Tagger::decode_with_faces`, faces auto: the crop's face found and read aligned, then its
//!   inner crop searched); and the CLI's own read of the tagged photo (`decode --faces all`):
//!   how many faces carry the tag.
//! - Time per photo on this machine: detection, embedding (with the faces' checks), decoding.
//!
//! `cargo run --release --example multi_faces -- ../shared/datasets/celeba-faces128 test 24 astronaut`

#[path = "common/photos.rs"]
mod photos;

use std::path::Path;
use std::time::Instant;

use faketagger::attacks::dataset::list_faces;
use faketagger::attacks::faceswap::align_face;
use faketagger::faces::{DetectOptions, builtin_detector, default_detect_options, find_faces};
use faketagger::{FaceMode, FaceTagging, Tag, Tagger, psnr};

const SIDES: [u32; 3] = [112, 224, 256];
const PASTED: [u32; 4] = [300, 240, 200, 160];

#[derive(Default)]
struct Tally {
    photos: usize,
    pasted: usize,
    detected: usize,
    exact: [usize; SIDES.len()],
    exact_cli: [usize; SIDES.len()],
    cli_faces_tagged: usize,
    whole: usize,
    verified_faces: usize,
    psnr: f64,
    embed_ms: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count, backdrop_name] = args.as_slice() else {
        return Err("usage: multi_faces DATA_DIR SPLIT PHOTOS generated|astronaut".into());
    };
    let photos: usize = count.parse()?;
    let device = faketagger::model::Backend::Flex.device()?;
    let tagger = Tagger::builtin(&device)?;
    let detector = builtin_detector(&device)?;
    // the engine's detector settings, and the tools' (MTCNN's defaults) for the attacker
    let (options, tools) = (default_detect_options(), DetectOptions::default());
    let faces = list_faces(Path::new(data), Some(split))?;
    let backdrop = photos::backdrop(backdrop_name)?;
    let (mut untagged_reads, mut false_tags, mut detect_ms, mut decode_ms) = (0, 0, 0.0, 0.0);
    let mut modes = [
        ("auto", FaceTagging::Auto, Tally::default()),
        ("only", FaceTagging::Only, Tally::default()),
    ];
    for p in 0..photos {
        let (photo, _) = photos::with_faces(&faces, p, &PASTED, backdrop.as_ref(), [1000, 0])?;

        let start = Instant::now();
        let read = tagger.decode_with_faces(&photo, Some(&detector), FaceMode::All, &options)?;
        decode_ms += start.elapsed().as_secs_f64() * 1e3;
        untagged_reads += read.faces.len();
        false_tags += usize::from(read.photo.tag.is_some())
            + read
                .faces
                .iter()
                .filter(|f| f.detection.tag.is_some())
                .count();

        let start = Instant::now();
        let found = find_faces(&detector, &photo, &options)?;
        detect_ms += start.elapsed().as_secs_f64() * 1e3;
        let tag = Tag::new(0x3a1f_0000_0000_0000 ^ (p as u64 * 0x9e37_79b9_7f4a));
        for (_, mode, tally) in &mut modes {
            let start = Instant::now();
            let embedded = tagger.embed_at(&photo, tag, 1.0, mode.sites(&found), None)?;
            tally.embed_ms += start.elapsed().as_secs_f64() * 1e3;
            let tagged = embedded.image;
            tally.photos += 1;
            tally.pasted += PASTED.len();
            tally.psnr += psnr(&photo, &tagged);
            tally.verified_faces += embedded.faces.iter().filter(|f| f.verified).count();
            // the attacker's view: the cascade's landmarks, as DeepFake tools run MTCNN
            let seen = find_faces(&detector, &tagged, &tools)?;
            tally.detected += seen.len().min(PASTED.len());
            for face in seen.iter().take(PASTED.len()) {
                for (s, &side) in SIDES.iter().enumerate() {
                    let crop = align_face(&tagged, &face.landmarks, side).ok_or("degenerate")?;
                    // `decode --faces off`, then `decode` (faces auto: the crop's own face
                    // found and read, aligned and inner, when the crop as a whole reads no tag)
                    if tagger.decode(&crop)?.tag == Some(tag) {
                        tally.exact[s] += 1;
                        tally.exact_cli[s] += 1;
                    } else if tagger
                        .decode_with_faces(&crop, Some(&detector), FaceMode::Auto, &options)?
                        .detection()
                        .tag
                        == Some(tag)
                    {
                        tally.exact_cli[s] += 1;
                    }
                }
            }
            let read =
                tagger.decode_with_faces(&tagged, Some(&detector), FaceMode::All, &options)?;
            tally.whole += usize::from(read.photo.tag == Some(tag));
            tally.cli_faces_tagged += read
                .faces
                .iter()
                .filter(|f| f.detection.tag == Some(tag))
                .count();
        }
        eprint!(".");
    }
    eprintln!();
    let n = photos as f64;
    println!(
        "{photos} photos 1920x1080 ({backdrop_name} backdrop) with {} test faces each (crops {PASTED:?} px)",
        PASTED.len()
    );
    println!(
        "untagged, decode --faces all: {untagged_reads} face reads, {false_tags} tags found; \
         {:.0} ms per photo (detection {:.0} ms)",
        decode_ms / n,
        detect_ms / n
    );
    for (name, _, t) in &modes {
        let rows: Vec<String> = SIDES
            .iter()
            .zip(t.exact.iter().zip(t.exact_cli))
            .map(|(side, (e, c))| format!("aligned {side} px {e}/{0} (decode: {c}/{0})", t.pasted))
            .collect();
        println!(
            "--faces {name}: PSNR {:.2} dB; faces verified at embedding {}/{}; detected on the \
             tagged photo {}/{}; {}; decode --faces all: whole photo {}/{}, faces carrying the tag \
             {}; embed {:.0} ms per photo (after detection)",
            t.psnr / n,
            t.verified_faces,
            t.pasted,
            t.detected,
            t.pasted,
            rows.join(", "),
            t.whole,
            t.photos,
            t.cli_faces_tagged,
            t.embed_ms / n,
        );
    }
    Ok(())
}
