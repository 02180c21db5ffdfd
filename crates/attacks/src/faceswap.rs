//! A landmark face swap in the classical FaceSwap manner (as in Marek Kowalski's FaceSwap and the
//! OpenCV tutorials): the donor's face is aligned onto the target's with the similarity transform
//! that best maps its five landmarks onto the target's, its colours are matched to the target's
//! face (mean and spread per channel), and it is blended in through a feathered ellipse that
//! covers eyes, nose and mouth.
//!
//! Landmarks are the five points of CelebA's aligned crops (`meta.csv` columns `lm0_x`…`lm4_y`):
//! left eye, right eye, nose, left and right mouth corner, in pixels.

use image::{DynamicImage, Rgba32FImage};

use crate::{AttackError, same_layout};

/// Five facial landmarks in pixels: eyes, nose, mouth corners.
pub type Landmarks = [[f32; 2]; 5];

/// Where the landmarks of an aligned face crop sit, as fractions of its side (the mean layout of
/// the 128×128 CelebA crops this project uses).
pub const ALIGNED_LAYOUT: Landmarks = [
    [0.375, 0.473],
    [0.625, 0.477],
    [0.498, 0.633],
    [0.391, 0.727],
    [0.613, 0.723],
];

/// The aligned layout scaled to an image of `width` × `height`.
pub fn aligned_landmarks(width: u32, height: u32) -> Landmarks {
    ALIGNED_LAYOUT.map(|[x, y]| [x * width as f32, y * height as f32])
}

/// The landmarks of `file_name` in a CelebA-style `meta.csv` (columns `file` and
/// `lm0_x` … `lm4_y`), if it lists the file.
pub fn landmarks_from_csv(csv: &str, file_name: &str) -> Option<Landmarks> {
    crate::dataset::parse_meta(csv, std::path::Path::new(""))
        .ok()?
        .into_iter()
        .find(|face| face.file == file_name)?
        .landmarks
}

/// Feathered fraction of the ellipse's radius: the blend ramps from 0 to 1 over its outer 30%.
const FEATHER: f32 = 0.3;
/// Ellipse half-width in eye distances, and half-height in eye-to-mouth distances.
const HALF_WIDTH: f32 = 1.1;
const HALF_HEIGHT: f32 = 1.5;

/// A 2-D similarity (rotation, uniform scale, shift): `x' = [a −b; b a]·x + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    a: f32,
    b: f32,
    t: [f32; 2],
}

impl Similarity {
    /// The box holding the square `[0, side]²` mapped: its least and greatest corner.
    pub fn square_bounds(&self, side: f32) -> [[f32; 2]; 2] {
        let corners = [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]].map(|p| self.apply(p));
        let fold = |k: usize, pick: fn(f32, f32) -> f32, start: f32| {
            corners.iter().map(|c| c[k]).fold(start, pick)
        };
        [
            [
                fold(0, f32::min, f32::INFINITY),
                fold(1, f32::min, f32::INFINITY),
            ],
            [
                fold(0, f32::max, f32::NEG_INFINITY),
                fold(1, f32::max, f32::NEG_INFINITY),
            ],
        ]
    }

    /// Least-squares similarity mapping `from` onto `to` (closed form for 2-D, Umeyama without
    /// reflection); `None` when `from` has no extent.
    pub fn fit(from: &Landmarks, to: &Landmarks) -> Option<Self> {
        let mean = |p: &Landmarks| {
            let s = p.iter().fold([0.0, 0.0], |s, q| [s[0] + q[0], s[1] + q[1]]);
            [s[0] / 5.0, s[1] / 5.0]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy, tx, ty) = (f[0] - mf[0], f[1] - mf[1], t[0] - mt[0], t[1] - mt[1]);
            num_a += fx * tx + fy * ty;
            num_b += fx * ty - fy * tx;
            den += fx * fx + fy * fy;
        }
        if den < 1e-6 {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        let t = [
            mt[0] - (a * mf[0] - b * mf[1]),
            mt[1] - (b * mf[0] + a * mf[1]),
        ];
        Some(Self { a, b, t })
    }

    /// Where `[x, y]` goes.
    pub fn apply(self, [x, y]: [f32; 2]) -> [f32; 2] {
        [
            self.a * x - self.b * y + self.t[0],
            self.b * x + self.a * y + self.t[1],
        ]
    }

    /// The mapping back.
    pub fn inverse(self) -> Self {
        let n = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / n, -self.b / n);
        let t = [
            -(a * self.t[0] - b * self.t[1]),
            -(b * self.t[0] + a * self.t[1]),
        ];
        Self { a, b, t }
    }

    /// The scale factor.
    pub fn scale(self) -> f32 {
        self.a.hypot(self.b)
    }
}

/// The face at `landmarks` in `image`, aligned as DeepFake tools and this project's datasets
/// align faces: the similarity that maps the landmarks onto [`ALIGNED_LAYOUT`] scaled to
/// `side` × `side`, bilinear sampling, black outside the photo, 8-bit RGB. `None` when the
/// landmarks are degenerate or not finite.
pub fn align_face(image: &DynamicImage, landmarks: &Landmarks, side: u32) -> Option<DynamicImage> {
    if landmarks.iter().flatten().any(|v| !v.is_finite()) || side == 0 {
        return None;
    }
    // fitted from the landmarks, so that landmarks without extent are refused
    let to_photo = Similarity::fit(landmarks, &aligned_landmarks(side, side))?.inverse();
    // only the part of the photo the samples fall in is converted to float (at 12 megapixels,
    // converting the whole photo cost 0.3 s per face): the samples' box with a pixel to spare on
    // each side for bilinear's neighbours, so that a cut inside the photo is never reached and
    // every sample reads what it reads in the whole photo (the offsets are integers: exact)
    let [lo, hi] = to_photo.square_bounds((side - 1) as f32);
    let span = |k: usize, limit: u32| {
        let clamp = |v: f32| v.clamp(0.0, limit as f32) as u32;
        (clamp(lo[k].floor() - 1.0), clamp(hi[k].ceil() + 2.0))
    };
    let ((x0, x1), (y0, y1)) = (span(0, image.width()), span(1, image.height()));
    let to_byte = |v: f32| crate::geometry::round_to_u8(v.clamp(0.0, 1.0) * 255.0);
    if let Some((samples, channels)) = eight_bit(image) {
        // the same samples, read from the bytes where they lie (the box's conversion to float
        // cost more than the sampling, and a face's inner search aligns it a hundred times)
        let window = Window {
            samples,
            row: image.width() as usize * channels,
            origin: [x0, y0],
            size: [x1.saturating_sub(x0), y1.saturating_sub(y0)],
        };
        let mut crop = image::RgbImage::new(side, side);
        match channels {
            1 => window.sample::<1>(to_photo, &mut crop),
            3 => window.sample::<3>(to_photo, &mut crop),
            _ => window.sample::<4>(to_photo, &mut crop),
        }
        return Some(DynamicImage::ImageRgb8(crop));
    }
    let src = (x1 > x0 && y1 > y0).then(|| image.crop_imm(x0, y0, x1 - x0, y1 - y0).to_rgba32f());
    let crop = image::RgbImage::from_fn(side, side, |x, y| {
        let [px, py] = to_photo.apply([x as f32, y as f32]);
        let [r, g, b] = src
            .as_ref()
            .and_then(|src| bilinear(src, [px - x0 as f32, py - y0 as f32]))
            .unwrap_or([0.0; 3]);
        image::Rgb([r, g, b].map(to_byte))
    });
    Some(DynamicImage::ImageRgb8(crop))
}

/// An 8-bit photo's samples and channels per pixel (grey, RGB or RGBA), else `None`.
fn eight_bit(image: &DynamicImage) -> Option<(&[u8], usize)> {
    match image {
        DynamicImage::ImageLuma8(i) => Some((i.as_raw(), 1)),
        DynamicImage::ImageRgb8(i) => Some((i.as_raw(), 3)),
        DynamicImage::ImageRgba8(i) => Some((i.as_raw(), 4)),
        _ => None,
    }
}

/// A box of an 8-bit photo, sampled as [`crate::geometry::bilinear`] samples the box converted
/// to float (the same operations on the same values: the same results).
struct Window<'a> {
    samples: &'a [u8],
    /// Bytes per row of the photo.
    row: usize,
    origin: [u32; 2],
    size: [u32; 2],
}

impl Window<'_> {
    /// `crop`'s pixels sampled at `to_photo` of their coordinates (black outside the box), from
    /// a photo of `C` bytes a pixel (grey, RGB or RGBA).
    fn sample<const C: usize>(&self, to_photo: Similarity, crop: &mut image::RgbImage) {
        let side = crop.width() as usize;
        let ([w, h], [ox, oy]) = (self.size, self.origin);
        let (last_x, last_y) = (w.saturating_sub(1) as f32, h.saturating_sub(1) as f32);
        let (ox_f, oy_f) = (ox as f32, oy as f32);
        let unit = |at: usize| crate::geometry::UNIT_OF_BYTE[usize::from(self.samples[at])];
        for (y, row) in crop.chunks_exact_mut(3 * side).enumerate() {
            for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
                let [px, py] = to_photo.apply([x as f32, y as f32]);
                let (x, y) = (px - ox_f, py - oy_f);
                if w == 0 || h == 0 || x < 0.0 || y < 0.0 || x > last_x || y > last_y {
                    pixel.fill(0);
                    continue;
                }
                // `floor` of a value at least 0, without the library call
                let (x0, y0) = (x as u32, y as u32);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (x - x0 as f32, y - y0 as f32);
                let at = |x: u32, y: u32| (y + oy) as usize * self.row + (x + ox) as usize * C;
                let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
                for (k, out) in pixel.iter_mut().enumerate() {
                    let k = if C == 1 { 0 } else { k };
                    let top = unit(a + k) * (1.0 - fx) + unit(b + k) * fx;
                    let bottom = unit(c + k) * (1.0 - fx) + unit(d + k) * fx;
                    let v = top * (1.0 - fy) + bottom * fy;
                    *out = crate::geometry::round_to_u8(v.clamp(0.0, 1.0) * 255.0);
                }
            }
        }
    }
}

fn bad(reason: &str) -> AttackError {
    AttackError::Codec {
        attack: "faceswap".into(),
        reason: reason.into(),
    }
}

/// Pastes `donor`'s face over `target`'s. Returns the target with the swapped face, in the
/// target's layout (alpha kept).
pub fn face_swap(
    target: &DynamicImage,
    target_landmarks: &Landmarks,
    donor: &DynamicImage,
    donor_landmarks: &Landmarks,
) -> Result<DynamicImage, AttackError> {
    if target_landmarks
        .iter()
        .chain(donor_landmarks)
        .flatten()
        .any(|v| !v.is_finite())
    {
        return Err(bad("landmarks must be finite numbers"));
    }
    // landmarks all in one spot give no scale or angle to align with
    if Similarity::fit(donor_landmarks, donor_landmarks).is_none() {
        return Err(bad("the donor's landmarks are degenerate"));
    }
    let to_donor = Similarity::fit(target_landmarks, donor_landmarks)
        .ok_or_else(|| bad("the target's landmarks are degenerate"))?;
    let src = donor.to_rgba32f();
    let mut out = target.to_rgba32f();
    let (w, h) = out.dimensions();
    let mask = ellipse_mask(w, h, target_landmarks);
    // the donor face, warped into the target's frame
    let warped: Vec<Option<[f32; 3]>> = (0..w * h)
        .map(|i| {
            if mask[i as usize] <= 0.0 {
                return None;
            }
            let p = to_donor.apply([(i % w) as f32, (i / w) as f32]);
            bilinear(&src, p)
        })
        .collect();
    let gain = colour_match(&out, &warped, &mask);
    for (i, pixel) in out.pixels_mut().enumerate() {
        let (Some(face), m) = (warped[i], mask[i]) else {
            continue;
        };
        for c in 0..3 {
            let matched = ((face[c] - gain[c].0) * gain[c].1 + gain[c].2).clamp(0.0, 1.0);
            pixel.0[c] = m * matched + (1.0 - m) * pixel.0[c];
        }
    }
    Ok(same_layout(DynamicImage::ImageRgba32F(out), target))
}

/// Blend weights: 1 inside the face ellipse, ramping to 0 across its feathered rim.
fn ellipse_mask(w: u32, h: u32, lm: &Landmarks) -> Vec<f32> {
    let dist = |p: [f32; 2], q: [f32; 2]| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
    let eyes = [(lm[0][0] + lm[1][0]) / 2.0, (lm[0][1] + lm[1][1]) / 2.0];
    let mouth = [(lm[3][0] + lm[4][0]) / 2.0, (lm[3][1] + lm[4][1]) / 2.0];
    let centre = [(eyes[0] + mouth[0]) / 2.0, (eyes[1] + mouth[1]) / 2.0];
    let rx = (HALF_WIDTH * dist(lm[0], lm[1])).max(1.0);
    let ry = (HALF_HEIGHT * dist(eyes, mouth)).max(1.0);
    // the face's own tilt: the eye line's angle
    let (sin, cos) = (lm[1][1] - lm[0][1]).atan2(lm[1][0] - lm[0][0]).sin_cos();
    (0..w * h)
        .map(|i| {
            let (dx, dy) = ((i % w) as f32 - centre[0], (i / w) as f32 - centre[1]);
            let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            let r = ((u / rx).powi(2) + (v / ry).powi(2)).sqrt();
            ((1.0 - r) / FEATHER).clamp(0.0, 1.0)
        })
        .collect()
}

fn bilinear(img: &Rgba32FImage, [x, y]: [f32; 2]) -> Option<[f32; 3]> {
    crate::geometry::bilinear(img, x, y).map(|[r, g, b, _]| [r, g, b])
}

/// Per channel (donor mean, gain, target mean) over the face region, weighted by the mask.
fn colour_match(
    target: &Rgba32FImage,
    warped: &[Option<[f32; 3]>],
    mask: &[f32],
) -> [(f32, f32, f32); 3] {
    let mut sums = [[0f64; 5]; 3]; // Σm, Σm·d, Σm·d², Σm·t, Σm·t²
    for ((t, d), &m) in target.pixels().zip(warped).zip(mask) {
        let Some(d) = d else { continue };
        for c in 0..3 {
            let (m, dv, tv) = (f64::from(m), f64::from(d[c]), f64::from(t.0[c]));
            let s = &mut sums[c];
            s[0] += m;
            s[1] += m * dv;
            s[2] += m * dv * dv;
            s[3] += m * tv;
            s[4] += m * tv * tv;
        }
    }
    sums.map(|s| {
        if s[0] < 1.0 {
            return (0.0, 1.0, 0.0);
        }
        let (md, mt) = (s[1] / s[0], s[3] / s[0]);
        let sd = (s[2] / s[0] - md * md).max(0.0).sqrt();
        let st = (s[4] / s[0] - mt * mt).max(0.0).sqrt();
        let gain = if sd > 1e-4 {
            (st / sd).clamp(0.25, 4.0)
        } else {
            1.0
        };
        (md as f32, gain as f32, mt as f32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgb, RgbImage};

    fn face(side: u32, hue: [f32; 3]) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
            let v = 0.5 + 0.3 * ((x as f32 / 9.0).sin() * (y as f32 / 7.0).cos());
            Rgb(hue.map(|h| ((v * h).clamp(0.0, 1.0) * 255.0) as u8))
        }))
    }

    #[test]
    fn similarity_fit_recovers_a_known_transform() {
        let from = aligned_landmarks(128, 128);
        let truth = Similarity {
            a: 1.2 * 0.3f32.cos(),
            b: 1.2 * 0.3f32.sin(),
            t: [5.0, -3.0],
        };
        let to = from.map(|p| truth.apply(p));
        let fit = Similarity::fit(&from, &to).unwrap();
        let back = fit.inverse();
        for p in from {
            let q = back.apply(fit.apply(p));
            assert!((q[0] - p[0]).abs() < 1e-3 && (q[1] - p[1]).abs() < 1e-3);
        }
        for p in from {
            let (q, r) = (fit.apply(p), truth.apply(p));
            assert!((q[0] - r[0]).abs() < 1e-3 && (q[1] - r[1]).abs() < 1e-3);
        }
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &to).is_none());
    }

    /// The whole photo converted to float and sampled: what `align_face` did before it converted
    /// only the samples' box.
    fn align_whole(image: &DynamicImage, landmarks: &Landmarks, side: u32) -> DynamicImage {
        let to_photo = Similarity::fit(landmarks, &aligned_landmarks(side, side))
            .unwrap()
            .inverse();
        let src = image.to_rgba32f();
        DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
            let p = to_photo.apply([x as f32, y as f32]);
            let [r, g, b] = bilinear(&src, p).unwrap_or([0.0; 3]);
            Rgb([r, g, b].map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
        }))
    }

    #[test]
    fn aligning_reads_the_same_pixels_as_from_the_whole_photo() {
        let photo = |layout: u8| {
            let rgb = RgbImage::from_fn(301, 217, |x, y| {
                Rgb([(x * 7 + y) as u8, (x ^ y) as u8, (x * y / 5) as u8])
            });
            let rgb = DynamicImage::ImageRgb8(rgb);
            match layout {
                0 => rgb,
                1 => DynamicImage::ImageRgba8(rgb.to_rgba8()),
                2 => DynamicImage::ImageLuma8(rgb.to_luma8()),
                _ => DynamicImage::ImageRgb16(rgb.to_rgb16()),
            }
        };
        // inside, across each edge and corner, wholly outside, turned, larger than the photo
        let placements = [
            (1.0, 0.0, [80.0, 60.0]),
            (0.8, 0.3, [-30.0, 40.0]),
            (1.3, -0.5, [250.0, 170.0]),
            (0.9, 0.1, [150.0, -40.0]),
            (1.0, 0.0, [400.0, 300.0]),
            (3.5, 0.7, [-100.0, -80.0]),
            (0.37, 1.9, [12.25, 7.5]),
        ];
        for layout in 0..4 {
            let image = photo(layout);
            for (scale, angle, [tx, ty]) in placements {
                let (sin, cos) = f32::sin_cos(angle);
                let landmarks = aligned_landmarks(128, 128).map(|[x, y]| {
                    [
                        scale * (cos * x - sin * y) + tx,
                        scale * (sin * x + cos * y) + ty,
                    ]
                });
                for side in [1, 64, 128] {
                    assert_eq!(
                        align_face(&image, &landmarks, side).unwrap(),
                        align_whole(&image, &landmarks, side),
                        "layout {layout}, scale {scale}, angle {angle}, at {tx},{ty}, side {side}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_aligned_face_is_the_face_in_the_dataset_layout() {
        // a 128 px crop whose landmarks are the layout, shown at twice the size and shifted:
        // aligning it back gives the crop again, up to resampling
        let crop = face(128, [0.9, 0.5, 0.2]);
        let big = image::imageops::resize(
            &crop.to_rgba32f(),
            256,
            256,
            image::imageops::FilterType::Triangle,
        );
        let mut photo = Rgba32FImage::from_pixel(400, 300, image::Rgba([0.0, 0.0, 1.0, 1.0]));
        image::imageops::replace(&mut photo, &big, 60, 20);
        let landmarks = aligned_landmarks(128, 128)
            .map(|[x, y]| [(x + 0.5) * 2.0 - 0.5 + 60.0, (y + 0.5) * 2.0 - 0.5 + 20.0]);
        let aligned = align_face(&DynamicImage::ImageRgba32F(photo), &landmarks, 128)
            .unwrap()
            .to_rgb8();
        let original = crop.to_rgb8();
        let mean_error = aligned
            .pixels()
            .zip(original.pixels())
            .map(|(a, b)| {
                (0..3)
                    .map(|c| (i32::from(a.0[c]) - i32::from(b.0[c])).abs())
                    .sum::<i32>()
            })
            .sum::<i32>() as f64
            / (3 * 128 * 128) as f64;
        assert!(mean_error < 3.0, "mean error {mean_error} levels");
        assert!(align_face(&crop, &[[1.0, 1.0]; 5], 128).is_none());
        assert!(align_face(&crop, &[[f32::NAN, 1.0]; 5], 128).is_none());
    }

    #[test]
    fn landmarks_are_read_from_meta_csv() {
        let csv = "file,split,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,lm4_x,lm4_y\n\
                   a.jpg,test,1,2,3,4,5,6,7,8,9,10\n";
        assert_eq!(
            landmarks_from_csv(csv, "a.jpg"),
            Some([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])
        );
        assert_eq!(landmarks_from_csv(csv, "b.jpg"), None);
        assert_eq!(landmarks_from_csv("file,x\na.jpg,1\n", "a.jpg"), None);
    }

    #[test]
    fn the_face_region_is_replaced_and_the_rest_kept() {
        let target = face(128, [1.0, 0.6, 0.4]);
        let donor = face(160, [0.4, 0.7, 1.0]);
        let out = face_swap(
            &target,
            &aligned_landmarks(128, 128),
            &donor,
            &aligned_landmarks(160, 160),
        )
        .unwrap();
        assert_eq!(out.dimensions(), (128, 128));
        assert_eq!(out.color(), target.color());
        let (t, o) = (target.to_rgb8(), out.to_rgb8());
        // corners untouched
        assert_eq!(t.get_pixel(2, 2), o.get_pixel(2, 2));
        assert_eq!(t.get_pixel(125, 125), o.get_pixel(125, 125));
        // the nose region carries the donor's texture at the target's colour statistics
        let nose = aligned_landmarks(128, 128)[2];
        let (nx, ny) = (nose[0] as u32, nose[1] as u32);
        let changed = (ny - 10..ny + 10)
            .flat_map(|y| (nx - 10..nx + 10).map(move |x| (x, y)))
            .filter(|&(x, y)| t.get_pixel(x, y) != o.get_pixel(x, y))
            .count();
        assert!(changed > 300, "{changed} of 400 pixels changed");
        let bad = [[f32::NAN, 0.0]; 5];
        assert!(face_swap(&target, &bad, &donor, &aligned_landmarks(160, 160)).is_err());
    }
}
