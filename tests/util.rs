//! Helpers: running the binary, making test images (no committed fixtures but the sample).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{DynamicImage, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const TAG: &str = "0123456789abcdef";

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faketagger"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_env(&[], args)
}

/// Runs the binary with these environment variables set.
pub fn run_env(env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut command = bin();
    for (name, value) in env {
        command.env(name, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.args(args).output().expect("the binary runs");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the binary panicked: {}",
        run.stderr
    );
    run
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A seeded photo-like picture: smooth gradients, a few soft blobs, mild grain.
pub fn synthetic_photo(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = StdRng::seed_from_u64(seed);
    let blobs: Vec<(f32, f32, f32, [f32; 3])> = (0..6)
        .map(|_| {
            (
                rng.random_range(0.0..width as f32),
                rng.random_range(0.0..height as f32),
                rng.random_range(10.0..width as f32 / 3.0),
                [
                    rng.random_range(-80.0..80.0),
                    rng.random_range(-80.0..80.0),
                    rng.random_range(-80.0..80.0),
                ],
            )
        })
        .collect();
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let mut c = [90.0 + 80.0 * fx, 110.0 + 60.0 * fy, 140.0 - 50.0 * fx * fy];
        for &(bx, by, r, col) in &blobs {
            let d2 = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)) / (r * r);
            let w = (-d2).exp();
            for i in 0..3 {
                c[i] += w * col[i];
            }
        }
        let grain: f32 = rng.random_range(-3.0..3.0);
        Rgb(c.map(|v| (v + grain).clamp(0.0, 255.0) as u8))
    })
}

pub fn write_photo(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let path = dir.join(name);
    DynamicImage::ImageRgb8(synthetic_photo(256, 192, seed))
        .save(&path)
        .expect("write test image");
    path
}

/// Faces from the shared CelebA crops, split `split`; empty (the test skips) when the data is
/// absent, except under `CI=true`, where their absence fails the test.
pub fn shared_faces(split: &str, count: usize) -> Vec<PathBuf> {
    let Some(root) =
        faketagger::attacks::dataset::shared_faces_for_tests(Path::new(env!("CARGO_MANIFEST_DIR")))
    else {
        return Vec::new();
    };
    faketagger::attacks::dataset::list_faces(&root, Some(split))
        .expect("the shared faces' meta.csv")
        .into_iter()
        .take(count)
        .map(|face| face.path)
        .collect()
}

pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Files in `dir` whose names start with the writer's temporary prefix.
pub fn leftover_temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".faketagger-"))
        })
        .collect()
}

/// `image` re-encoded as a JPEG at `quality` and decoded again.
pub fn jpeg(image: &image::DynamicImage, quality: u8) -> image::DynamicImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&image.to_rgb8())
        .unwrap();
    image::load_from_memory(&bytes).unwrap()
}
