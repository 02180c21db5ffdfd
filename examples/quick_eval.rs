//! The tagger's table on a face split, through the engine (embed with its check, decode as a
//! platform would), until `faketagger eval` lands:
//!
//! `cargo run --release --example quick_eval -- DATA_DIR SPLIT COUNT [--weights DIR]
//! [--simulators DIR,DIR] [--strengths 1.0,0.8,...]`
//!
//! Tags face i with its own tag, measures PSNR and SSIM, applies each real attack of
//! `crates/attacks`, each simulator variant (on the 128² face as trained) and the landmark face
//! swaps with the next face of the split (both ways), and reports bit accuracy (channel bits) and
//! exact-tag recovery; counts tags found on the untouched originals (false positives). With
//! several strengths, one column pair per strength: the strength → PSNR → recovery trade-off.

use std::path::PathBuf;

use faketagger::attacks::{Attack, faceswap, metrics};
use faketagger::model::Backend;
use faketagger::model::noise::simulators::Simulator;
use faketagger::{Tag, Tagger};
use faketagger_train::simulators::{from_images, to_images};
use image::DynamicImage;

const ATTACKS: [&str; 12] = [
    "identity",
    "jpeg:90",
    "jpeg:70",
    "jpeg:50",
    "webp",
    "resize:0.75",
    "resize:0.5",
    "crop:0.9",
    "crop:0.8",
    "blur:1",
    "noise:0.02",
    "rotate:2",
];

/// Bits right and exact tags of one row.
#[derive(Clone, Copy, Default)]
struct Tally {
    bits: usize,
    exact: usize,
    n: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count, rest @ ..] = args.as_slice() else {
        return Err("usage: quick_eval DATA_DIR SPLIT COUNT [--weights DIR] [--simulators DIR,DIR] [--strengths S,S]".into());
    };
    let option = |name: &str| {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
    };
    let data = PathBuf::from(data);
    let count: usize = count.parse()?;
    let device = Backend::Flex.device()?;
    let tagger = match option("--weights") {
        Some(dir) => Tagger::load(dir.as_ref(), &device)?,
        None => Tagger::builtin(&device)?,
    };
    let mut simulators = Vec::new();
    for dir in option("--simulators")
        .map(|s| s.split(',').collect())
        .unwrap_or_else(Vec::new)
    {
        simulators.push((dir.to_owned(), Simulator::load(dir.as_ref(), &device)?));
    }
    let strengths: Vec<f32> = match option("--strengths") {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1.0],
    };
    let meta = std::fs::read_to_string(data.join("meta.csv"))?;
    let files: Vec<PathBuf> = meta
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(4) == Some(split.as_str()))
        .take(count)
        .map(|l| data.join(l.split(',').next().unwrap_or_default()))
        .collect();
    let attacks: Vec<Attack> = ATTACKS
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let landmarks = |path: &PathBuf| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        faceswap::landmarks_from_csv(&meta, name)
    };
    let mut names: Vec<String> = ATTACKS.iter().map(|s| s.to_string()).collect();
    for (dir, sim) in &simulators {
        for v in 0..sim.variants() {
            names.push(format!("simulator {dir} #{v}"));
        }
    }
    names.push("faceswap (other face over the tagged photo)".into());
    names.push("faceswap:into (tagged face into another photo)".into());

    let n = files.len();
    let faces: Vec<DynamicImage> = files.iter().map(image::open).collect::<Result<_, _>>()?;
    let mut false_tags = 0usize;
    for face in &faces {
        false_tags += usize::from(tagger.decode(face)?.tag.is_some());
    }
    let mut columns = Vec::new();
    for &strength in &strengths {
        let mut tally = vec![Tally::default(); names.len()];
        let (mut psnr, mut psnr_min, mut ssim, mut ssim_min) = (0.0, f64::INFINITY, 0.0, 1f64);
        for (i, face) in faces.iter().enumerate() {
            let tag =
                Tag::new(0x5eed_0000_0000_0000 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let tagged = tagger.embed(face, tag, strength)?;
            psnr += tagged.psnr;
            psnr_min = psnr_min.min(tagged.psnr);
            let s = metrics::ssim(&face.to_rgb8(), &tagged.image.to_rgb8()).unwrap_or_default();
            ssim += s;
            ssim_min = ssim_min.min(s);
            let mut row = 0;
            let mut count = |image: &DynamicImage, row: usize| -> Result<(), faketagger::Error> {
                let d = tagger.decode(image)?;
                let wrong = d.channel_bits.distance(&tagged.channel_bits).unwrap_or(256);
                let t = &mut tally[row];
                t.bits += tagged.channel_bits.len() - wrong;
                t.exact += usize::from(d.tag == Some(tag));
                t.n += tagged.channel_bits.len();
                Ok(())
            };
            for attack in &attacks {
                count(&attack.apply(&tagged.image, i as u64)?, row)?;
                row += 1;
            }
            for (_, sim) in &simulators {
                let input = from_images(&[tagged.image.to_rgb8()], &device);
                for v in 0..sim.variants() {
                    let out = to_images(sim.forward(input.clone(), v)).remove(0);
                    count(&DynamicImage::ImageRgb8(out), row)?;
                    row += 1;
                }
            }
            let other_path = &files[(i + 1) % n];
            let other = &faces[(i + 1) % n];
            if let (Some(lm), Some(other_lm)) = (landmarks(&files[i]), landmarks(other_path)) {
                count(
                    &faceswap::face_swap(&tagged.image, &lm, other, &other_lm)?,
                    row,
                )?;
                count(
                    &faceswap::face_swap(other, &other_lm, &tagged.image, &lm)?,
                    row + 1,
                )?;
            }
        }
        println!(
            "strength {strength}: {n} {split} faces, PSNR mean {:.2} dB (min {psnr_min:.2}), SSIM mean {:.4} (min {ssim_min:.4})",
            psnr / n as f64,
            ssim / n as f64
        );
        columns.push((strength, tally));
    }
    println!("false tags on the untouched originals: {false_tags}/{n}\n");
    let mut header = String::from("| attack |");
    let mut rule = String::from("|---|");
    for (s, _) in &columns {
        header.push_str(&format!(" bit acc @{s} | exact tag @{s} |"));
        rule.push_str("---|---|");
    }
    println!("{header}\n{rule}");
    for (r, name) in names.iter().enumerate() {
        let mut line = format!("| {name} |");
        for (_, tally) in &columns {
            let t = tally[r];
            let faces_counted = t.n / 256;
            line.push_str(&format!(
                " {:.4} | {:.1}% ({}/{}) |",
                t.bits as f64 / t.n.max(1) as f64,
                100.0 * t.exact as f64 / faces_counted.max(1) as f64,
                t.exact,
                faces_counted
            ));
        }
        println!("{line}");
    }
    Ok(())
}
