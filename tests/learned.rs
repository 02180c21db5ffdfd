//! The learned engine with the built-in weights: round trips on real val faces, photos of any
//! size, unmarked photos, and weights directories that are wrong.

use faketagger::model::Backend;
use faketagger::{Error, SchemeKind, Tag, Tagger};
use image::DynamicImage;
use tempfile::tempdir;

use crate::util::{jpeg, run, s, shared_faces, synthetic_photo};

fn builtin() -> Tagger {
    let tagger = Tagger::builtin(&Backend::Flex.device().unwrap()).unwrap();
    assert_eq!(tagger.scheme(), SchemeKind::Learned);
    tagger
}

#[test]
fn val_faces_round_trip_and_unmarked_faces_say_no_tag() {
    let faces = shared_faces("val", 12);
    if faces.is_empty() {
        eprintln!("skipped: ../shared/datasets/celeba-faces128 is not beside the project");
        return;
    }
    let tagger = builtin();
    let mut psnr_sum = 0.0;
    for (i, path) in faces.iter().enumerate() {
        let face = image::open(path).unwrap();
        let tag = Tag::new(0x1234_5678_0000_0000 | i as u64);
        let tagged = tagger.embed(&face, tag, 1.0).unwrap();
        psnr_sum += tagged.psnr;
        let found = tagger.decode(&tagged.image).unwrap();
        assert_eq!(found.tag, Some(tag), "{}", path.display());
        assert!(found.confidence > 0.8, "{}: {found:?}", path.display());
        // saved as a high-quality JPEG, as most photos are
        assert_eq!(
            tagger.decode(&jpeg(&tagged.image, 95)).unwrap().tag,
            Some(tag),
            "{} JPEG q95",
            path.display()
        );
        assert_eq!(
            tagger.decode(&face).unwrap().tag,
            None,
            "{} unmarked",
            path.display()
        );
    }
    let mean = psnr_sum / faces.len() as f64;
    assert!(mean > 30.0, "mean PSNR {mean}");
}

#[test]
fn photos_of_any_size_and_aspect_ratio_round_trip() {
    let tagger = builtin();
    for (seed, (w, h)) in [(128, 128), (640, 360), (300, 500), (1024, 768)]
        .into_iter()
        .enumerate()
    {
        let photo = DynamicImage::ImageRgb8(synthetic_photo(w, h, 200 + seed as u64));
        let tag = Tag::new(0xabcd_0000_0000_0000 | seed as u64);
        let tagged = tagger.embed(&photo, tag, 1.0).unwrap();
        assert_eq!(tagged.image.width(), w);
        assert_eq!(tagged.image.height(), h);
        assert_eq!(
            tagger.decode(&tagged.image).unwrap().tag,
            Some(tag),
            "{w}x{h}"
        );
        assert_eq!(tagger.decode(&photo).unwrap().tag, None, "{w}x{h} unmarked");
    }
}

#[test]
fn weights_directories_that_are_wrong_get_clear_errors() {
    let device = Backend::Flex.device().unwrap();
    let dir = tempdir().unwrap();
    // missing files
    let err = Tagger::load(dir.path(), &device).unwrap_err();
    assert!(matches!(err, Error::Model(_)), "{err}");
    assert!(err.to_string().contains("tagger.json"), "{err}");
    // a config that is not one, and a record that is not one
    std::fs::write(dir.path().join("tagger.json"), b"not json").unwrap();
    std::fs::write(dir.path().join("tagger.bpk"), b"not a record").unwrap();
    let err = Tagger::load(dir.path(), &device).unwrap_err();
    assert!(err.to_string().contains("not a valid config"), "{err}");
    let builtin_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/faketagger-v1");
    std::fs::copy(
        builtin_dir.join("tagger.json"),
        dir.path().join("tagger.json"),
    )
    .unwrap();
    let err = Tagger::load(dir.path(), &device).unwrap_err();
    assert!(err.to_string().contains("not a burnpack record"), "{err}");
    // the real directory loads
    assert_eq!(
        Tagger::load(&builtin_dir, &device).unwrap().scheme(),
        SchemeKind::Learned
    );

    // through the CLI: exit code 2 and the flag named
    let photo = dir.path().join("p.png");
    synthetic_photo(128, 128, 1).save(&photo).unwrap();
    let r = run(&["decode", s(&photo), "--weights", s(dir.path())]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--weights"), "{}", r.stderr);
    assert!(r.stderr.contains("burnpack"), "{}", r.stderr);
    let r = run(&[
        "decode",
        s(&photo),
        "--weights",
        s(&dir.path().join("nope")),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
    let r = run(&["decode", s(&photo), "--device", "tpu"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown backend"), "{}", r.stderr);
}

#[test]
fn issue4_tags_survive_crops_through_the_decoders_search() {
    let faces = shared_faces("val", 8);
    if faces.is_empty() {
        eprintln!("skipped: ../shared/datasets/celeba-faces128 is not beside the project");
        return;
    }
    let tagger = builtin();
    type Crop = fn(&DynamicImage) -> DynamicImage;
    let crops: [(&str, Crop); 4] = [
        ("centre 80% of the area", |i| {
            faketagger::attacks::Attack::Crop(0.8).apply(i, 0).unwrap()
        }),
        ("top-left 80%", |i| i.crop_imm(0, 0, 114, 114)),
        ("bottom-right 90%", |i| i.crop_imm(7, 7, 121, 121)),
        ("a strip off the top and bottom", |i| {
            i.crop_imm(0, 10, 128, 108)
        }),
    ];
    for (i, path) in faces.iter().enumerate() {
        let face = image::open(path).unwrap();
        let tag = Tag::new(0x4444_0000_0000_0000 | i as u64);
        let tagged = tagger.embed(&face, tag, 1.0).unwrap().image;
        for (name, crop) in &crops {
            let cropped = crop(&tagged);
            assert_eq!(
                tagger.decode(&cropped).unwrap().tag,
                Some(tag),
                "{name}: {}",
                path.display()
            );
            // the search finds nothing in the untagged face cropped the same way
            assert_eq!(
                tagger.decode(&crop(&face)).unwrap().tag,
                None,
                "{name} unmarked"
            );
        }
    }
}

/// Issue 18: `decode --faces`. The astronaut with only its face tagged (the face's own residual,
/// none over the rest): the whole photo reads no tag; the face, aligned as DeepFake tools align
/// it, does. An untagged photo's face reads no tag.
#[test]
fn decode_reads_faces_when_the_whole_photo_carries_no_tag() {
    use crate::util::json_lines;
    let tagger = builtin();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let astronaut = image::open(root.join("assets/astronaut.jpg")).unwrap();
    let detector = faketagger::faces::builtin_detector(&Backend::Flex.device().unwrap()).unwrap();
    let faces = faketagger::faces::find_faces(
        &detector,
        &astronaut,
        &faketagger::faces::DetectOptions::default(),
    )
    .unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let tag = Tag::new(0x0fac_e000_0000_0001);
    let face_only = tagger
        .embed_at(
            &astronaut,
            tag,
            1.0,
            faketagger::FaceTagging::Only.sites(&faces),
            None,
        )
        .unwrap();
    assert!(face_only.verified && face_only.faces[0].verified);
    let dir = tempdir().unwrap();
    let tagged = dir.path().join("face-only.png");
    face_only.image.save(&tagged).unwrap();
    let plain = dir.path().join("plain.png");
    astronaut.save(&plain).unwrap();

    let off = run(&["decode", "--faces", "off", s(&tagged)]);
    assert_eq!(off.code, 1, "{}{}", off.stdout, off.stderr);

    let auto = run(&["decode", "--json", s(&tagged), s(&plain)]);
    assert_eq!(auto.code, 1, "one of the two is untagged: {}", auto.stderr);
    let lines = json_lines(&auto.stdout);
    assert_eq!(lines[0]["found"], true, "{}", auto.stdout);
    assert_eq!(
        lines[0]["tag"],
        serde_json::Value::Null,
        "the whole photo: no tag"
    );
    assert_eq!(lines[0]["faces"][0]["found"], true);
    assert_eq!(lines[0]["faces"][0]["tag"], tag.to_string());
    assert_eq!(
        lines[0]["faces"][0]["landmarks"].as_array().unwrap().len(),
        5
    );
    assert_eq!(lines[1]["found"], false, "{}", auto.stdout);
    assert_eq!(lines[1]["faces"][0]["found"], false);

    let text = run(&["decode", s(&tagged)]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("face 1 at") && text.stdout.contains(&tag.to_string()),
        "{}",
        text.stdout
    );

    let bad = run(&["decode", "--faces", "some", s(&tagged)]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
