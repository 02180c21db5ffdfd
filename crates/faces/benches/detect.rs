//! Face detection on a 1080p photo with eight faces (the bundled astronaut's face pasted at crop
//! sides 24–256 px on a generated background) and on one 128 px face, flex backend, for each
//! smallest face searched for. Issue 18's target: embed ≤ 150 ms and decode ≤ 60 ms for a
//! 1080p photo with faces, of which detection is one part.
//!
//! `cargo bench -p faketagger-faces --bench detect`

#![allow(clippy::unwrap_used)]

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use faketagger_attacks::composite;
use faketagger_faces::{DetectOptions, Detector};
use faketagger_model::Backend;
use image::imageops;

/// The astronaut's face as a square crop (facenet-pytorch's box on it is 181,61–268,172).
const FACE_CROP: [u32; 4] = [160, 56, 128, 128];
const SIDES: [u32; 8] = [24, 32, 48, 64, 96, 128, 192, 256];

fn detect(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let device = Backend::Flex.device().unwrap();
    let detector = Detector::load(&root.join("weights/mtcnn"), &device).unwrap();
    let astronaut = image::open(root.join("assets/astronaut.jpg"))
        .unwrap()
        .to_rgb8();
    let [x, y, w, h] = FACE_CROP;
    let face = imageops::crop_imm(&astronaut, x, y, w, h).to_image();
    let mut photo = composite::background(1920, 1080, 1);
    let faces = vec![(&face, [[0.0; 2]; 5]); SIDES.len()];
    composite::scatter(&mut photo, &faces, &SIDES, 1).unwrap();

    let mut group = c.benchmark_group("detect (flex)");
    group.sample_size(10);
    for min_face in [20.0, 40.0, 80.0] {
        let options = DetectOptions {
            min_face,
            ..DetectOptions::default()
        };
        group.bench_function(format!("1080p, 8 faces, min_face {min_face}"), |b| {
            b.iter(|| detector.detect(&photo, &options).unwrap())
        });
    }
    let options = DetectOptions::default();
    group.bench_function("128 px face, min_face 20", |b| {
        b.iter(|| detector.detect(&face, &options).unwrap())
    });
    group.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
