//! A corpus of bad and unusual inputs, made here: clear errors naming the file, never a panic;
//! grayscale, 16-bit and alpha images keep their layout.

use std::path::Path;

use image::{DynamicImage, GenericImageView, ImageBuffer, Luma, LumaA, Rgb, Rgba};
use tempfile::tempdir;

use crate::util::*;

/// A PNG that claims `width`×`height` (valid signature and IHDR CRC, no pixel data).
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // a tiny IDAT (an empty zlib stream) and IEND, so that only the size is wrong
    for (kind, data) in [
        (&b"IDAT"[..], &b"\x78\x9c\x03\x00\x00\x00\x00\x01"[..]),
        (&b"IEND"[..], &b""[..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

fn assert_refused(input: &Path, needle: &str) {
    let out = input.with_file_name("never-written.png");
    for args in [
        vec!["embed", s(input), "-o", s(&out), "--tag", TAG],
        vec!["decode", s(input)],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(
            r.stderr.contains(name),
            "{args:?}: error does not name the file: {}",
            r.stderr
        );
        assert!(
            r.stderr.to_lowercase().contains(needle),
            "{args:?}: stderr lacks {needle:?}: {}",
            r.stderr
        );
    }
    assert!(!out.exists());
    assert!(leftover_temporaries(input.parent().unwrap()).is_empty());
}

#[test]
fn corrupt_truncated_and_foreign_files_are_refused() {
    let dir = tempdir().unwrap();
    let photo = DynamicImage::ImageRgb8(synthetic_photo(200, 160, 9));
    let png = encoded(&photo, image::ImageFormat::Png);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.png", Vec::new(), "empty"),
        ("truncated.png", png[..png.len() / 2].to_vec(), "truncated"),
        ("header-only.png", png[..40].to_vec(), "decode"),
        ("text.jpg", b"hello, I am not a photo\n".to_vec(), "format"),
        (
            "garbage.png",
            (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "format",
        ),
        ("bomb.png", png_header_only(100_000, 100_000), "limit"),
        (
            "bomb-pixels.png",
            png_header_only(16_000, 16_000),
            "megapixels",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        assert_refused(&path, needle);
    }
}

/// `main` with `thumbnail` (a whole JPEG, as cameras store one) inside an EXIF segment.
fn with_exif_thumbnail(main: &[u8], thumbnail: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(thumbnail);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&main[2..]);
    out
}

#[test]
fn truncated_jpegs_are_refused_unless_allowed_and_whole_ones_are_read() {
    // JPEG decoders fill a truncated scan with grey instead of failing: the reader walks the
    // markers to the end-of-image marker and refuses a file that ends first.
    let dir = tempdir().unwrap();
    let main = encoded(
        &DynamicImage::ImageRgb8(synthetic_photo(200, 160, 10)),
        image::ImageFormat::Jpeg,
    );
    let thumbnail = encoded(
        &DynamicImage::ImageRgb8(synthetic_photo(40, 32, 3)),
        image::ImageFormat::Jpeg,
    );
    let camera = with_exif_thumbnail(&main, &thumbnail);
    for (label, jpeg) in [("plain", &main), ("thumb", &camera)] {
        for tenth in 1..10 {
            let cut = jpeg.len() * tenth / 10;
            let path = dir.path().join(format!("{label}-cut{tenth}.jpg"));
            std::fs::write(&path, &jpeg[..cut]).unwrap();
            assert_refused(&path, "truncated");
        }
        // only the last two bytes (the end marker) missing
        let path = dir.path().join(format!("{label}-no-eoi.jpg"));
        std::fs::write(&path, &jpeg[..jpeg.len() - 2]).unwrap();
        assert_refused(&path, "truncated");
    }
    // the flag reads what is there: tagged and written, as asked
    let path = dir.path().join("half.jpg");
    std::fs::write(&path, &main[..main.len() / 2]).unwrap();
    let out = dir.path().join("half-tagged.png");
    let r = run(&[
        "embed",
        s(&path),
        "-o",
        s(&out),
        "--tag",
        TAG,
        "--allow-truncated",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.is_file());
    // whole files are read: with a thumbnail, and with bytes after the end marker (camera
    // trailers)
    let mut trailer = camera.clone();
    trailer.extend_from_slice(b"\x00\x01trailing maker data");
    for (name, bytes) in [("thumb.jpg", &camera), ("trailer.jpg", &trailer)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let r = run(&["decode", s(&path)]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
    }
}

#[test]
fn tiny_missing_and_directory_inputs_are_refused() {
    let dir = tempdir().unwrap();
    let tiny = dir.path().join("tiny.png");
    DynamicImage::ImageRgb8(synthetic_photo(40, 300, 11))
        .save(&tiny)
        .unwrap();
    assert_refused(&tiny, "minimum");
    assert_refused(&dir.path().join("missing.png"), "no such file");
    let sub = dir.path().join("folder.png");
    std::fs::create_dir(&sub).unwrap();
    let r = run(&["decode", s(&sub)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("folder.png"), "{}", r.stderr);
}

fn round_trip(name: &str, image: DynamicImage) -> DynamicImage {
    let dir = tempdir().unwrap();
    let input = dir.path().join(name);
    image.save(&input).unwrap();
    let output = dir.path().join(format!("tagged-{name}"));
    let r = run(&["embed", s(&input), "-o", s(&output), "--tag", TAG]);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    let r = run(&["decode", s(&output)]);
    assert_eq!(r.code, 0, "{name}: {}", r.stdout);
    assert!(r.stdout.contains(TAG));
    let tagged = image::open(&output).unwrap();
    assert_eq!(tagged.dimensions(), image.dimensions(), "{name}");
    assert_eq!(
        tagged.color(),
        image.color(),
        "{name}: colour type and depth are kept"
    );
    tagged
}

#[test]
fn grayscale_sixteen_bit_and_alpha_images_keep_their_layout() {
    let rgb = synthetic_photo(240, 180, 12);
    let gray = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
    round_trip("gray.png", DynamicImage::ImageLuma8(gray.clone()));

    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(240, 180, |x, y| {
        Rgb(rgb.get_pixel(x, y).0.map(|v| u16::from(v) * 257))
    });
    round_trip("deep.png", DynamicImage::ImageRgb16(rgb16));

    let alpha = |x: u32, y: u32| ((x * 3 + y) % 256) as u8;
    let rgba = ImageBuffer::from_fn(240, 180, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, alpha(x, y)])
    });
    let tagged = round_trip("alpha.png", DynamicImage::ImageRgba8(rgba));
    let kept = tagged
        .to_rgba8()
        .enumerate_pixels()
        .all(|(x, y, p)| p.0[3] == alpha(x, y));
    assert!(kept, "alpha must be kept exactly");

    let la: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_fn(240, 180, |x, y| {
        LumaA([gray.get_pixel(x, y).0[0], 255 - alpha(x, y)])
    });
    round_trip("gray-alpha.png", DynamicImage::ImageLumaA8(la));
    let l16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(240, 180, |x, y| {
        Luma([u16::from(gray.get_pixel(x, y).0[0]) * 257])
    });
    round_trip("gray16.png", DynamicImage::ImageLuma16(l16));
}

#[test]
fn alpha_input_to_jpeg_output_is_flattened_not_refused() {
    let dir = tempdir().unwrap();
    let input = dir.path().join("a.png");
    DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(synthetic_photo(200, 200, 13)).to_rgba8())
        .save(&input)
        .unwrap();
    let output = dir.path().join("a.jpg");
    assert_eq!(
        run(&["embed", s(&input), "-o", s(&output), "--tag", TAG]).code,
        0
    );
    assert_eq!(run(&["decode", s(&output)]).code, 0);
}

#[test]
fn cmyk_jpegs_are_read_tagged_and_written_as_rgb() {
    let dir = tempdir().unwrap();
    let photo = synthetic_photo(160, 120, 40);
    // RGB → CMYK the naive way (K = 1 − max, as print drivers start from)
    let cmyk: Vec<u8> = photo
        .pixels()
        .flat_map(|p| {
            let [r, g, b] = p.0.map(|v| f32::from(v) / 255.0);
            let k = 1.0 - r.max(g).max(b);
            let d = (1.0 - k).max(1e-6);
            [(1.0 - r - k) / d, (1.0 - g - k) / d, (1.0 - b - k) / d, k]
                .map(|v| (v * 255.0).round() as u8)
        })
        .collect();
    let input = dir.path().join("cmyk.jpg");
    jpeg_encoder::Encoder::new_file(&input, 95)
        .unwrap()
        .encode(&cmyk, 160, 120, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let loaded = faketagger::io::read_image(&input).unwrap();
    assert!(loaded.image.color().has_color());
    // the colours come back close to the RGB they were made from
    let back = loaded.image.to_rgb8();
    let mean_diff = back
        .as_raw()
        .iter()
        .zip(photo.as_raw())
        .map(|(a, b)| (f32::from(*a) - f32::from(*b)).abs())
        .sum::<f32>()
        / back.as_raw().len() as f32;
    assert!(
        mean_diff < 8.0,
        "CMYK decoded {mean_diff} levels off on average"
    );
    let output = dir.path().join("tagged.jpg");
    let r = run(&["embed", s(&input), "-o", s(&output), "--tag", TAG]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["decode", s(&output)]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains(TAG));
    assert_eq!(
        image::open(&output).unwrap().color(),
        image::ColorType::Rgb8
    );
}

/// Issue 19: the committed corpus of malformed files (`tests/corpus/make.py`: JPEG, PNG, WebP and
/// TIFF cut at every 10%, with bit flips, with headers that lie about the size) and the fuzzer's
/// findings (`fuzz/README.md`: rebuilt by make.py, or kept as found in `tests/corpus/found`).
/// Nothing panics, every refusal names its file, no cut file is decoded as if whole, and each
/// finding is refused.
#[test]
fn the_malformed_corpus_is_refused_or_read_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "py"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 57, "run tests/corpus/make.py");
    let found: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("found"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!found.is_empty());
    for path in &found {
        let e = faketagger::io::read_image(path)
            .err()
            .unwrap_or_else(|| panic!("{} was read", s(path)));
        assert!(e.to_string().contains(s(path)), "{e}");
    }
    files.extend(found);
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let read = faketagger::io::read_image(path);
        if name.contains("-whole.") {
            assert!(read.is_ok(), "{name}: {:?}", read.err());
        }
        // a cut file is never read as if whole; a lying JPEG is (see io::jpeg_end's note); a
        // PNG palette that is not whole entries made png 0.18.1 panic (io::png_bad_palette)
        if name.contains("-cut")
            || (name.contains("-lying.") && !name.starts_with("jpeg"))
            || name == "png-palette-short.png"
        {
            let e = read.err().unwrap_or_else(|| panic!("{name} was read"));
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }
    // the whole decode path, all files in one process: exit 2 (some errors), no panic, and every
    // error line names a file of the corpus
    let mut args = vec!["decode", "-j", "2"];
    args.extend(files.iter().map(|p| s(p)));
    let r = run(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for line in r.stderr.lines().filter(|l| l.starts_with("error:")) {
        assert!(
            files.iter().any(|p| line.contains(s(p))),
            "an error without its file: {line}"
        );
    }
    assert_eq!(
        r.stdout.lines().count() + r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        files.len()
    );
}
