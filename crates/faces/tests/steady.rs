//! The steadied landmarks ([`Detector::detect_steady`]) against the cascade's own: a face found
//! again in another copy of it is found where it was, and the steadying keeps the landmarks on
//! the face (mirroring included).

use std::path::{Path, PathBuf};

use faketagger_attacks::dataset::{list_faces, shared_faces_for_tests};
use faketagger_attacks::faceswap::{Similarity, face_swap};
use faketagger_faces::{DetectOptions, Detector, Face, Landmarks};
use faketagger_model::Backend;
use image::RgbImage;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn detector() -> Detector {
    let device = Backend::Flex.device().expect("flex");
    Detector::load(&repo().join("weights/mtcnn"), &device).expect("weights/mtcnn")
}

/// The largest face's landmarks, the cascade's or steadied.
fn landmarks(detector: &Detector, image: &RgbImage, steady: bool) -> Option<Landmarks> {
    let options = DetectOptions::default();
    let faces = match steady {
        true => detector.detect_steady(image, &options),
        false => detector.detect(image, &options),
    }
    .expect("detect");
    let area = |f: &Face| (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]);
    faces
        .into_iter()
        .max_by(|a, b| area(a).total_cmp(&area(b)))
        .map(|f| f.steadied)
}

/// Mean distance between corresponding landmarks.
fn apart(a: &Landmarks, b: &Landmarks) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .sum::<f32>()
        / 5.0
}

#[test]
fn a_face_moved_into_another_photo_is_found_where_it_was_when_steadied() {
    let Some(data) = shared_faces_for_tests(&repo()) else {
        return;
    };
    let faces = list_faces(&data, Some("val")).expect("val faces");
    let detector = detector();
    // per face: how far the moved face's landmarks are from the original's carried along
    let (mut plain, mut steady) = (Vec::new(), Vec::new());
    for pair in faces.windows(2).take(24) {
        let (face, other) = (&pair[0], &pair[1]);
        let (Some(lm), Some(other_lm)) = (face.landmarks, other.landmarks) else {
            continue;
        };
        let image = image::open(&face.path).expect("face");
        let other_image = image::open(&other.path).expect("face");
        let moved = face_swap(&other_image, &other_lm, &image, &lm)
            .expect("swap")
            .to_rgb8();
        let to_moved = Similarity::fit(&other_lm, &lm).expect("fit").inverse();
        for (steadied, errors) in [(false, &mut plain), (true, &mut steady)] {
            let (Some(before), Some(after)) = (
                landmarks(&detector, &image.to_rgb8(), steadied),
                landmarks(&detector, &moved, steadied),
            ) else {
                continue;
            };
            errors.push(apart(&before.map(|p| to_moved.apply(p)), &after));
        }
    }
    for errors in [&mut plain, &mut steady] {
        assert!(errors.len() >= 20, "only {} faces found", errors.len());
        errors.sort_by(f32::total_cmp);
    }
    let median = |e: &[f32]| e[e.len() / 2];
    let high = |e: &[f32]| e[e.len() * 9 / 10];
    eprintln!(
        "moved faces' landmarks off by (px, median / p90): plain {:.2} / {:.2}, steadied {:.2} / {:.2}",
        median(&plain),
        high(&plain),
        median(&steady),
        high(&steady)
    );
    assert!(median(&steady) < 0.85 * median(&plain));
    assert!(high(&steady) < high(&plain));
}

#[test]
fn steadied_landmarks_stay_on_the_face_and_mirror_with_it() {
    let photo = image::open(repo().join("assets/astronaut.jpg"))
        .expect("astronaut")
        .to_rgb8();
    let detector = detector();
    let plain = landmarks(&detector, &photo, false).expect("a face");
    let steady = landmarks(&detector, &photo, true).expect("a face");
    let eyes = (plain[1][0] - plain[0][0]).hypot(plain[1][1] - plain[0][1]);
    // the cascade's faces and landmarks are kept as they are, the steadied ones beside them
    let options = DetectOptions::default();
    let cascade = detector.detect(&photo, &options).expect("detect");
    let both = detector.detect_steady(&photo, &options).expect("detect");
    assert_eq!(cascade.len(), both.len());
    for (a, b) in cascade.iter().zip(&both) {
        assert_eq!(
            (a.bbox, a.score, a.landmarks),
            (b.bbox, b.score, b.landmarks)
        );
        assert_eq!(a.steadied, a.landmarks);
        assert_ne!(b.steadied, b.landmarks);
    }
    // the same face: within a tenth of the eyes' distance of the cascade's landmarks
    assert!(apart(&plain, &steady) < 0.1 * eyes, "{plain:?} {steady:?}");
    // the mirrored photo's steadied landmarks are the photo's mirrored (left and right swap)
    let mirrored = image::imageops::flip_horizontal(&photo);
    let m = landmarks(&detector, &mirrored, true).expect("a face");
    let w = photo.width() as f32;
    let back = faketagger_faces::mirrored(&m, w);
    let plain_m = landmarks(&detector, &mirrored, false).expect("a face");
    let plain_back = faketagger_faces::mirrored(&plain_m, w);
    eprintln!(
        "mirror disagreement (px): plain {:.3}, steadied {:.3}; eyes {eyes:.1} px apart",
        apart(&plain, &plain_back),
        apart(&steady, &back)
    );
    assert!(apart(&steady, &back) < 0.02 * eyes);
}
