//! The image reader on arbitrary bytes: every container the engine reads (JPEG, PNG, WebP,
//! TIFF, BMP, AVIF), with its truncation check, EXIF orientation and metadata. It must return an
//! image within the pixel limit or an error, never panic.

/// Small enough that a lying header cannot make one execution slow.
const MAX_PIXELS: u64 = 1 << 20;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(loaded) = faketagger::io::read_image_bytes(data, "fuzz.input", MAX_PIXELS) {
            let (w, h) = (loaded.image.width(), loaded.image.height());
            assert!(w > 0 && h > 0, "an empty image was read");
            assert!(
                u64::from(w) * u64::from(h) <= MAX_PIXELS,
                "{w}×{h} is over the limit"
            );
        }
    });
}
