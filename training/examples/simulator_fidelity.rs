//! How faithfully trained simulators render the faces of a split, for model cards:
//! `cargo run --release -p faketagger-train --example simulator_fidelity -- DATA SPLIT
//! SIM_DIR[,SIM_DIR…]`. Prints, per simulator variant, the mean PSNR and SSIM of its renderings
//! (saved as 8-bit RGB) against the faces, and the worst PSNR. For an autoencoder or a
//! regenerator this is its reconstruction fidelity; a face swap's variants render every face as
//! their identity, so theirs measure a swap, not a reconstruction.

use std::path::Path;

use faketagger_model::Backend;
use faketagger_model::noise::simulators::Simulator;
use faketagger_train::data::FaceSet;
use faketagger_train::simulators::fidelity;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, split, sims] = args.as_slice() else {
        return Err("usage: simulator_fidelity DATA SPLIT SIM_DIR[,SIM_DIR…]".into());
    };
    let device = Backend::Flex.device()?;
    let faces = FaceSet::load(Path::new(data), Some(split), 128, None)?;
    let all: Vec<usize> = (0..faces.len()).collect();
    for dir in sims.split(',') {
        let sim = Simulator::load(dir.as_ref(), &device)?;
        for variant in 0..sim.variants() {
            let started = std::time::Instant::now();
            let score = fidelity(&sim, &faces, &all, variant, &device);
            println!(
                "{dir} variant {variant}: {} {split} faces, PSNR {:.2} dB mean (min {:.2}), \
                 SSIM {:.4} mean ({:.1} ms a face)",
                score.faces,
                score.mean_psnr(),
                score.min_psnr,
                score.mean_ssim(),
                started.elapsed().as_secs_f64() * 1e3 / score.faces.max(1) as f64
            );
        }
    }
    Ok(())
}
