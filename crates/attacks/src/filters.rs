//! Pixel and neighbourhood filters: colour maps, grey copies, sharpening, median filtering and
//! palette quantisation (a GIF's 256 colours).

use image::{DynamicImage, Luma};

use crate::same_layout;

/// Rec. 601 luma weights: what JPEG, Pillow's `convert("L")` and OpenCV's `COLOR_RGB2GRAY` use.
pub const LUMA_601: [f32; 3] = [0.299, 0.587, 0.114];

/// Blur σ (pixels) of the unsharp mask behind `sharpen` (Pillow's and GIMP's usual radius).
const UNSHARP_SIGMA: f32 = 1.0;

/// NeuQuant's sampling factor (1 = every pixel, 30 = fastest): 10 is what GIF encoders use.
const NEUQUANT_SAMPLE: i32 = 10;

/// Applies `f` to every colour sample on the [0, 1] scale (alpha kept), clamping the result,
/// and returns the image in its original layout.
pub(crate) fn map_colour(image: &DynamicImage, mut f: impl FnMut(f32) -> f32) -> DynamicImage {
    let mut rgba = image.to_rgba32f();
    for p in rgba.pixels_mut() {
        for c in &mut p.0[..3] {
            *c = f(*c).clamp(0.0, 1.0);
        }
    }
    same_layout(DynamicImage::ImageRgba32F(rgba), image)
}

/// Each pixel's distance from its grey (Rec. 601 luma) scaled by `f`; 0 turns the photo grey.
pub(crate) fn saturation(image: &DynamicImage, f: f32) -> DynamicImage {
    let mut rgba = image.to_rgba32f();
    for p in rgba.pixels_mut() {
        let grey = luma(&p.0);
        for c in &mut p.0[..3] {
            *c = (grey + (*c - grey) * f).clamp(0.0, 1.0);
        }
    }
    same_layout(DynamicImage::ImageRgba32F(rgba), image)
}

fn luma(p: &[f32; 4]) -> f32 {
    LUMA_601[0] * p[0] + LUMA_601[1] * p[1] + LUMA_601[2] * p[2]
}

/// A grey copy (luma only, one channel), as a grey JPEG or Pillow's `convert("L")` stores it:
/// 8-bit for 8-bit photos, 16-bit otherwise.
pub(crate) fn grey(image: &DynamicImage) -> DynamicImage {
    let rgba = image.to_rgba32f();
    let (w, h) = rgba.dimensions();
    let value = |x, y| luma(&rgba.get_pixel(x, y).0).clamp(0.0, 1.0);
    let eight_bit = matches!(
        image,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageRgb8(_)
            | DynamicImage::ImageRgba8(_)
    );
    if eight_bit {
        DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            Luma([(value(x, y) * 255.0).round() as u8])
        }))
    } else {
        DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(w, h, |x, y| {
            Luma([(value(x, y) * 65535.0).round() as u16])
        }))
    }
}

/// Unsharp mask: `x + amount·(x − blur(x))`.
pub(crate) fn sharpen(image: &DynamicImage, amount: f32) -> DynamicImage {
    let src = image.to_rgba32f();
    let blurred = image::imageops::blur(&src, UNSHARP_SIGMA);
    let mut out = src.clone();
    for (o, b) in out.pixels_mut().zip(blurred.pixels()) {
        for c in 0..3 {
            o.0[c] = (o.0[c] + amount * (o.0[c] - b.0[c])).clamp(0.0, 1.0);
        }
    }
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

/// Median of each colour channel over the (2r+1)² window, edges replicated.
pub(crate) fn median(image: &DynamicImage, radius: u32) -> DynamicImage {
    let src = image.to_rgba32f();
    let (w, h) = src.dimensions();
    let r = i64::from(radius);
    let mut window = Vec::with_capacity(((2 * r + 1) * (2 * r + 1)) as usize);
    let mut out = src.clone();
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                window.clear();
                for dy in -r..=r {
                    for dx in -r..=r {
                        let sx = (i64::from(x) + dx).clamp(0, i64::from(w) - 1) as u32;
                        let sy = (i64::from(y) + dy).clamp(0, i64::from(h) - 1) as u32;
                        window.push(src.get_pixel(sx, sy).0[c]);
                    }
                }
                let mid = window.len() / 2;
                let (_, m, _) = window.select_nth_unstable_by(mid, f32::total_cmp);
                out.get_pixel_mut(x, y).0[c] = *m;
            }
        }
    }
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

/// The photo in `colours` colours chosen by NeuQuant, each pixel mapped to its nearest, no
/// dithering: what saving as GIF does.
pub(crate) fn palette(image: &DynamicImage, colours: u16) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let quant = color_quant::NeuQuant::new(NEUQUANT_SAMPLE, usize::from(colours), rgba.as_raw());
    let map = quant.color_map_rgba();
    for p in rgba.pixels_mut() {
        let i = quant.index_of(&p.0);
        p.0.copy_from_slice(&map[4 * i..4 * i + 4]);
    }
    same_layout(DynamicImage::ImageRgba8(rgba), image)
}
