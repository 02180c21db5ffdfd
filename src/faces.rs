//! Face-aware tagging (issue 18): a face's own residual, computed by the encoder on the face
//! aligned as DeepFake tools align it ([`faketagger_attacks::faceswap::align_face`], the
//! dataset's five-point layout), warped back into the photo with a feathered edge on top of the
//! whole-photo residual. A tool that crops and aligns the face then holds a whole tag at the
//! scale and place the encoder made it for, instead of a fraction of the photo's.
//!
//! Faces carry the photo's own tag: a face lifted into another photo then still names the
//! registered photo it came from, which is what tracing needs; a tag per face would need a
//! registry record per face and say nothing more about provenance.

use std::borrow::Cow;
use std::path::Path;

use faketagger_attacks::faceswap::{Landmarks, Similarity, aligned_landmarks};
use faketagger_model::Device;
use image::{DynamicImage, Rgba32FImage};

use crate::{Detection, Error};

pub use faketagger_faces::{DetectOptions, Detector, Face};

/// The detector compiled into the build (`weights/mtcnn`, see its card).
pub const BUILTIN_DETECTOR: &str = "mtcnn";
const DETECTOR_CONFIG: &[u8] = include_bytes!("../weights/mtcnn/mtcnn.json");
const DETECTOR_RECORD: &[u8] = include_bytes!("../weights/mtcnn/mtcnn.bpk");

/// The smallest face the engine looks for unless told otherwise (`--min-face`), in pixels: on
/// the levels of the 20 px pyramid DeepFake tools run MTCNN with ([`DetectOptions::pyramid_from`]),
/// those for faces under 32 px left out. They were over half the detector's time at 1080p
/// (131–166 → 60–77 ms with seven faces, `examples/pyramid_levels`); every face of 48 px
/// crops and more is still found, and faces whose boxes are 52 px or more get the very
/// landmarks the tools' 20 px search gives (60 photos: val 12, test 24 + 24).
pub const DEFAULT_MIN_FACE: f32 = 32.0;

/// How the engine looks for faces unless told otherwise: facenet-pytorch's MTCNN settings (as
/// DeepFake tools run it) with [`DEFAULT_MIN_FACE`].
pub fn default_detect_options() -> DetectOptions {
    DetectOptions {
        min_face: DEFAULT_MIN_FACE,
        ..DetectOptions::default()
    }
}

/// Faces are looked for on a copy whose longer side is at most this: a face a DeepFake tool
/// can use is far larger than [`DetectOptions::min_face`] at this size, and the detector's cost
/// grows with the photo's area.
pub const DETECT_MAX_SIDE: u32 = 1920;
/// Most faces read (and tagged) per photo, largest first: each read adds to the false-positive
/// bound.
pub const MAX_FACES: usize = 16;
// a tagged photo's record holds every face it tagged
const _: () = assert!(MAX_FACES <= faketagger_registry::MAX_FACE_PRINTS);

/// The detector compiled into the build.
pub fn builtin_detector(device: &Device) -> Result<Detector, Error> {
    Ok(Detector::from_parts(
        DETECTOR_CONFIG,
        DETECTOR_RECORD,
        &Path::new("weights").join(BUILTIN_DETECTOR),
        device,
    )?)
}

/// The faces in `image`, largest first, at most [`MAX_FACES`]; found on a copy no larger than
/// [`DETECT_MAX_SIDE`], in the photo's pixels, with their landmarks steadied as well
/// ([`Detector::detect_steady`]: the aligned crop is the cascade's, as a DeepFake tool that runs
/// MTCNN takes it; the inner crop is placed and found at the steadied landmarks).
pub fn find_faces(
    detector: &Detector,
    image: &DynamicImage,
    options: &DetectOptions,
) -> Result<Vec<Face>, Error> {
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    // an 8-bit RGB photo within the size is read where it lies (a 1080p copy: 6 MB, 3 ms)
    let (view, scale) = if long > DETECT_MAX_SIDE {
        let small = image.thumbnail(DETECT_MAX_SIDE, DETECT_MAX_SIDE);
        let scale = long as f32 / small.width().max(small.height()) as f32;
        (Cow::Owned(small.to_rgb8()), scale)
    } else if let DynamicImage::ImageRgb8(rgb) = image {
        (Cow::Borrowed(rgb), 1.0)
    } else {
        (Cow::Owned(image.to_rgb8()), 1.0)
    };
    let mut faces = detector.detect_steady(&view, options)?;
    for face in &mut faces {
        face.bbox = face.bbox.map(|v| v * scale);
        face.landmarks = face.landmarks.map(|p| p.map(|v| v * scale));
        face.steadied = face.steadied.map(|p| p.map(|v| v * scale));
    }
    let area = |f: &Face| (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]);
    faces.sort_by(|a, b| area(b).total_cmp(&area(a)));
    faces.truncate(MAX_FACES);
    Ok(faces)
}

/// The faces `mode` tags in `image` ([`find_faces`]): none for [`crate::FaceTagging::Off`] or
/// without a detector.
pub fn faces_to_tag(
    mode: crate::FaceTagging,
    detector: Option<&Detector>,
    image: &DynamicImage,
    options: &DetectOptions,
) -> Result<Vec<Face>, Error> {
    match detector {
        Some(detector) if mode != crate::FaceTagging::Off => find_faces(detector, image, options),
        _ => Ok(Vec::new()),
    }
}

/// A face's inner crop ([`inner_landmarks`] of its steadied landmarks) as a face whose aligned
/// crop it is: what a face is tagged (and read) as besides its aligned crop.
pub fn inner_face(face: &Face) -> Face {
    let inner = inner_landmarks(&face.steadied);
    Face {
        landmarks: inner,
        steadied: inner,
        ..face.clone()
    }
}

/// One face and what its aligned crop read.
#[derive(Debug, Clone)]
pub struct FaceRead {
    /// Where the face is.
    pub face: Face,
    /// What its aligned crop carries, else (when that has no tag) its inner crop.
    pub detection: Detection,
    /// The tag was found in the face's inner crop ([`inner_hypotheses`]), not its aligned crop:
    /// a face moved into another photo.
    pub inner: bool,
}

/// A photo read whole and face by face ([`crate::Tagger::decode_with_faces`]).
#[derive(Debug, Clone)]
pub struct PhotoRead {
    /// The whole photo (with the crop search).
    pub photo: Detection,
    /// Each face read, largest first; empty when faces were not looked at.
    pub faces: Vec<FaceRead>,
}

impl PhotoRead {
    /// The photo's tag, else the first face's that carries one.
    pub fn tag(&self) -> Option<crate::Tag> {
        self.detection().tag
    }

    /// The read that found the tag: the whole photo's, else the first face's that carries one,
    /// else the whole photo's (no tag).
    pub fn detection(&self) -> &Detection {
        if self.photo.tag.is_some() {
            return &self.photo;
        }
        self.faces
            .iter()
            .map(|f| &f.detection)
            .find(|d| d.tag.is_some())
            .unwrap_or(&self.photo)
    }
}

/// The share of the whole-photo residual kept under the faces when the whole photo does not
/// read back with none kept ([`crate::Tagger::embed_at`]): on the astronaut, 3 of 6 random tags
/// failed with none kept, 0 of 6 with half.
pub const WHOLE_KEPT_UNDER_FACES: f32 = 0.5;

/// The share of the residual under a face's inner crop ([`INNER_ZOOM`]: the face's own, or the
/// whole photo's) kept when the inner crop's residual is added, each crop then checked to read
/// back clean (the choice: [`INNER_ZOOM`]'s figures). Both residuals at the middle of the face
/// read as noise to the other's decoder: taken out, the whole photo's compression reads suffer
/// (zoom 2.5: JPEG q50 43% → 11% kept 0, 23% kept 0.5), left whole, the inner crop needs more
/// strength to read clean (zoom 2.5 kept 1: 37.54 dB). Without the clean check the inner crops
/// stay at the photo's strength and a moved face read 54–81% (zoom 2.5).
pub const WHOLE_KEPT_UNDER_INNER: f32 = 0.75;

/// Largest share of the photo a face's aligned square may cover and still get a residual of its
/// own on top of the whole photo's: over it (a portrait, a dataset face crop) the whole photo's
/// residual is at the face's scale already, and a second one only cost PSNR (one of 12 128 px
/// val faces fell to 33.2 dB, under the CLI test's 35).
pub const OWN_RESIDUAL_MAX_SHARE: f32 = 0.25;

/// Width of the feathered rim of a face's residual, in pixels of the aligned crop: the residual
/// fades to nothing over it, so no seam shows where the face's square ends.
pub const FEATHER_PX: f32 = 8.0;

/// How much closer than a face's aligned crop its inner crop looks: the inner crop is the
/// aligned square shrunk this many times about the middle of the eyes and the mouth corners, so
/// that it holds only what a landmark face swap moves into another photo (eyes, nose, mouth:
/// [`faketagger_attacks::faceswap::face_swap`]'s ellipse), and a face moved into another photo
/// carries a whole tag there. The smaller the crop, the less of the whole photo's residual it
/// disturbs (compression reads it) and the fewer pixels it is read from. Chosen with
/// [`WHOLE_KEPT_UNDER_INNER`] on 100 val faces with v1 (`faketagger eval --data
/// ../shared/datasets/celeba-faces128 --split val --count 100 --attacks
/// identity,jpeg:70,jpeg:50,webp,faceswap:into`), as zoom / kept → PSNR, exact tag after JPEG
/// 4:2:0 q50 and WebP q75, and of the face moved into the next face: no inner crop (`--faces
/// off`) 39.00 dB, 43%, 83%, 0%; 2.5 / 0.5 38.82 dB, 23%, –, 86%; 2.5 / 0.75 38.28 dB, 33%,
/// 76%, 90%; 3 / 1 37.95 dB, 43%, 81%, 90%; **3.5 / 0.75 38.56 dB, 41%, 83%, 90%**; 3.5 / 1
/// 38.23 dB, 41%, 87%, 92%; 4 / 1 38.23 dB, 45%, 81%, 85%; 4.5 / 1 38.30 dB, 45%, 82%, 84%.
pub const INNER_ZOOM: f32 = 3.5;

/// Shifts, in pixels of the inner crop, and scales tried about the detector's inner crop when a
/// face is read ([`inner_hypotheses`]): the detector's landmarks on a moved 128 px face are
/// about 2 photo pixels off, several of the zoomed crop's. On the 100 val faces of
/// [`INNER_ZOOM`] (3.5 / 0.75): these 90% of the moved faces; shifts ×0.6 85%, ×1.4 88%; one
/// scale (25 reads) 73%, at 140 ms per untagged 128 px face read against 270 ms (2 cores). A
/// prototype at zoom 2.5 read 62% of them with the detector's crop alone, 89% searched. The
/// second look ([`inner_refinements`]) took the 100 to 92% (316 ms) and the 693 test faces from
/// 86.3% to 90.2% (`--attacks identity,faceswap:into`; untagged reads 285 → 323 ms). With the
/// detector's landmarks steadied ([`Face::steadied`]) the moved faces are found closer to where
/// they were tagged (inner landmarks off by 0.55 photo pixels median, 1.32 p90, against 0.89 and
/// 2.34 on 100 val faces: `examples/inner_search.rs`, where the decoder still reads the inner
/// crop 2 crop pixels off but not 3, 3° turned but not 4.5°): 93.7% of the 493 val faces,
/// 94.4% of the 693 test faces.
/// A smaller grid then loses less, but still loses: shifts of ±2.5 alone 92.1% of the val
/// faces at 212 ms per untagged face against 325; shifts to ±7.5 (147 reads) 94.3% at 517 ms.
/// The second look still pays: `examples/inner_search.rs` on 491 val pairs read 465 moved faces
/// with it and 454 without (101 and 75 reads per untagged face).
pub const INNER_SHIFTS: [f32; 5] = [0.0, -2.5, 2.5, -5.0, 5.0];
/// See [`INNER_SHIFTS`].
pub const INNER_SCALES: [f32; 3] = [1.0, 0.96, 1.04];
/// Reads per face's inner crop: every shift across and down at every scale.
pub const INNER_READS: usize = INNER_SHIFTS.len() * INNER_SHIFTS.len() * INNER_SCALES.len();

/// The landmarks whose aligned crop is the inner crop of the face at `landmarks`
/// ([`INNER_ZOOM`]): the face's landmarks drawn towards the middle of its eyes and mouth corners.
pub fn inner_landmarks(landmarks: &Landmarks) -> Landmarks {
    let middle = [0, 1, 3, 4].map(|k| landmarks[k]);
    let c = middle
        .iter()
        .fold([0.0, 0.0], |s, p| [s[0] + p[0] / 4.0, s[1] + p[1] / 4.0]);
    landmarks.map(|[x, y]| {
        [
            c[0] + (x - c[0]) / INNER_ZOOM,
            c[1] + (y - c[1]) / INNER_ZOOM,
        ]
    })
}

/// The mean of `landmarks` and the side of one pixel of their `side` aligned crop, in the
/// photo's pixels; `None` when they cannot be aligned.
fn middle_and_pixel(landmarks: &Landmarks, side: u32) -> Option<([f32; 2], f32)> {
    let to_crop = to_aligned(landmarks, side)?;
    let c = landmarks
        .iter()
        .fold([0.0, 0.0], |s, p| [s[0] + p[0] / 5.0, s[1] + p[1] / 5.0]);
    Some((c, 1.0 / to_crop.scale()))
}

/// The inner crops read for the face at `landmarks` ([`INNER_READS`] landmark sets, the
/// detector's own first): its [`inner_landmarks`] moved by [`INNER_SHIFTS`] (pixels of a
/// `side` crop) and scaled by [`INNER_SCALES`]. Empty when the landmarks cannot be aligned.
pub fn inner_hypotheses(landmarks: &Landmarks, side: u32) -> Vec<Landmarks> {
    let inner = inner_landmarks(landmarks);
    let Some((c, px)) = middle_and_pixel(&inner, side) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(INNER_READS);
    for scale in INNER_SCALES {
        for dy in INNER_SHIFTS {
            for dx in INNER_SHIFTS {
                out.push(inner.map(|[x, y]| {
                    [
                        c[0] + (x - c[0]) * scale + dx * px,
                        c[1] + (y - c[1]) * scale + dy * px,
                    ]
                }));
            }
        }
    }
    out
}

/// Turns (degrees) and shifts (pixels of the inner crop) tried about the inner read nearest to a
/// codeword when none of [`inner_hypotheses`] carries a tag ([`inner_refinements`]).
pub const INNER_TURNS: [f32; 3] = [0.0, -2.0, 2.0];
/// See [`INNER_TURNS`].
pub const INNER_FINE_SHIFTS: [f32; 3] = [0.0, -1.25, 1.25];
/// Reads of [`inner_refinements`]: every turn and fine shift but the read it starts from.
pub const INNER_FINE_READS: usize =
    INNER_TURNS.len() * INNER_FINE_SHIFTS.len() * INNER_FINE_SHIFTS.len() - 1;

/// The second look at a face's inner crop: `landmarks` (one of [`inner_hypotheses`]) turned by
/// [`INNER_TURNS`] and moved by [`INNER_FINE_SHIFTS`] (pixels of a `side` crop) about their
/// middle, itself left out. Empty when the landmarks cannot be aligned.
pub fn inner_refinements(landmarks: &Landmarks, side: u32) -> Vec<Landmarks> {
    let Some((c, px)) = middle_and_pixel(landmarks, side) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(INNER_FINE_READS);
    for turn in INNER_TURNS {
        let (sin, cos) = turn.to_radians().sin_cos();
        for dy in INNER_FINE_SHIFTS {
            for dx in INNER_FINE_SHIFTS {
                if turn == 0.0 && dx == 0.0 && dy == 0.0 {
                    continue;
                }
                out.push(landmarks.map(|[x, y]| {
                    let (u, v) = (x - c[0], y - c[1]);
                    [
                        c[0] + cos * u - sin * v + dx * px,
                        c[1] + sin * u + cos * v + dy * px,
                    ]
                }));
            }
        }
    }
    out
}

/// Most samples per side of a photo pixel's footprint in the aligned crop
/// ([`add_aligned_residual`]): a face down to a quarter of the crop's side is averaged fully.
const MAX_FOOTPRINT_SAMPLES: usize = 4;

/// The similarity that maps the photo onto the `side` × `side` aligned crop of the face at
/// `landmarks`; `None` when they are degenerate or not finite.
pub fn to_aligned(landmarks: &Landmarks, side: u32) -> Option<Similarity> {
    if landmarks.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    Similarity::fit(landmarks, &aligned_landmarks(side, side))
}

/// The pixels of a `width` × `height` photo that the `side`² aligned crop `to_crop` maps onto
/// covers: left, top, right, bottom (exclusive), clamped to the photo. What
/// [`add_aligned_residual`] changes of the photo.
pub fn aligned_region(to_crop: Similarity, side: u32, width: u32, height: u32) -> [u32; 4] {
    let [lo, hi] = to_crop.inverse().square_bounds(side as f32);
    let span = |k: usize, limit: u32| {
        (
            (lo[k].floor().max(0.0) as u32).min(limit),
            (hi[k].ceil().max(0.0) as u32).min(limit),
        )
    };
    let ((x0, x1), (y0, y1)) = (span(0, width), span(1, height));
    [x0, y0, x1, y1]
}

/// Over the face, replaces `tagged` (the whole-photo embedding) by `original` plus `strength` ×
/// `residual` (three `side`² planes in the aligned crop's frame), each photo pixel sampling the
/// residual where `to_crop` maps it (bilinear); the feather blends the two across the rim.
/// `whole_kept` (0–1) of the whole-photo residual stays under the face: taken out (0), the face's
/// read is clean, where with both present it drowned in the larger, upscaled whole-photo
/// residual (measured by `examples/face_tags.rs`); but a face in the middle of a photo is where
/// the decoder reads most of the whole photo's tag, which then needs some of it kept
/// ([`WHOLE_KEPT_UNDER_FACES`]).
///
/// `photo` and `original` are a part of the photos, whose top-left corner lies at `origin` in
/// them, holding the face's [`aligned_region`] (pixels of the face outside it are left alone).
#[allow(clippy::too_many_arguments)]
pub fn add_aligned_residual(
    photo: &mut Rgba32FImage,
    original: &Rgba32FImage,
    origin: [u32; 2],
    residual: &[f32],
    side: u32,
    to_crop: Similarity,
    strength: f32,
    whole_kept: f32,
) {
    let s = side as f32;
    let [ox, oy] = origin;
    let (w, h) = photo.dimensions();
    let [x0, y0, x1, y1] = aligned_region(to_crop, side, ox + w, oy + h);
    let (x0, y0) = (x0.max(ox), y0.max(oy));
    let plane = (side * side) as usize;
    let last = s - 1.0;
    // a photo pixel covers `to_crop.scale()` crop pixels across: where that is more than one (a
    // face smaller than the crop), the residual is averaged over the pixel's footprint (n × n
    // bilinear samples) instead of sampled at its centre, so that it is shrunk as a resize
    // shrinks an image, not aliased
    let n = (to_crop.scale().ceil() as usize).clamp(1, MAX_FOOTPRINT_SAMPLES);
    let offsets: Vec<f32> = (0..n).map(|k| (k as f32 + 0.5) / n as f32 - 0.5).collect();
    // the three planes' bilinear samples at (u, v)
    let bilinear = |u: f32, v: f32| -> [f32; 3] {
        let (u, v) = (u.clamp(0.0, last), v.clamp(0.0, last));
        let (u0, v0) = (u.floor() as usize, v.floor() as usize);
        let (u1, v1) = (
            (u0 + 1).min(side as usize - 1),
            (v0 + 1).min(side as usize - 1),
        );
        let (fu, fv) = (u - u0 as f32, v - v0 as f32);
        std::array::from_fn(|c| {
            let at = |uu: usize, vv: usize| residual[c * plane + vv * side as usize + uu];
            let top = at(u0, v0) * (1.0 - fu) + at(u1, v0) * fu;
            let bottom = at(u0, v1) * (1.0 - fu) + at(u1, v1) * fu;
            top * (1.0 - fv) + bottom * fv
        })
    };
    if y1 <= y0 || x1 <= x0 {
        return;
    }
    // the region's rows on every core
    use rayon::prelude::*;
    let row_len = w as usize * 4;
    let rows = (y0 - oy) as usize * row_len..(y1 - oy) as usize * row_len;
    let samples: &mut [f32] = photo;
    samples[rows]
        .par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(i, line)| {
            let y = y0 + i as u32;
            for x in x0..x1 {
                let [u, v] = to_crop.apply([x as f32, y as f32]);
                let edge = u.min(v).min(last - u).min(last - v);
                if edge <= 0.0 {
                    continue;
                }
                let weight = (edge / FEATHER_PX).min(1.0);
                let source = original.get_pixel(x - ox, y - oy).0;
                let pixel = &mut line[(x - ox) as usize * 4..][..4];
                let residuals = if n == 1 {
                    bilinear(u, v)
                } else {
                    let mut sums = [0.0; 3];
                    for &dy in &offsets {
                        for &dx in &offsets {
                            let [su, sv] = to_crop.apply([x as f32 + dx, y as f32 + dy]);
                            for (sum, r) in sums.iter_mut().zip(bilinear(su, sv)) {
                                *sum += r;
                            }
                        }
                    }
                    sums.map(|sum| sum / (n * n) as f32)
                };
                for ((value, source), r) in pixel.iter_mut().zip(source).zip(residuals) {
                    let whole = *value - source;
                    let face = (source + strength * r + whole_kept * whole).clamp(0.0, 1.0);
                    *value = (1.0 - weight) * *value + weight * face;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_residual_lands_on_the_face_and_fades_at_its_rim() {
        let side = 64;
        let landmarks =
            aligned_landmarks(side, side).map(|[x, y]| [x * 2.0 + 100.0, y * 2.0 + 50.0]);
        let to_crop = to_aligned(&landmarks, side).expect("landmarks");
        let original = Rgba32FImage::from_pixel(400, 300, image::Rgba([0.5, 0.5, 0.5, 1.0]));
        // the whole-photo embedding: +0.05 everywhere
        let mut photo = Rgba32FImage::from_pixel(400, 300, image::Rgba([0.55, 0.55, 0.55, 1.0]));
        let residual = vec![0.1; 3 * (side * side) as usize];
        add_face_only(&mut photo, &original, &residual, side, to_crop);
        // the crop's centre sits at (100 + 64, 50 + 64) in the photo, scaled ×2: the face's
        // residual alone there
        assert!((photo.get_pixel(164, 114).0[0] - 0.6).abs() < 1e-4);
        // outside the face's square: the whole-photo embedding untouched
        assert_eq!(photo.get_pixel(90, 40).0[0], 0.55);
        assert_eq!(photo.get_pixel(240, 200).0[0], 0.55);
        // on the rim: between the two
        let rim = photo.get_pixel(102, 114).0[0];
        assert!(rim > 0.55 && rim < 0.6, "rim {rim}");
        assert!(to_aligned(&[[f32::NAN; 2]; 5], side).is_none());
    }

    /// [`add_aligned_residual`] over whole photos at strength 1, none of the whole photo's
    /// residual kept under the face.
    fn add_face_only(
        photo: &mut Rgba32FImage,
        original: &Rgba32FImage,
        residual: &[f32],
        side: u32,
        to_crop: Similarity,
    ) {
        add_aligned_residual(photo, original, [0, 0], residual, side, to_crop, 1.0, 0.0);
    }

    #[test]
    fn a_face_smaller_than_its_crop_gets_the_residual_averaged_not_aliased() {
        // a face a quarter of the crop's side: each photo pixel covers 4 × 4 crop pixels
        let side = 64;
        let landmarks = aligned_landmarks(side, side).map(|[x, y]| [x / 4.0, y / 4.0]);
        let to_crop = to_aligned(&landmarks, side).expect("landmarks");
        assert!((to_crop.scale() - 4.0).abs() < 1e-4);
        // the finest pattern a residual can hold: ±0.1 alternating pixels, averaging to 0
        let plane = (side * side) as usize;
        let residual: Vec<f32> = (0..3 * plane)
            .map(|i| {
                if (i % side as usize + i / side as usize).is_multiple_of(2) {
                    0.1
                } else {
                    -0.1
                }
            })
            .collect();
        let original = Rgba32FImage::from_pixel(16, 16, image::Rgba([0.5, 0.5, 0.5, 1.0]));
        let mut photo = original.clone();
        add_face_only(&mut photo, &original, &residual, side, to_crop);
        // sampled at the pixels' centres only, every pixel would land on a +0.1 crop pixel
        let worst = photo
            .pixels()
            .map(|p| (p.0[0] - 0.5).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "a pattern finer than the photo's pixels left {worst}"
        );
    }

    #[test]
    fn the_inner_crop_is_the_aligned_crop_zoomed_and_its_reads_move_about_it() {
        let side = 128;
        let landmarks = aligned_landmarks(side, side).map(|[x, y]| [x * 3.0 + 40.0, y * 3.0 + 7.0]);
        let face = to_aligned(&landmarks, side).expect("face");
        let inner = to_aligned(&inner_landmarks(&landmarks), side).expect("inner");
        assert!((inner.scale() / face.scale() - INNER_ZOOM).abs() < 1e-3);
        // zoomed about the middle of the eyes and the mouth corners: it stays where it was
        let middle = [0, 1, 3, 4]
            .map(|k| landmarks[k])
            .iter()
            .fold([0.0, 0.0], |s, p| [s[0] + p[0] / 4.0, s[1] + p[1] / 4.0]);
        let (at, expected) = (inner.apply(middle), face.apply(middle));
        assert!((at[0] - expected[0]).abs() < 0.01 && (at[1] - expected[1]).abs() < 0.01);
        let reads = inner_hypotheses(&landmarks, side);
        assert_eq!(reads.len(), INNER_READS);
        assert_eq!(
            reads[0],
            inner_landmarks(&landmarks),
            "the detector's own first"
        );
        // every read is another crop, shifted by at most 5 and scaled by at most 4%
        for (i, read) in reads.iter().enumerate() {
            let crop = to_aligned(read, side).expect("read");
            let centre = crop.inverse().apply([64.0, 64.0]);
            let moved = inner.apply(centre).map(|v| v - 64.0);
            assert!(
                moved[0].abs() <= 6.5 && moved[1].abs() <= 6.5,
                "read {i}: {moved:?}"
            );
            assert!(
                (crop.scale() / inner.scale() - 1.0).abs() <= 0.045,
                "read {i}"
            );
        }
        let distinct: std::collections::HashSet<String> =
            reads.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(distinct.len(), INNER_READS);
        assert!(inner_hypotheses(&[[5.0, 5.0]; 5], side).is_empty());
        // the second look: turned by up to 2° and moved by up to 1.25 px about a read
        let finer = inner_refinements(&reads[7], side);
        assert_eq!(finer.len(), INNER_FINE_READS);
        assert!(
            !finer.contains(&reads[7]),
            "the read it starts from is not read again"
        );
        let start = to_aligned(&reads[7], side).expect("read");
        for read in &finer {
            let crop = to_aligned(read, side).expect("finer");
            let moved = start
                .apply(crop.inverse().apply([64.0, 64.0]))
                .map(|v| v - 64.0);
            assert!(moved[0].abs() <= 3.0 && moved[1].abs() <= 3.0, "{moved:?}");
            assert!((crop.scale() / start.scale() - 1.0).abs() < 1e-3);
        }
        assert!(inner_refinements(&[[5.0, 5.0]; 5], side).is_empty());
    }

    #[test]
    fn a_tagged_face_moved_into_another_photo_reads_through_its_inner_crop() {
        use faketagger_attacks::faceswap::face_swap;
        let device = faketagger_model::Backend::Flex.device().expect("flex");
        let tagger = crate::Tagger::builtin(&device).expect("builtin");
        let detector = builtin_detector(&device).expect("detector");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let photo = image::open(root.join("assets/astronaut.jpg")).expect("astronaut");
        let tag = crate::Tag::new(0x0123_4567_89ab_cdef);
        let options = DetectOptions::default();
        let faces = find_faces(&detector, &photo, &options).expect("detect");
        let embedded = tagger
            .embed_at(
                &photo,
                tag,
                1.0,
                crate::FaceTagging::Auto.sites(&faces),
                None,
            )
            .expect("embed");
        assert!(embedded.verified);
        assert!(
            embedded.faces[0].inner_strength >= 1.0,
            "{:?}",
            embedded.faces[0]
        );
        // another photo: the untagged astronaut mirrored, its face's landmarks mirrored (left
        // and right swap places); the tagged face goes over it as a landmark swap moves it
        let width = photo.width() as f32;
        let mirror = |lm: &Landmarks| {
            let m = lm.map(|[x, y]| [width - 1.0 - x, y]);
            [m[1], m[0], m[2], m[4], m[3]]
        };
        let other = photo.fliph();
        let other_landmarks = mirror(&faces[0].landmarks);
        let moved = face_swap(
            &other,
            &other_landmarks,
            &embedded.image,
            &faces[0].landmarks,
        )
        .expect("swap");
        let read = tagger
            .decode_with_faces(&moved, Some(&detector), crate::FaceMode::Auto, &options)
            .expect("decode");
        assert_eq!(
            read.photo.tag, None,
            "the other photo's pixels carry no tag"
        );
        assert_eq!(read.tag(), Some(tag));
        let face = read
            .faces
            .iter()
            .find(|f| f.detection.tag.is_some())
            .expect("a face");
        assert!(face.inner, "found in the inner crop");
        // the detector made on demand: not for the tagged photo, once for the moved face (the
        // same read), and its failure is the moved face's error only
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let counted = || {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(&detector))
        };
        let auto = crate::FaceMode::Auto;
        let whole = tagger
            .decode_with_faces_on_demand(&embedded.image, &counted, auto, &options)
            .expect("decode");
        assert_eq!(
            (
                whole.tag(),
                calls.load(std::sync::atomic::Ordering::Relaxed)
            ),
            (Some(tag), 0)
        );
        let again = tagger
            .decode_with_faces_on_demand(&moved, &counted, auto, &options)
            .expect("decode");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(again.tag(), read.tag());
        assert_eq!(again.faces.len(), read.faces.len());
        let broken = || Err(crate::Error::Unsupported("no detector".into()));
        assert!(
            tagger
                .decode_with_faces_on_demand(&embedded.image, &broken, auto, &options)
                .is_ok()
        );
        assert!(
            tagger
                .decode_with_faces_on_demand(&moved, &broken, auto, &options)
                .is_err()
        );
        // the same read of the untagged mirror finds nothing
        let clean = tagger
            .decode_with_faces(&other, Some(&detector), crate::FaceMode::All, &options)
            .expect("decode");
        assert_eq!(clean.tag(), None);
    }

    /// facenet-pytorch's landmarks on the bundled astronaut (weights/mtcnn/reference.json).
    const ASTRONAUT: Landmarks = [
        [204.7, 101.0],
        [247.2, 103.1],
        [224.7, 129.1],
        [202.1, 139.3],
        [245.1, 142.0],
    ];

    #[test]
    fn a_tagged_face_aligned_as_deepfake_tools_align_it_carries_the_tag() {
        use faketagger_attacks::faceswap::align_face;
        let device = faketagger_model::Backend::Flex.device().expect("flex");
        let tagger = crate::Tagger::builtin(&device).expect("builtin");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let photo = image::open(root.join("assets/astronaut.jpg")).expect("astronaut");
        let tag = crate::Tag::new(0x0123_4567_89ab_cdef);
        let face = |landmarks| Face {
            bbox: [180.0, 60.0, 270.0, 180.0],
            score: 1.0,
            landmarks,
            steadied: landmarks,
        };
        let faces = [face(ASTRONAUT), face([[f32::NAN; 2]; 5])];
        let sites = crate::FaceTagging::Auto.sites(&faces);
        let embedded = tagger
            .embed_at(&photo, tag, 1.0, sites, None)
            .expect("faces");
        assert!(embedded.verified);
        assert!(embedded.faces[0].verified && embedded.faces[0].strength >= 1.0);
        assert_eq!(
            (embedded.faces[1].strength, embedded.faces[1].verified),
            (0.0, false),
            "landmarks that cannot be aligned are passed over, and said so"
        );
        let tagged = embedded.image;
        assert_eq!(
            tagger.decode(&tagged).expect("decode").tag,
            Some(tag),
            "the whole photo"
        );
        let face = tagger
            .decode_face(&tagged, &ASTRONAUT)
            .expect("decode_face");
        assert_eq!(
            face.and_then(|d| d.tag),
            Some(tag),
            "the face read as it is"
        );
        for side in [112, 224, 256] {
            let crop = align_face(&tagged, &ASTRONAUT, side).expect("aligned");
            assert_eq!(
                tagger.decode(&crop).expect("decode").tag,
                Some(tag),
                "aligned at {side} px"
            );
        }
        // faces read in one decoder pass (as decode and embed read them) read as each alone
        let shifted = ASTRONAUT.map(|[x, y]| [x + 6.0, y - 4.0]);
        let together = tagger
            .decode_faces_plain(&tagged, [&ASTRONAUT, &[[f32::NAN; 2]; 5], &shifted])
            .expect("together");
        assert_eq!(together.len(), 3);
        assert!(together[1].is_none(), "landmarks that cannot be aligned");
        for (at, landmarks) in [(0, &ASTRONAUT), (2, &shifted)] {
            let alone = tagger
                .decode_faces_plain(&tagged, [landmarks])
                .expect("alone");
            let (together, alone) = (together[at].expect("aligned"), alone[0].expect("aligned"));
            assert_eq!(together.hard_bits, alone.hard_bits, "face {at}");
            assert_eq!(together.tag(), alone.tag(), "face {at}");
        }
        assert_eq!(together[0].and_then(|d| d.tag()), Some(tag));
        assert!(crate::psnr(&photo, &tagged) > 35.0);
        let classic = crate::Tagger::classic();
        assert!(classic.embed_at(&photo, tag, 1.0, sites, None).is_err());
        assert!(classic.decode_face(&tagged, &ASTRONAUT).is_err());
        assert_eq!(
            tagger
                .decode_face(&tagged, &[[3.0, 3.0]; 5])
                .expect("degenerate"),
            None
        );
    }
}
