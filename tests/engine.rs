//! The library front door: Tagger, I/O helpers and the baseline's robustness.

use faketagger::io::{Overwrite, write_atomic};
use faketagger::{Error, Tag, Tagger, psnr};
use image::DynamicImage;
use image::imageops::FilterType;
use tempfile::tempdir;

use crate::util::synthetic_photo;

fn jpeg(image: &DynamicImage, quality: u8) -> DynamicImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&image.to_rgb8())
        .unwrap();
    image::load_from_memory(&bytes).unwrap()
}

#[test]
fn baseline_survives_jpeg_and_odd_aspect_ratios() {
    let tagger = Tagger::classic();
    for (seed, (w, h)) in [(256, 256), (640, 360), (300, 500), (1024, 768)]
        .into_iter()
        .enumerate()
    {
        let photo = DynamicImage::ImageRgb8(synthetic_photo(w, h, 100 + seed as u64));
        let tag = Tag::new(0xfeed_0000_0000_0000 | seed as u64);
        let tagged = tagger.embed(&photo, tag, 1.0).unwrap();
        assert!(tagged.psnr > 40.0, "{w}x{h}: PSNR {}", tagged.psnr);
        assert_eq!(
            tagger.decode(&tagged.image).unwrap().tag,
            Some(tag),
            "{w}x{h} clean"
        );
        assert_eq!(
            tagger.decode(&jpeg(&tagged.image, 70)).unwrap().tag,
            Some(tag),
            "{w}x{h} JPEG q70"
        );
        assert_eq!(tagger.decode(&photo).unwrap().tag, None, "{w}x{h} unmarked");
    }
}

#[test]
fn baseline_decodes_after_a_moderate_resize() {
    let tagger = Tagger::classic();
    let photo = DynamicImage::ImageRgb8(synthetic_photo(512, 512, 7));
    let tag = Tag::new(42);
    let tagged = tagger.embed(&photo, tag, 1.0).unwrap().image;
    let resized = tagged.resize_exact(384, 384, FilterType::Triangle);
    assert_eq!(tagger.decode(&resized).unwrap().tag, Some(tag));
}

#[test]
fn strength_trades_psnr_and_is_validated() {
    let tagger = Tagger::classic();
    let photo = DynamicImage::ImageRgb8(synthetic_photo(256, 256, 8));
    let tag = Tag::new(7);
    let weak = tagger.embed(&photo, tag, 0.5).unwrap().psnr;
    let strong = tagger.embed(&photo, tag, 2.0).unwrap().psnr;
    assert!(weak > strong + 3.0, "{weak} vs {strong}");
    for bad in [0.0, -1.0, 100.0, f32::NAN, f32::INFINITY] {
        assert!(
            matches!(
                tagger.embed(&photo, tag, bad),
                Err(Error::OutOfRange {
                    what: "strength",
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert!(psnr(&photo, &photo).is_infinite());
}

#[test]
fn atomic_writes_refuse_existing_files_and_leave_no_temporaries() {
    let dir = tempdir().unwrap();
    let target = dir.path().join("x.bin");
    write_atomic(&target, b"one", Overwrite::Refuse, &[]).unwrap();
    assert!(matches!(
        write_atomic(&target, b"two", Overwrite::Refuse, &[]),
        Err(Error::OutputExists { .. })
    ));
    assert_eq!(std::fs::read(&target).unwrap(), b"one");
    write_atomic(&target, b"three", Overwrite::Replace, &[]).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"three");
    let input = vec![target.clone()];
    assert!(matches!(
        write_atomic(&target, b"four", Overwrite::Replace, &input),
        Err(Error::OutputIsInput { .. })
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn batch_decoding_keeps_input_order_across_threads() {
    let dir = tempdir().unwrap();
    let tagger = Tagger::classic();
    let mut paths = Vec::new();
    for i in 0..6u64 {
        let photo = DynamicImage::ImageRgb8(synthetic_photo(200, 200, 200 + i));
        let image = if i % 2 == 0 {
            tagger.embed(&photo, Tag::new(i), 1.0).unwrap().image
        } else {
            photo
        };
        let path = dir.path().join(format!("{i}.png"));
        image.save(&path).unwrap();
        paths.push(path);
    }
    paths.push(dir.path().join("missing.png"));
    for threads in [1, 3, 16] {
        let results = tagger.decode_files(&paths, threads);
        assert_eq!(results.len(), 7);
        for (i, r) in results.iter().take(6).enumerate() {
            let expected = (i % 2 == 0).then(|| Tag::new(i as u64));
            assert_eq!(
                r.as_ref().unwrap().tag,
                expected,
                "{threads} threads, file {i}"
            );
        }
        assert!(matches!(results[6], Err(Error::Io { .. })));
    }
}
