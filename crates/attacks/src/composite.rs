//! Wider photos made from face crops: faces of chosen sizes scattered without overlap over a
//! generated background, each with where its box and landmarks now lie. Used to measure a face
//! detector's recall and landmarks on several and small faces, and (issue 18) to build the
//! "face small in a larger photo" evaluation rows, with no photo that cannot be committed.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::AttackError;
use crate::faceswap::Landmarks;

/// Attempts to place one face before the layout is declared too crowded.
const PLACEMENT_TRIES: usize = 1000;
/// Free pixels kept between two pasted crops.
const GAP: u32 = 4;
/// Cells of the background's coarse random grid (smoothly interpolated): a textured, face-free
/// scene with gradients and edges at several scales.
const BACKGROUND_CELLS: [u32; 2] = [6, 40];

fn refused(param: String, problem: String) -> AttackError {
    AttackError::BadParameter {
        kind: "composite",
        param,
        problem,
    }
}

/// One face as pasted.
#[derive(Debug, Clone, PartialEq)]
pub struct Pasted {
    /// Index of the face in the list given.
    pub face: usize,
    /// `[x, y, side, side]` of the pasted crop, in pixels.
    pub crop: [u32; 4],
    /// The face's five landmarks in the composite.
    pub landmarks: Landmarks,
}

/// A seeded, face-free background of `width` × `height`: two layers of bilinearly interpolated
/// random colour grids, coarse and fine.
pub fn background(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = RgbImage::new(width, height);
    for (layer, &cells) in BACKGROUND_CELLS.iter().enumerate() {
        let grid = RgbImage::from_fn(cells + 1, cells + 1, |_, _| Rgb(rng.random::<[u8; 3]>()));
        let smooth = imageops::resize(&grid, width, height, FilterType::Triangle);
        for (o, s) in out.pixels_mut().zip(smooth.pixels()) {
            for c in 0..3 {
                o.0[c] = if layer == 0 {
                    s.0[c]
                } else {
                    ((u16::from(o.0[c]) * 3 + u16::from(s.0[c])) / 4) as u8
                };
            }
        }
    }
    out
}

/// `faces[i]` (square crops with their landmarks) pasted at sides `sides[i]` (Lanczos-resized)
/// at seeded random places on `canvas`, no two crops overlapping. Errors when a crop does not fit
/// or the layout is too crowded.
pub fn scatter(
    canvas: &mut RgbImage,
    faces: &[(&RgbImage, Landmarks)],
    sides: &[u32],
    seed: u64,
) -> Result<Vec<Pasted>, AttackError> {
    if faces.len() != sides.len() {
        return Err(refused(
            format!("{} sides", sides.len()),
            format!("given for {} faces", faces.len()),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut placed: Vec<Pasted> = Vec::new();
    for (index, ((face, landmarks), &side)) in faces.iter().zip(sides).enumerate() {
        if side == 0 || side > canvas.width() || side > canvas.height() {
            return Err(refused(
                format!("{side} px"),
                format!(
                    "does not fit a {}x{} canvas",
                    canvas.width(),
                    canvas.height()
                ),
            ));
        }
        let overlaps = |x: u32, y: u32| {
            placed.iter().any(|p| {
                let [px, py, ps, _] = p.crop;
                x < px + ps + GAP && px < x + side + GAP && y < py + ps + GAP && py < y + side + GAP
            })
        };
        let spot = (0..PLACEMENT_TRIES)
            .map(|_| {
                (
                    rng.random_range(0..=canvas.width() - side),
                    rng.random_range(0..=canvas.height() - side),
                )
            })
            .find(|&(x, y)| !overlaps(x, y))
            .ok_or_else(|| {
                refused(
                    format!("{side} px"),
                    format!("finds no room for face {index} after {PLACEMENT_TRIES} tries"),
                )
            })?;
        let resized = imageops::resize(*face, side, side, FilterType::Lanczos3);
        imageops::replace(canvas, &resized, i64::from(spot.0), i64::from(spot.1));
        let (sx, sy) = (
            side as f32 / face.width() as f32,
            side as f32 / face.height() as f32,
        );
        placed.push(Pasted {
            face: index,
            crop: [spot.0, spot.1, side, side],
            landmarks: landmarks.map(|[x, y]| {
                // Pixel centres: a point at x in the source lies at (x + ½)·s − ½ in the resized copy.
                [
                    (x + 0.5) * sx - 0.5 + spot.0 as f32,
                    (y + 0.5) * sy - 0.5 + spot.1 as f32,
                ]
            }),
        });
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_land_where_reported_and_never_overlap() {
        let face = RgbImage::from_fn(128, 128, |x, y| Rgb([x as u8, y as u8, 255]));
        let lm: Landmarks = [
            [32.0, 40.0],
            [96.0, 40.0],
            [64.0, 64.0],
            [40.0, 96.0],
            [88.0, 96.0],
        ];
        let mut canvas = background(640, 480, 3);
        let faces = vec![(&face, lm); 5];
        let placed = scatter(&mut canvas, &faces, &[32, 64, 96, 128, 160], 9).expect("room");
        for (i, p) in placed.iter().enumerate() {
            let [x, y, s, _] = p.crop;
            assert_eq!(
                canvas.get_pixel(x + s / 2, y + s / 2).0[2],
                255,
                "face {i} not at its crop"
            );
            let scale = s as f32 / 128.0;
            let expect = (32.0 + 0.5) * scale - 0.5 + x as f32;
            assert!((p.landmarks[0][0] - expect).abs() < 1e-3);
            for q in &placed[i + 1..] {
                let [qx, qy, qs, _] = q.crop;
                assert!(
                    x + s <= qx || qx + qs <= x || y + s <= qy || qy + qs <= y,
                    "overlap"
                );
            }
        }
        assert_eq!(placed, {
            let mut again = background(640, 480, 3);
            scatter(&mut again, &faces, &[32, 64, 96, 128, 160], 9).expect("room")
        });
    }

    #[test]
    fn impossible_layouts_are_refused() {
        let face = RgbImage::new(16, 16);
        let lm = [[0.0; 2]; 5];
        let mut canvas = RgbImage::new(100, 100);
        assert!(scatter(&mut canvas, &[(&face, lm)], &[200], 1).is_err());
        assert!(scatter(&mut canvas, &[(&face, lm); 2], &[90, 90], 1).is_err());
        assert!(scatter(&mut canvas, &[(&face, lm)], &[10, 20], 1).is_err());
    }
}
