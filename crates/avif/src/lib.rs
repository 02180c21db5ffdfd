//! AVIF round trip through the system's libavif (0.11 or newer): what an image CDN or a browser's
//! "save as AVIF" does to a photo. The encoding and decoding happen in a small C shim compiled
//! against libavif's own header (`csrc/avif_roundtrip.c`), so no struct layout is copied here.
//! The shim opens libavif at the first round trip (dlopen), so that the programs using this crate
//! do not load it, and its AV1 codecs, at every start; where it cannot be opened, the round trip
//! says so.
//!
//! 8 bits a sample, 4:2:0 chroma (4:0:0 for grey), BT.601 full range, one thread.
#![allow(unsafe_code)] // FFI to the shim; every block below states why it is sound

use std::ffi::{CStr, c_char, c_int};

unsafe extern "C" {
    fn ft_avif_roundtrip(
        pixels: *const u8,
        width: u32,
        height: u32,
        channels: u32,
        quantizer: c_int,
        speed: c_int,
        out: *mut *mut u8,
        encoded_size: *mut usize,
    ) -> *const c_char;
    fn ft_avif_free(pixels: *mut u8);
    fn ft_avif_encoder_name() -> *const c_char;
}

/// Encoder speed (0 slowest – 10 fastest) when the caller has no reason to choose: libavif's and
/// image CDNs' usual middle setting.
pub const DEFAULT_SPEED: u8 = 6;

/// AV1 quantizer (0 best – 63 worst) of a `quality` 0–100, as libavif 1.x maps its own
/// `quality` setting (`avifQualityToQuantizer`); libavif 0.11 takes quantizers only.
pub fn quantizer(quality: u8) -> u8 {
    ((100 - u32::from(quality.min(100))) * 63 + 50).div_euclid(100) as u8
}

/// One round trip's result: the decoded samples and the size of the AVIF file in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    /// Decoded samples, row-major, the input's channel count.
    pub pixels: Vec<u8>,
    /// Bytes of the encoded AVIF file.
    pub encoded_bytes: usize,
}

/// Encodes `pixels` (row-major 8-bit grey, `channels` = 1, or RGB, `channels` = 3, no padding)
/// as AVIF at `quality` 0–100 (see [`quantizer`]) and `speed` 0–10, and decodes it again.
/// Errors carry libavif's message.
pub fn round_trip(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: u32,
    quality: u8,
    speed: u8,
) -> Result<RoundTrip, String> {
    if channels != 1 && channels != 3 {
        return Err(format!(
            "{channels} channels: AVIF round trips take 1 (grey) or 3 (RGB)"
        ));
    }
    let len = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(channels as usize))
        .ok_or_else(|| format!("{width}×{height} is too large"))?;
    if width == 0 || height == 0 || pixels.len() != len {
        return Err(format!(
            "{} bytes for a {width}×{height}×{channels} image",
            pixels.len()
        ));
    }
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut encoded_bytes = 0usize;
    // SAFETY: `pixels` holds exactly width×height×channels bytes (checked above), which is all the
    // shim reads; `out` and `encoded_bytes` are valid for writes. On success the shim sets `out`
    // to a malloc'd buffer of exactly `len` bytes.
    let failure = unsafe {
        ft_avif_roundtrip(
            pixels.as_ptr(),
            width,
            height,
            channels,
            c_int::from(quantizer(quality)),
            c_int::from(speed.min(10)),
            &mut out,
            &mut encoded_bytes,
        )
    };
    if !failure.is_null() {
        // SAFETY: the shim returns libavif's (or its own) static NUL-terminated strings.
        let reason = unsafe { CStr::from_ptr(failure) };
        return Err(format!("libavif: {}", reason.to_string_lossy()));
    }
    if out.is_null() {
        return Err("libavif: no decoded image".into());
    }
    // SAFETY: on success `out` points to `len` initialised bytes that we own until freed below.
    let decoded = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
    // SAFETY: allocated by the shim's malloc; freed exactly once, not used afterwards.
    unsafe { ft_avif_free(out) };
    Ok(RoundTrip {
        pixels: decoded,
        encoded_bytes,
    })
}

/// The AV1 encoder libavif picks (aom, rav1e or svt), for reports: results depend on it.
pub fn encoder_name() -> Option<String> {
    // SAFETY: libavif returns a static NUL-terminated string, or null when it has no encoder.
    let name = unsafe { ft_avif_encoder_name() };
    if name.is_null() {
        return None;
    }
    // SAFETY: non-null, static and NUL-terminated (above).
    Some(
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, channels: u32) -> Vec<u8> {
        (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| {
                    (0..channels)
                        .map(move |c| ((x * 2 + y + c * 40 + (x / 8 + y / 8) % 2 * 30) % 256) as u8)
                })
            })
            .collect()
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x.abs_diff(y)))
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn quality_maps_to_quantizer_like_libavif() {
        assert_eq!(quantizer(100), 0);
        assert_eq!(quantizer(0), 63);
        assert_eq!(quantizer(50), 32);
        assert_eq!(quantizer(255), 0);
    }

    #[test]
    fn round_trip_keeps_size_and_loses_more_at_lower_quality() {
        for channels in [1, 3] {
            let (w, h) = (97, 61); // odd sides: 4:2:0 rounds the chroma planes up
            let photo = gradient(w, h, channels);
            let high = round_trip(&photo, w, h, channels, 90, DEFAULT_SPEED).unwrap();
            let low = round_trip(&photo, w, h, channels, 20, DEFAULT_SPEED).unwrap();
            assert_eq!(high.pixels.len(), photo.len());
            let (dh, dl) = (
                mean_abs_diff(&photo, &high.pixels),
                mean_abs_diff(&photo, &low.pixels),
            );
            assert!(dh < dl, "{channels} channels: q90 |Δ| {dh} vs q20 {dl}");
            assert!(dl > 0.5 && dh < 8.0, "{channels} channels: |Δ| {dh} / {dl}");
            assert!(high.encoded_bytes > low.encoded_bytes);
            // deterministic: one thread, fixed settings
            assert_eq!(
                round_trip(&photo, w, h, channels, 20, DEFAULT_SPEED).unwrap(),
                low
            );
        }
        assert!(encoder_name().is_some());
    }

    #[test]
    fn bad_buffers_are_refused() {
        assert!(
            round_trip(&[0; 10], 4, 4, 3, 50, 6)
                .unwrap_err()
                .contains("bytes")
        );
        assert!(
            round_trip(&[0; 32], 4, 4, 2, 50, 6)
                .unwrap_err()
                .contains("channels")
        );
        assert!(round_trip(&[], 0, 4, 1, 50, 6).is_err());
    }
}
