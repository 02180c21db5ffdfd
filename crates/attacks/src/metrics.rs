//! How far a tagged (or attacked) image is from its original: PSNR and SSIM, as the training
//! pipeline's validation and the evaluation report them.
//!
//! SSIM follows Wang et al., "Image quality assessment: from error visibility to structural
//! similarity" (IEEE TIP 2004): an 11×11 Gaussian window with σ = 1.5, K₁ = 0.01, K₂ = 0.03,
//! computed on each RGB channel and averaged (as `skimage.metrics.structural_similarity` with
//! `channel_axis` and `gaussian_weights=True`), borders excluded where the window does not fit.

use image::RgbImage;

/// Window radius of the Gaussian SSIM window (11×11, Wang et al. 2004).
const SSIM_RADIUS: usize = 5;
/// Standard deviation of the window in pixels (Wang et al. 2004).
const SSIM_SIGMA: f64 = 1.5;
/// Stabilisers of the luminance and contrast terms (Wang et al. 2004), times the 255 range.
const SSIM_C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const SSIM_C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// PSNR in dB of `b` against `a` on the 0–255 scale (infinite when identical). `None` when the
/// sizes differ.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> Option<f64> {
    if a.dimensions() != b.dimensions() || a.is_empty() {
        return None;
    }
    // integers: exact in any order, and what a sum of the same squares in f64 gives below 2^53
    // (2^53 / 255² bytes, far past any photo), in a fifth of the time; 32-bit sums of chunks
    // (2^16 squares of at most 255² fit), which vectorize, on every core
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let sum: u64 = a
        .as_raw()
        .par_chunks(CHUNK)
        .zip(b.as_raw().par_chunks(CHUNK))
        .map(|(a, b)| {
            let squares = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| u32::from(x.abs_diff(y)).pow(2));
            u64::from(squares.sum::<u32>())
        })
        .sum();
    let mse = sum as f64 / a.as_raw().len() as f64;
    Some(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    })
}

/// Mean SSIM of `b` against `a` (1 when identical). `None` when the sizes differ or the images
/// are smaller than the 11×11 window.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> Option<f64> {
    let (w, h) = a.dimensions();
    let (w, h) = (w as usize, h as usize);
    let side = 2 * SSIM_RADIUS + 1;
    if a.dimensions() != b.dimensions() || w < side || h < side {
        return None;
    }
    let kernel: Vec<f64> = {
        let k: Vec<f64> = (0..side)
            .map(|i| {
                let d = i as f64 - SSIM_RADIUS as f64;
                (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp()
            })
            .collect();
        let total: f64 = k.iter().sum();
        k.into_iter().map(|v| v / total).collect()
    };
    let mut total = 0.0;
    for c in 0..3 {
        let channel = |img: &RgbImage| -> Vec<f64> {
            img.as_raw()
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect()
        };
        let (x, y) = (channel(a), channel(b));
        let product =
            |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
        let [mx, my, xx, yy, xy] = [
            filter(&x, w, h, &kernel),
            filter(&y, w, h, &kernel),
            filter(&product(&x, &x), w, h, &kernel),
            filter(&product(&y, &y), w, h, &kernel),
            filter(&product(&x, &y), w, h, &kernel),
        ];
        let n = mx.len();
        let sum: f64 = (0..n)
            .map(|i| {
                let (vx, vy) = (xx[i] - mx[i] * mx[i], yy[i] - my[i] * my[i]);
                let cov = xy[i] - mx[i] * my[i];
                ((2.0 * mx[i] * my[i] + SSIM_C1) * (2.0 * cov + SSIM_C2))
                    / ((mx[i] * mx[i] + my[i] * my[i] + SSIM_C1) * (vx + vy + SSIM_C2))
            })
            .sum();
        total += sum / n as f64;
    }
    Some(total / 3.0)
}

/// Separable filtering with `kernel`, keeping only positions where the window fits ("valid").
fn filter(values: &[f64], w: usize, h: usize, kernel: &[f64]) -> Vec<f64> {
    let k = kernel.len();
    let (ow, oh) = (w + 1 - k, h + 1 - k);
    let mut rows = vec![0.0; ow * h];
    for y in 0..h {
        for x in 0..ow {
            rows[y * ow + x] = (0..k).map(|i| kernel[i] * values[y * w + x + i]).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = (0..k).map(|i| kernel[i] * rows[(y + i) * ow + x]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_image(seed: u64) -> RgbImage {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        RgbImage::from_fn(48, 40, |x, y| {
            let base = ((x * 5 + y * 3) % 200) as u8;
            image::Rgb([
                base.saturating_add(rng.random_range(0..40)),
                base,
                255 - base,
            ])
        })
    }

    #[test]
    fn identical_images_score_one_and_infinity() {
        let a = random_image(1);
        assert_eq!(ssim(&a, &a), Some(1.0));
        assert_eq!(psnr(&a, &a), Some(f64::INFINITY));
    }

    #[test]
    fn psnr_of_a_known_error() {
        let a = RgbImage::from_pixel(16, 16, image::Rgb([100, 100, 100]));
        let b = RgbImage::from_pixel(16, 16, image::Rgb([110, 100, 90]));
        // MSE = (100 + 0 + 100) / 3
        let want = 10.0 * (255.0f64 * 255.0 / (200.0 / 3.0)).log10();
        assert!((psnr(&a, &b).unwrap_or_default() - want).abs() < 1e-9);
        // the largest error over several chunks' worth of samples: 0 dB, no sum overflows
        let (black, white) = (
            RgbImage::from_pixel(300, 300, image::Rgb([0; 3])),
            RgbImage::from_pixel(300, 300, image::Rgb([255; 3])),
        );
        assert_eq!(psnr(&black, &white), Some(0.0));
        // a ragged last chunk: the squares summed in f64 one by one
        let (a, b) = (random_image(4), random_image(5));
        let a = image::imageops::resize(&a, 301, 223, image::imageops::FilterType::Nearest);
        let b = image::imageops::resize(&b, 301, 223, image::imageops::FilterType::Nearest);
        let squares: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        let want = 10.0 * (255.0f64 * 255.0 / (squares / a.as_raw().len() as f64)).log10();
        assert_eq!(psnr(&a, &b), Some(want));
    }

    #[test]
    fn ssim_falls_with_distortion_and_is_symmetric() {
        let a = random_image(2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let noisy = |amount: i16, rng: &mut rand::rngs::StdRng| {
            let mut b = a.clone();
            for p in b.iter_mut() {
                *p = (i16::from(*p) + rng.random_range(-amount..=amount)).clamp(0, 255) as u8;
            }
            b
        };
        let (mild, harsh) = (noisy(4, &mut rng), noisy(40, &mut rng));
        let (s_mild, s_harsh) = (
            ssim(&a, &mild).unwrap_or_default(),
            ssim(&a, &harsh).unwrap_or_default(),
        );
        assert!(
            1.0 > s_mild && s_mild > s_harsh && s_harsh > 0.0,
            "{s_mild} {s_harsh}"
        );
        let back = ssim(&mild, &a).unwrap_or_default();
        assert!((back - s_mild).abs() < 1e-12);
    }

    #[test]
    fn mismatched_or_tiny_images_have_no_score() {
        let a = random_image(4);
        let small = RgbImage::new(8, 8);
        assert_eq!(ssim(&a, &small), None);
        assert_eq!(psnr(&a, &small), None);
        assert_eq!(ssim(&small, &small), None);
    }
}
