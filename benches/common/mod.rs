//! What the benches share: a synthetic photo at any size.

use image::{DynamicImage, Rgb, RgbImage};

/// Smooth gradients plus texture, like a photo at every scale.
pub fn photo(side: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
        let (fx, fy) = (x as f32 / side as f32, y as f32 / side as f32);
        let texture = ((x * 7 + y * 13) % 17) as f32;
        Rgb([
            (60.0 + 120.0 * fx + texture) as u8,
            (80.0 + 100.0 * (6.0 * fy).sin().abs() + texture) as u8,
            (150.0 - 90.0 * fx * fy + texture) as u8,
        ])
    }))
}
