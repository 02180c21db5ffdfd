//! Exact-tag recovery per real attack on a face split, until `faketagger eval` lands:
//! `cargo run --release --example quick_eval -- DATA_DIR SPLIT COUNT [WEIGHTS_DIR]`.
//! Tags each face with its own tag at strength 1, applies each attack of `crates/attacks`, decodes,
//! and counts exact tags; also counts tags found on the untouched originals (false positives), and
//! exact tags after landmark face swaps with the next face of the split, both ways.

use std::path::PathBuf;

use faketagger::attacks::{Attack, faceswap};
use faketagger::model::Backend;
use faketagger::{Tag, Tagger};

const ATTACKS: [&str; 10] = [
    "identity",
    "jpeg:90",
    "jpeg:70",
    "jpeg:50",
    "webp",
    "resize:0.75",
    "resize:0.5",
    "crop:0.8",
    "blur:1",
    "noise:0.02",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, count, rest @ ..] = args.as_slice() else {
        return Err("usage: quick_eval DATA_DIR SPLIT COUNT [WEIGHTS_DIR]".into());
    };
    let data = PathBuf::from(data);
    let count: usize = count.parse()?;
    let device = Backend::Flex.device()?;
    let tagger = match rest.first() {
        Some(dir) => Tagger::load(dir.as_ref(), &device)?,
        None => Tagger::builtin(&device)?,
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
    let mut exact = vec![0usize; attacks.len()];
    // face swaps with the next face of the split as the other face, landmarks from meta.csv
    let landmarks = |path: &PathBuf| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        faceswap::landmarks_from_csv(&meta, name)
    };
    let (mut swapped_over, mut swapped_into) = (0usize, 0usize);
    let (mut psnr, mut psnr_min, mut false_tags) = (0.0, f64::INFINITY, 0usize);
    for (i, path) in files.iter().enumerate() {
        let face = image::open(path)?;
        if tagger.decode(&face)?.tag.is_some() {
            false_tags += 1;
        }
        let tag = Tag::new(0x5eed_0000_0000_0000 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let tagged = tagger.embed(&face, tag, 1.0)?;
        psnr += tagged.psnr;
        psnr_min = psnr_min.min(tagged.psnr);
        for (k, attack) in attacks.iter().enumerate() {
            let attacked = attack.apply(&tagged.image, i as u64)?;
            if tagger.decode(&attacked)?.tag == Some(tag) {
                exact[k] += 1;
            }
        }
        let other_path = &files[(i + 1) % files.len()];
        let other = image::open(other_path)?;
        if let (Some(lm), Some(other_lm)) = (landmarks(path), landmarks(other_path)) {
            let over = faceswap::face_swap(&tagged.image, &lm, &other, &other_lm)?;
            swapped_over += usize::from(tagger.decode(&over)?.tag == Some(tag));
            let into = faceswap::face_swap(&other, &other_lm, &tagged.image, &lm)?;
            swapped_into += usize::from(tagger.decode(&into)?.tag == Some(tag));
        }
    }
    let n = files.len();
    println!(
        "{n} {split} faces, PSNR mean {:.2} dB (min {psnr_min:.2}), false tags on originals {false_tags}/{n}",
        psnr / n as f64
    );
    println!("| attack | exact tag |\n|---|---|");
    let rows = ATTACKS.iter().copied().zip(exact.iter().copied()).chain([
        ("faceswap (other face over the tagged photo)", swapped_over),
        (
            "faceswap:into (tagged face into another photo)",
            swapped_into,
        ),
    ]);
    for (attack, e) in rows {
        println!(
            "| {attack} | {e}/{n} ({:.1}%) |",
            100.0 * e as f64 / n as f64
        );
    }
    Ok(())
}
