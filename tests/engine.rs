//! The library front door: Tagger, I/O helpers and the baseline's robustness.

use faketagger::io::{Overwrite, write_atomic};
use faketagger::{Error, Tag, Tagger, psnr};
use image::DynamicImage;
use image::imageops::FilterType;
use tempfile::tempdir;

use crate::util::{jpeg, synthetic_photo};

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

#[cfg(unix)]
#[test]
fn outputs_are_ordinary_readable_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir().unwrap();
    let fresh = dir.path().join("fresh.bin");
    write_atomic(&fresh, b"x", Overwrite::Refuse, &[]).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o644, "not the temporary file's private 0600");
    let shared = dir.path().join("shared.bin");
    std::fs::write(&shared, b"old").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o664)).unwrap();
    write_atomic(&shared, b"new", Overwrite::Replace, &[]).unwrap();
    assert_eq!(mode(&shared), 0o664, "a replaced file keeps its mode");
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
        let results = tagger.decode_files(&paths, threads, Default::default());
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

/// A JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6).
fn jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    let photo = DynamicImage::ImageRgb8(synthetic_photo(width, height, 30));
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&photo)
        .unwrap();
    // TIFF header (little endian) + one IFD entry: 0x0112 Orientation, SHORT, count 1
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding + next IFD offset 0
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_on_read() {
    let dir = tempdir().unwrap();
    let path = dir.path().join("rotated.jpg");
    std::fs::write(&path, jpeg_with_orientation(200, 120, 6)).unwrap();
    let loaded = faketagger::io::read_image(&path).unwrap();
    assert_eq!(
        (loaded.image.width(), loaded.image.height()),
        (120, 200),
        "displayed upright"
    );
    // the EXIF travels to outputs, turned upright like the pixels
    let exif = loaded.metadata.exif.clone().expect("EXIF read");
    assert_eq!(
        image::metadata::Orientation::from_exif_chunk(&exif),
        Some(image::metadata::Orientation::NoTransforms)
    );
    for format in [image::ImageFormat::Jpeg, image::ImageFormat::Png] {
        let out = dir.path().join("out");
        let bytes = faketagger::io::encode_image(&loaded.image, format, 90, &loaded.metadata, &out)
            .unwrap();
        std::fs::write(&out, bytes).unwrap();
        let again = faketagger::io::read_image(&out).unwrap();
        assert_eq!(
            (again.image.width(), again.image.height()),
            (120, 200),
            "{format:?}"
        );
        assert_eq!(
            again.metadata.exif.as_deref(),
            Some(&exif[..]),
            "{format:?}"
        );
    }
    let plain = dir.path().join("plain.jpg");
    std::fs::write(&plain, jpeg_with_orientation(200, 120, 1)).unwrap();
    let loaded = faketagger::io::read_image(&plain).unwrap();
    assert_eq!((loaded.image.width(), loaded.image.height()), (200, 120));
}

#[test]
fn icc_profiles_are_kept_in_png_and_jpeg_outputs() {
    use image::{ImageDecoder, ImageEncoder};
    let dir = tempdir().unwrap();
    let photo = DynamicImage::ImageRgb8(synthetic_photo(160, 160, 31));
    // any byte string stands in for a profile: the codecs carry it without interpreting it
    let profile: Vec<u8> = (0..600u32).map(|i| (i * 31 % 256) as u8).collect();
    let mut png = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
    encoder.set_icc_profile(profile.clone()).unwrap();
    encoder
        .write_image(photo.as_bytes(), 160, 160, photo.color().into())
        .unwrap();
    let input = dir.path().join("icc.png");
    std::fs::write(&input, &png).unwrap();

    let loaded = faketagger::io::read_image(&input).unwrap();
    assert_eq!(loaded.metadata.icc_profile.as_deref(), Some(&profile[..]));
    for (name, format) in [
        ("out.png", image::ImageFormat::Png),
        ("out.jpg", image::ImageFormat::Jpeg),
    ] {
        let out = dir.path().join(name);
        let bytes = faketagger::io::encode_image(&loaded.image, format, 90, &loaded.metadata, &out)
            .unwrap();
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        assert_eq!(
            decoder.icc_profile().unwrap().as_deref(),
            Some(&profile[..]),
            "{name}"
        );
    }
}

#[test]
fn issue4_the_crop_search_keeps_a_clean_photo_false_positive_bound_under_one_in_a_million() {
    let codec = faketagger::Codec::v1();
    let hypotheses = faketagger::crop_placements();
    assert_eq!(hypotheses.len(), 52);
    // every hypothesis undoes a crop (the photo keeps at most its whole width and height), a
    // turn, or both (a straighten)
    assert!(hypotheses.iter().all(|p| {
        (0.5..=1.0).contains(&p.width)
            && (0.5..=1.0).contains(&p.height)
            && (p.width * p.height < 1.0 || p.turn != 0.0)
    }));
    assert_eq!(hypotheses.iter().filter(|p| p.turn != 0.0).count(), 4);
    // and the photo inside its flat border, when it has one: one more read
    let reads = hypotheses.len() + 1;
    let search = reads as f64 * codec.false_positive_bound_at(faketagger::SEARCH_RADIUS);
    let total = codec.false_positive_bound() + search;
    assert!(search < 1e-8, "search adds {search:e}");
    assert!(total < 1e-6, "{total:e}");
    assert!(faketagger::SEARCH_RADIUS < codec.acceptance_radius());
    // issues 17 and 18: then each face found, aligned, and its inner crop at every shift and
    // scale tried, then turned and moved about the nearest (a face moved into another photo),
    // each within the same radius
    let face_reads = faketagger::faces::MAX_FACES
        * (1 + faketagger::faces::INNER_READS + faketagger::faces::INNER_FINE_READS);
    assert_eq!(face_reads, 16 * 102);
    let faces = face_reads as f64 * codec.false_positive_bound_at(faketagger::SEARCH_RADIUS);
    assert!(faces < 1e-7, "faces add {faces:e}");
    assert!(total + faces < 1e-6, "{:e}", total + faces);
}
