//! Can the crop search be skipped for most untagged photos? Plain-decode confidence (one decoder
//! pass, no search) of tagged faces after crops the search exists for, against that of untagged
//! faces and their crops (issue 19 §2).
//!
//! `cargo run --release --example crop_gate -- DATA_DIR SPLIT COUNT`

use std::path::Path;

use faketagger::{Tag, Tagger};
use image::DynamicImage;
use rayon::prelude::*;

/// (area kept, x, y in the room left) and strips (height or width kept, position).
fn crops(image: &DynamicImage) -> Vec<(String, DynamicImage)> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let mut out = Vec::new();
    let cut = |fw: f32, fh: f32, x: f32, y: f32| {
        let (cw, ch) = ((w * fw).round(), (h * fh).round());
        image.crop_imm(
            ((w - cw) * x).round() as u32,
            ((h - ch) * y).round() as u32,
            cw as u32,
            ch as u32,
        )
    };
    for area in [0.9f32, 0.8, 0.7, 0.6] {
        for (x, y) in [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (1.0, 0.0)] {
            let s = area.sqrt();
            out.push((format!("crop {area} at {x},{y}"), cut(s, s, x, y)));
        }
    }
    for strip in [0.9f32, 0.8] {
        for at in [0.0, 1.0] {
            out.push((format!("rows {strip} at {at}"), cut(1.0, strip, 0.5, at)));
            out.push((format!("cols {strip} at {at}"), cut(strip, 1.0, at, 0.5)));
        }
    }
    out
}

fn quantiles(mut v: Vec<f32>, qs: &[f32]) -> String {
    v.sort_by(f32::total_cmp);
    qs.iter()
        .map(|q| {
            let i = ((v.len() - 1) as f32 * q).round() as usize;
            format!("q{q}={:.3}", v.get(i).copied().unwrap_or(f32::NAN))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count] = args.as_slice() else {
        return Err("usage: crop_gate DATA_DIR SPLIT COUNT".into());
    };
    let faces =
        faketagger::eval::load_faces(Path::new(data), Some(split), Some(count.parse()?), None)?;
    let device = faketagger::model::Backend::Flex.device()?;
    let tagger = Tagger::builtin(&device)?;
    let rows: Vec<_> = faces
        .par_iter()
        .enumerate()
        .map(|(i, face)| {
            let tag = Tag::new(0x5eed_0000 + i as u64);
            let tagged = tagger.embed(&face.image, tag, 1.0).map(|e| e.image);
            let mut tagged_rows = Vec::new();
            let mut clean_rows = Vec::new();
            if let Ok(tagged) = tagged {
                for (name, crop) in crops(&tagged) {
                    let plain = tagger.decode_as_is(&crop);
                    let full = tagger.decode(&crop);
                    if let (Ok(plain), Ok(full)) = (plain, full) {
                        tagged_rows.push((
                            name,
                            plain.tag == Some(tag),
                            full.tag == Some(tag),
                            plain.confidence,
                        ));
                    }
                }
            }
            for (_, crop) in
                std::iter::once((String::new(), face.image.clone())).chain(crops(&face.image))
            {
                if let (Ok(plain), Ok(full)) = (tagger.decode_as_is(&crop), tagger.decode(&crop)) {
                    clean_rows.push((plain.confidence, full.tag.is_some()));
                }
            }
            (tagged_rows, clean_rows)
        })
        .collect();
    let tagged: Vec<_> = rows.iter().flat_map(|r| r.0.clone()).collect();
    let clean: Vec<_> = rows.iter().flat_map(|r| r.1.clone()).collect();
    let by_search: Vec<f32> = tagged.iter().filter(|r| !r.1 && r.2).map(|r| r.3).collect();
    let lost: usize = tagged.iter().filter(|r| !r.2).count();
    println!(
        "{} tagged crops: {} read as they are, {} only by the search, {} lost",
        tagged.len(),
        tagged.iter().filter(|r| r.1).count(),
        by_search.len(),
        lost
    );
    println!(
        "plain confidence of crops found only by the search: min {:.3} {}",
        by_search.iter().copied().fold(f32::INFINITY, f32::min),
        quantiles(by_search.clone(), &[0.01, 0.05, 0.5])
    );
    let clean_conf: Vec<f32> = clean.iter().map(|r| r.0).collect();
    println!(
        "{} untagged images (faces and their crops): false tags {}; plain confidence max {:.3} {}",
        clean.len(),
        clean.iter().filter(|r| r.1).count(),
        clean_conf.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        quantiles(clean_conf.clone(), &[0.5, 0.95, 0.99])
    );
    for t in [0.45f32, 0.48, 0.5, 0.52, 0.55, 0.6] {
        let skipped = clean_conf.iter().filter(|&&c| c < t).count();
        let missed = by_search.iter().filter(|&&c| c < t).count();
        println!(
            "gate {t}: search skipped for {:.1}% of untagged images, {missed} of {} search-found crops missed",
            100.0 * skipped as f64 / clean_conf.len() as f64,
            by_search.len()
        );
    }
    Ok(())
}
