//! The shipped simulators (weights/autoencoder, weights/faceswap) load and re-generate a face as
//! their model cards say, on the public-domain photo in assets/.

use std::path::Path;

use faketagger::attacks::metrics;
use faketagger::model::Backend;
use faketagger::model::noise::simulators::Simulator;
use faketagger_train::simulators::{from_images, to_images};
use image::imageops::FilterType;

/// The astronaut's face, cropped as the model cards' first sample.
fn face() -> image::RgbImage {
    let photo = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.jpg"))
        .unwrap()
        .crop_imm(150, 40, 200, 200);
    photo.resize_exact(128, 128, FilterType::Lanczos3).to_rgb8()
}

#[test]
fn shipped_simulators_regenerate_a_face_as_their_cards_say() {
    let device = Backend::Flex.device().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let face = face();
    let input = from_images(std::slice::from_ref(&face), &device);
    // (folder, variants, lowest PSNR of any variant): the cards measure 19.7 dB for the
    // autoencoder and 16.8–17.0 dB for the swaps over three crops of this photo
    for (dir, variants, floor) in [("autoencoder", 1, 17.0), ("faceswap", 4, 14.0)] {
        let sim = Simulator::load(&root.join(dir), &device).unwrap();
        assert_eq!(sim.variants(), variants, "{dir}");
        let mut outputs = Vec::new();
        for v in 0..variants {
            let out = to_images(sim.forward(input.clone(), v)).remove(0);
            let psnr = metrics::psnr(&face, &out).unwrap();
            // a re-generation: close to the face, never a copy of it
            assert!(floor < psnr && psnr < 35.0, "{dir} #{v}: {psnr:.2} dB");
            outputs.push(out);
        }
        // the identities of a face swap render differently
        if variants > 1 {
            assert_ne!(outputs[0], outputs[1], "{dir}");
        }
    }
}
