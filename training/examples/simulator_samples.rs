//! A grid of what trained simulators make of some faces, for model cards:
//! `cargo run --release -p faketagger-train --example simulator_samples -- OUT.png SIM_DIR[,SIM_DIR…]
//! FACE[@X,Y,SIDE]…`. The first row holds the faces (each cropped to the square at X,Y of side
//! SIDE when given, then resized to the simulators' side); each further row one simulator variant
//! (the autoencoder's reconstruction, or each face-swap identity). Prints each variant's PSNR
//! against the faces.

use std::path::PathBuf;

use faketagger_model::Backend;
use faketagger_model::noise::simulators::Simulator;
use faketagger_train::data::{Face, FaceSet};
use faketagger_train::simulators::{from_images, grid, to_images};
use image::imageops::FilterType;

/// Side of the simulators' input.
const SIDE: u32 = 128;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, sims, faces @ ..] = args.as_slice() else {
        return Err("usage: simulator_samples OUT.png SIM_DIR[,SIM_DIR…] FACE[@X,Y,SIDE]…".into());
    };
    if faces.is_empty() {
        return Err("give at least one face".into());
    }
    let device = Backend::Flex.device()?;
    let mut set = FaceSet {
        faces: Vec::new(),
        resolution: SIDE as usize,
    };
    for spec in faces {
        let (path, crop) = match spec.split_once('@') {
            Some((p, c)) => {
                let n: Vec<u32> = c.split(',').map(str::parse).collect::<Result<_, _>>()?;
                (p, Some(n))
            }
            None => (spec.as_str(), None),
        };
        let mut img = image::open(path)?;
        if let Some([x, y, side]) = crop.as_deref() {
            img = img.crop_imm(*x, *y, *side, *side);
        }
        let rgb = img.resize_exact(SIDE, SIDE, FilterType::Lanczos3).to_rgb8();
        set.faces.push(Face {
            path: PathBuf::from(path),
            identity: None,
            rgb: rgb.into_raw(),
        });
    }
    let originals: Vec<_> = (0..set.len()).map(|i| set.image(i)).collect();
    let mut rows = vec![originals.clone()];
    for dir in sims.split(',') {
        let sim = Simulator::load(dir.as_ref(), &device)?;
        for variant in 0..sim.variants() {
            let made = to_images(sim.forward(from_images(&originals, &device), variant));
            let psnr: f64 = originals
                .iter()
                .zip(&made)
                .map(|(a, b)| faketagger_attacks::metrics::psnr(a, b).unwrap_or_default())
                .sum::<f64>()
                / made.len() as f64;
            println!("{dir} variant {variant}: PSNR {psnr:.2} dB against the faces");
            rows.push(made);
        }
    }
    grid(&rows, SIDE).save(out)?;
    println!("{out}");
    Ok(())
}
