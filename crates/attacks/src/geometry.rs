//! Geometric attacks: rotation (with black corners, or straightened and cropped as photo editors
//! do), shifts, borders and canvases, letterboxing and screenshots.

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, Rgba, Rgba32FImage};

use crate::{Fill, same_layout};

/// Grey of a screenshot's window frame (a light UI theme).
const SCREENSHOT_FRAME: [u8; 3] = [236, 236, 236];
/// A screenshot's frame around the photo, as fractions of the scaled photo's height (top,
/// bottom: title/tool bar and status bar) and width (left, right: window edges and scroll bar).
const SCREENSHOT_SIDES: Sides = Sides {
    top: 0.12,
    right: 0.035,
    bottom: 0.05,
    left: 0.015,
};

/// The `image` crate's u8 → f32 (`to_rgb32f`, `to_rgba32f`): the sample over 255. Plain
/// arithmetic, which loops vectorize; scattered reads take [`UNIT_OF_BYTE`].
#[inline]
pub const fn unit(v: u8) -> f32 {
    v as f32 / u8::MAX as f32
}

/// [`unit`] of every byte, for reads the compiler cannot vectorize (a division costs more than
/// the look-up there).
pub const UNIT_OF_BYTE: [f32; 256] = {
    let mut table = [0.0; 256];
    let mut v = 0;
    while v < 256 {
        table[v] = unit(v as u8);
        v += 1;
    }
    table
};

/// `x.round() as u8` for `x` in 0..=255 (the `image` crate's f32 → u8 after its clamp), in
/// float and bit operations the compiler vectorizes (no `roundf` call, no saturating cast):
/// adding 2²³ rounds `x` to the nearest integer, ties to even, and leaves it in the low bits;
/// a tie rounded down (`x - n` = 0.5, exact) is then taken up, half away from zero as `round`.
/// Checked against `round` for every f32 in 0..=255 when written (the test takes a grid and
/// the floats about each half).
pub fn round_to_u8(x: f32) -> u8 {
    const TWO_23: f32 = 8_388_608.0;
    let shifted = x + TWO_23;
    let nearest = shifted - TWO_23;
    let tie_down = u32::from(x - nearest >= 0.5);
    (shifted.to_bits().wrapping_sub(TWO_23.to_bits()) + tie_down) as u8
}

/// Fractions of the photo's height (top, bottom) and width (left, right) added around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sides {
    /// Above, as a fraction of the height.
    pub top: f32,
    /// Right, as a fraction of the width.
    pub right: f32,
    /// Below, as a fraction of the height.
    pub bottom: f32,
    /// Left, as a fraction of the width.
    pub left: f32,
}

impl Sides {
    /// The same fraction on every side.
    pub fn even(f: f32) -> Self {
        Self {
            top: f,
            right: f,
            bottom: f,
            left: f,
        }
    }

    /// Pixels on each side (top, right, bottom, left) of a `w`×`h` photo.
    pub(crate) fn pixels(&self, w: u32, h: u32) -> [u32; 4] {
        let px = |f: f32, side: u32| (f * side as f32).round() as u32;
        [
            px(self.top, h),
            px(self.right, w),
            px(self.bottom, h),
            px(self.left, w),
        ]
    }
}

/// The photo on a larger canvas: `pad` = pixels (top, right, bottom, left), the canvas filled
/// with `fill` (a colour, or `backdrop` scaled to cover it).
pub(crate) fn canvas(
    image: &DynamicImage,
    pad: [u32; 4],
    fill: Fill,
    backdrop: Option<&DynamicImage>,
) -> DynamicImage {
    let (w, h) = image.dimensions();
    let [top, right, bottom, left] = pad;
    let (cw, ch) = (w + left + right, h + top + bottom);
    let mut out = match (fill, backdrop) {
        (Fill::Photo, Some(b)) => b.resize_to_fill(cw, ch, FilterType::Triangle).to_rgba32f(),
        (Fill::Colour([r, g, b]), _) => {
            Rgba32FImage::from_pixel(cw, ch, Rgba([unit(r), unit(g), unit(b), 1.0]))
        }
        // callers check for a backdrop first; black is the honest fallback
        (Fill::Photo, None) => Rgba32FImage::from_pixel(cw, ch, Rgba([0.0, 0.0, 0.0, 1.0])),
    };
    image::imageops::replace(&mut out, &image.to_rgba32f(), left.into(), top.into());
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

/// Padding that brings a `w`×`h` photo to `aspect` (width / height), centred.
pub(crate) fn letterbox_pad(w: u32, h: u32, aspect: f32) -> [u32; 4] {
    let current = w as f32 / h as f32;
    if current < aspect {
        let extra = ((h as f32 * aspect).round() as u32).saturating_sub(w);
        [0, extra - extra / 2, 0, extra / 2]
    } else {
        let extra = ((w as f32 / aspect).round() as u32).saturating_sub(h);
        [extra / 2, 0, extra - extra / 2, 0]
    }
}

/// A screenshot of the photo shown at `scale` in a window: non-integer rescale, the window's
/// frame around it. (The caller saves it as PNG.)
pub(crate) fn screenshot(image: &DynamicImage, scale: f32) -> DynamicImage {
    let (w, h) = image.dimensions();
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let shown = image.resize_exact(sw, sh, FilterType::Triangle);
    canvas(
        &shown,
        SCREENSHOT_SIDES.pixels(sw, sh),
        Fill::Colour(SCREENSHOT_FRAME),
        None,
    )
}

/// Bilinear sample of `src` at (x, y); outside the image: `None`.
pub(crate) fn bilinear(src: &Rgba32FImage, x: f32, y: f32) -> Option<[f32; 4]> {
    let (w, h) = src.dimensions();
    if x < 0.0 || y < 0.0 || x > (w - 1) as f32 || y > (h - 1) as f32 {
        return None;
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| src.get_pixel(x, y).0;
    Some(std::array::from_fn(|c| {
        let top = p(x0, y0)[c] * (1.0 - fx) + p(x1, y0)[c] * fx;
        let bottom = p(x0, y1)[c] * (1.0 - fx) + p(x1, y1)[c] * fx;
        top * (1.0 - fy) + bottom * fy
    }))
}

const OPAQUE_BLACK: [f32; 4] = [0.0, 0.0, 0.0, 1.0];

/// Bilinear rotation about the centre, same canvas; samples outside the source are black and
/// keep the source's alpha model (opaque black).
pub(crate) fn rotate(image: &DynamicImage, degrees: f32) -> DynamicImage {
    let src = image.to_rgba32f();
    let (w, h) = src.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let out = Rgba32FImage::from_fn(w, h, |x, y| {
        // inverse mapping: where in the source does this output pixel come from
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        Rgba(
            bilinear(&src, cx + cos * dx + sin * dy, cy - sin * dx + cos * dy)
                .unwrap_or(OPAQUE_BLACK),
        )
    });
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

/// What a photo editor's "straighten" does: rotate, then crop the largest centred rectangle of
/// the photo's aspect ratio that holds no corner, at its own resolution.
pub(crate) fn straighten(image: &DynamicImage, degrees: f32) -> DynamicImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = degrees.to_radians().abs().sin_cos();
    let (wf, hf) = (w as f32, h as f32);
    // a centred s·w × s·h rectangle fits inside the rotated w × h one when both hold
    let s = (wf / (wf * cos + hf * sin)).min(hf / (wf * sin + hf * cos));
    // one pixel in from the edge, where the bilinear samples still have four neighbours
    let (cw, ch) = (
        ((s * wf).floor() as u32).saturating_sub(2).max(1),
        ((s * hf).floor() as u32).saturating_sub(2).max(1),
    );
    rotate(image, degrees).crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch)
}

/// The content moved by (`dx`, `dy`) pixels on the same canvas; what is uncovered is black.
pub(crate) fn shift(image: &DynamicImage, dx: i64, dy: i64) -> DynamicImage {
    let src = image.to_rgba32f();
    let (w, h) = src.dimensions();
    let out = Rgba32FImage::from_fn(w, h, |x, y| {
        let (sx, sy) = (i64::from(x) - dx, i64::from(y) - dy);
        if (0..i64::from(w)).contains(&sx) && (0..i64::from(h)).contains(&sy) {
            *src.get_pixel(sx as u32, sy as u32)
        } else {
            Rgba(OPAQUE_BLACK)
        }
    });
    same_layout(DynamicImage::ImageRgba32F(out), image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bytes_is_rounds() {
        // a fine grid, and the floats on both sides of every half
        let grid = (0..=255 * 4096).map(|i| i as f32 / 4096.0);
        let halves = (0..255).flat_map(|n| {
            let half = n as f32 + 0.5;
            (-3..=3).map(move |ulps: i32| f32::from_bits(half.to_bits().wrapping_add_signed(ulps)))
        });
        for x in grid.chain(halves).chain([0.0, 255.0, 254.99998]) {
            assert_eq!(round_to_u8(x), x.round() as u8, "{x}");
        }
    }

    #[test]
    fn bytes_become_the_image_crates_floats() {
        let bytes = image::RgbImage::from_fn(256, 1, |x, _| image::Rgb([x as u8; 3]));
        let floats = DynamicImage::ImageRgb8(bytes).to_rgb32f();
        for (v, pixel) in floats.pixels().enumerate() {
            assert_eq!(unit(v as u8).to_bits(), pixel.0[0].to_bits(), "{v}");
            assert_eq!(UNIT_OF_BYTE[v].to_bits(), pixel.0[0].to_bits(), "{v}");
        }
    }
}
