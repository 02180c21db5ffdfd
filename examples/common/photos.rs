//! Test photos the examples share: 1920×1080 backdrops with test faces pasted on them.

use faketagger::attacks::composite::{self, Pasted};
use faketagger::attacks::dataset::FaceFile;
use image::{DynamicImage, RgbImage};

/// The backdrop called `name`: `astronaut` (the bundled public-domain photo cropped to 16:9 and
/// scaled up to 1920×1080, the same for every photo) or `generated` (`None`: a new
/// `composite::background` per photo).
pub fn backdrop(name: &str) -> Result<Option<RgbImage>, Box<dyn std::error::Error>> {
    match name {
        "astronaut" => {
            let photo = image::open("assets/astronaut.jpg")?;
            let h = photo.width() * 9 / 16;
            let strip = photo.crop_imm(0, (photo.height() - h) / 2, photo.width(), h);
            Ok(Some(
                strip
                    .resize_exact(1920, 1080, image::imageops::FilterType::Lanczos3)
                    .to_rgb8(),
            ))
        }
        "generated" => Ok(None),
        other => Err(format!("backdrop {other:?}: generated or astronaut").into()),
    }
}

/// Photo `p` of a series: `faces` `p·n … p·n + n − 1` (wrapping; `n` the number of `sides`)
/// pasted at `sides` px on `backdrop` (or on the background of seed `background_seed + p`),
/// placed by seed `scatter_seed + p`.
pub fn with_faces(
    faces: &[FaceFile],
    p: usize,
    sides: &[u32],
    backdrop: Option<&RgbImage>,
    [background_seed, scatter_seed]: [u64; 2],
) -> Result<(DynamicImage, Vec<Pasted>), Box<dyn std::error::Error>> {
    let chosen: Vec<_> = (0..sides.len())
        .map(|k| &faces[(p * sides.len() + k) % faces.len()])
        .collect();
    let sources: Vec<_> = chosen
        .iter()
        .map(|f| image::open(&f.path).map(|i| i.to_rgb8()))
        .collect::<Result<_, _>>()?;
    let placed: Vec<_> = sources
        .iter()
        .zip(&chosen)
        .map(|(s, f)| f.landmarks.map(|lm| (s, lm)))
        .collect::<Option<_>>()
        .ok_or("a face without landmarks")?;
    let mut canvas = match backdrop {
        Some(photo) => photo.clone(),
        None => composite::background(1920, 1080, background_seed + p as u64),
    };
    let pasted = composite::scatter(&mut canvas, &placed, sides, scatter_seed + p as u64)?;
    Ok((DynamicImage::ImageRgb8(canvas), pasted))
}
