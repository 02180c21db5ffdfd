//! The classical baseline scheme: DCT-domain spread spectrum on luminance.
//!
//! Not the product (the learned encoder/decoder is): a transparent, training-free scheme of the
//! family invisible-watermark's `dwtDct` belongs to, used until trained weights ship and kept
//! afterwards as a comparison point. The residual is computed on a canonical
//! [`GRID`]×[`GRID`] grid and scaled to the photo (as TrustMark does with its network's
//! residual), so any size and aspect ratio works, and decoding resizes the photo to the grid.
//!
//! Each of the grid's 8×8 DCT blocks carries [`BAND`]'s mid-frequency coefficients; a fixed
//! seeded shuffle deals those coefficient slots out to the channel bits, each with a pseudo-random
//! sign, so every bit is spread across the whole picture. Embedding adds ±amplitude to a bit's
//! slots; decoding correlates them and turns the sums into log-likelihood ratios for the codec.

use faketagger_attacks::same_layout;
use faketagger_codec::{ChannelBits, SplitMix64};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Luma, Rgba32FImage};

/// Sides of the canonical grids the residual lives on: a photo uses the largest that fits in it
/// (a grid larger than the photo would put the band above the photo's Nyquist limit).
pub const GRIDS: [u32; 2] = [256, 128];
/// DCT block side (that of JPEG, so the band survives JPEG's own quantisation grid).
const BLOCK: usize = 8;
/// Mid band: coefficients (u, v) with u + v in this range, 18 per block. Lower bands are more
/// visible, higher ones die under JPEG, resizing and blur.
const BAND: std::ops::RangeInclusive<usize> = 2..=5;
/// Margin per coefficient at strength 1, in 8-bit luminance units of the orthonormal DCT: every
/// bit's mean correlation is pushed to at least this (see [`ClassicScheme::embed`]).
pub const DEFAULT_AMPLITUDE: f32 = 3.0;
/// Seed of the slot shuffle and signs (SplitMix64): the ASCII bytes "FTCLASS1".
const SLOT_SEED: u64 = 0x4654_434C_4153_5331;
/// Embedding passes: the second tops up what scaling to the photo and quantising lost.
const EMBED_PASSES: usize = 2;
/// Cap on a bit's top-up, in margins: bits the host opposes harder are left to the codec's
/// error correction rather than paid for in visible distortion.
const MAX_TOP_UP: f32 = 3.0;
/// Largest residual per grid pixel, in 8-bit units (reached only at strengths far above 1).
const RESIDUAL_LIMIT: f32 = 120.0;
/// ITU-R BT.601 luma weights.
const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];
/// Smallest variance used when scaling correlations into LLRs (a flat image gives zero).
const MIN_VARIANCE: f32 = 1e-6;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Index into the grid in block-major order: block · 64 + u · 8 + v.
    index: u32,
    bit: u16,
    sign: f32,
}

/// The classical DCT spread-spectrum scheme for channel words of a fixed length.
#[derive(Debug, Clone)]
pub struct ClassicScheme {
    bits: usize,
    grid: u32,
    slots: Vec<Slot>,
    /// Orthonormal DCT-II basis: cos[u][x].
    cos: [[f32; BLOCK]; BLOCK],
}

impl ClassicScheme {
    /// A scheme for `bits` channel bits on a `grid`×`grid` canonical grid (one of [`GRIDS`]).
    pub fn new(bits: usize, grid: u32) -> Self {
        let blocks = (grid as usize / BLOCK).pow(2);
        let band: Vec<usize> = (0..BLOCK * BLOCK)
            .filter(|&c| BAND.contains(&(c / BLOCK + c % BLOCK)))
            .collect();
        let mut indices: Vec<u32> = (0..blocks)
            .flat_map(|b| band.iter().map(move |&c| (b * BLOCK * BLOCK + c) as u32))
            .collect();
        let mut rng = SplitMix64::new(SLOT_SEED);
        for i in (1..indices.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            indices.swap(i, j);
        }
        let slots = indices
            .into_iter()
            .enumerate()
            .map(|(i, index)| Slot {
                index,
                bit: (i % bits) as u16,
                sign: if rng.next_u64() & 1 == 1 { 1.0 } else { -1.0 },
            })
            .collect();
        let cos = std::array::from_fn(|u| {
            let scale = if u == 0 {
                (1.0 / BLOCK as f32).sqrt()
            } else {
                (2.0 / BLOCK as f32).sqrt()
            };
            std::array::from_fn(|x| {
                scale
                    * ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / (2 * BLOCK) as f32)
                        .cos()
            })
        });
        Self {
            bits,
            grid,
            slots,
            cos,
        }
    }

    /// The grid side.
    pub fn grid(&self) -> u32 {
        self.grid
    }

    /// The grid for a photo of this size: the largest of [`GRIDS`] not above its shorter side.
    pub fn grid_for(width: u32, height: u32) -> u32 {
        let side = width.min(height);
        GRIDS
            .into_iter()
            .find(|&g| g <= side)
            .unwrap_or(GRIDS[GRIDS.len() - 1])
    }

    /// Tags the image's luminance (all colour channels equally; alpha untouched), keeping its
    /// colour type and bit depth. Informed embedding: each bit's correlation is pushed to at
    /// least `amplitude` per slot in its sign's direction, counting what the host image already
    /// contributes, so bits the host favours cost nothing and bits it opposes are not lost. A
    /// second pass tops up what scaling the residual to the photo and back took away.
    pub fn embed(&self, image: &DynamicImage, bits: &ChannelBits, amplitude: f32) -> DynamicImage {
        debug_assert_eq!(bits.len(), self.bits);
        let mut tagged = self.top_up(image.to_rgba32f(), bits, amplitude, image);
        for _ in 1..EMBED_PASSES {
            tagged = self.top_up(tagged.to_rgba32f(), bits, amplitude, image);
        }
        tagged
    }

    /// One embedding pass over `rgba`: adds each bit's shortfall from the margin and returns the
    /// result quantised to `original`'s layout, as the output will be, so that a further pass
    /// sees what the decoder will.
    fn top_up(
        &self,
        mut rgba: Rgba32FImage,
        bits: &ChannelBits,
        amplitude: f32,
        original: &DynamicImage,
    ) -> DynamicImage {
        let sums = self.correlations(&rgba);
        let slots_per_bit = (self.slots.len() / self.bits) as f32;
        let shortfall: Vec<f32> = sums
            .iter()
            .enumerate()
            .map(|(b, &s)| {
                let sign = if bits.get(b).unwrap_or(false) {
                    1.0
                } else {
                    -1.0
                };
                sign * (amplitude - sign * s / slots_per_bit).clamp(0.0, MAX_TOP_UP * amplitude)
            })
            .collect();
        let mut coefs = vec![0f32; (self.grid * self.grid) as usize];
        for slot in &self.slots {
            coefs[slot.index as usize] += slot.sign * shortfall[slot.bit as usize];
        }
        // `image` clamps float pixels to [0, 1] when resizing: carry the signed residual as
        // 0.5 + r/255, which its clamp to ±RESIDUAL_LIMIT keeps inside that range.
        let grid = self.blocks_to_grid(&coefs, |block| {
            self.idct(block)
                .map(|r| 0.5 + r.clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT) / 255.0)
        });
        let residual = imageops::resize(&grid, rgba.width(), rgba.height(), FilterType::Triangle);
        for (pixel, r) in rgba.pixels_mut().zip(residual.pixels()) {
            let delta = r.0[0] - 0.5;
            for c in &mut pixel.0[..3] {
                *c = (*c + delta).clamp(0.0, 1.0);
            }
        }
        same_layout(DynamicImage::ImageRgba32F(rgba), original)
    }

    /// Per-bit log-likelihood ratios (positive: 1) read from the image.
    pub fn extract(&self, image: &DynamicImage) -> Vec<f32> {
        let sums = self.correlations(&image.to_rgba32f());
        // Gaussian LLR 2·A·s/σ², with A ≈ mean |s| and σ² ≈ var |s| (A ≫ σ on a tagged image).
        let n = sums.len() as f32;
        let mean_abs = sums.iter().map(|s| s.abs()).sum::<f32>() / n;
        let variance =
            (sums.iter().map(|s| s * s).sum::<f32>() / n - mean_abs * mean_abs).max(MIN_VARIANCE);
        sums.iter().map(|s| 2.0 * mean_abs * s / variance).collect()
    }

    /// Σ sign · coefficient over each bit's slots, on the luminance scaled to the grid.
    fn correlations(&self, rgba: &Rgba32FImage) -> Vec<f32> {
        let luma: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
                let p = rgba.get_pixel(x, y).0;
                // in [0, 1]: `image` clamps float pixels to that range when resizing
                Luma([LUMA_WEIGHTS[0] * p[0] + LUMA_WEIGHTS[1] * p[1] + LUMA_WEIGHTS[2] * p[2]])
            });
        let grid = imageops::resize(&luma, self.grid, self.grid, FilterType::Triangle);
        let coefs: Vec<f32> = self
            .grid_to_blocks(&grid)
            .into_iter()
            .map(|c| 255.0 * c)
            .collect();
        let mut sums = vec![0f32; self.bits];
        for slot in &self.slots {
            sums[slot.bit as usize] += slot.sign * coefs[slot.index as usize];
        }
        sums
    }

    fn idct(&self, f: &[f32; 64]) -> [f32; 64] {
        // x = Cᵀ · F · C
        let mut tmp = [0f32; 64];
        let mut out = [0f32; 64];
        for u in 0..BLOCK {
            for y in 0..BLOCK {
                tmp[u * BLOCK + y] = (0..BLOCK).map(|v| f[u * BLOCK + v] * self.cos[v][y]).sum();
            }
        }
        for x in 0..BLOCK {
            for y in 0..BLOCK {
                out[x * BLOCK + y] = (0..BLOCK)
                    .map(|u| self.cos[u][x] * tmp[u * BLOCK + y])
                    .sum();
            }
        }
        out
    }

    fn dct(&self, b: &[f32; 64]) -> [f32; 64] {
        // F = C · x · Cᵀ
        let mut tmp = [0f32; 64];
        let mut out = [0f32; 64];
        for u in 0..BLOCK {
            for y in 0..BLOCK {
                tmp[u * BLOCK + y] = (0..BLOCK).map(|x| self.cos[u][x] * b[x * BLOCK + y]).sum();
            }
        }
        for u in 0..BLOCK {
            for v in 0..BLOCK {
                out[u * BLOCK + v] = (0..BLOCK)
                    .map(|y| tmp[u * BLOCK + y] * self.cos[v][y])
                    .sum();
            }
        }
        out
    }

    /// Block-major coefficients → grid image, applying `f` to each block.
    fn blocks_to_grid(
        &self,
        coefs: &[f32],
        f: impl Fn(&[f32; 64]) -> [f32; 64],
    ) -> ImageBuffer<Luma<f32>, Vec<f32>> {
        let per_row = self.grid as usize / BLOCK;
        let mut grid = ImageBuffer::new(self.grid, self.grid);
        for (b, chunk) in coefs.chunks_exact(64).enumerate() {
            let mut block = [0f32; 64];
            block.copy_from_slice(chunk);
            let pixels = f(&block);
            let (bx, by) = ((b % per_row) * BLOCK, (b / per_row) * BLOCK);
            for (i, &p) in pixels.iter().enumerate() {
                // block rows are x (row index u ↔ vertical), columns y
                grid.put_pixel((bx + i % BLOCK) as u32, (by + i / BLOCK) as u32, Luma([p]));
            }
        }
        grid
    }

    /// Grid image → block-major DCT coefficients (inverse of `blocks_to_grid` with the IDCT).
    fn grid_to_blocks(&self, grid: &ImageBuffer<Luma<f32>, Vec<f32>>) -> Vec<f32> {
        let per_row = self.grid as usize / BLOCK;
        let mut coefs = Vec::with_capacity((self.grid * self.grid) as usize);
        for b in 0..per_row * per_row {
            let (bx, by) = ((b % per_row) * BLOCK, (b / per_row) * BLOCK);
            let block: [f32; 64] = std::array::from_fn(|i| {
                grid.get_pixel((bx + i % BLOCK) as u32, (by + i / BLOCK) as u32)
                    .0[0]
            });
            coefs.extend_from_slice(&self.dct(&block));
        }
        coefs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal_and_inverts() {
        let scheme = ClassicScheme::new(256, 256);
        let block: [f32; 64] = std::array::from_fn(|i| ((i * 37) % 101) as f32 - 50.0);
        let back = scheme.idct(&scheme.dct(&block));
        for (a, b) in block.iter().zip(&back) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        let energy = |x: &[f32; 64]| x.iter().map(|v| v * v).sum::<f32>();
        assert!((energy(&block) - energy(&scheme.dct(&block))).abs() / energy(&block) < 1e-5);
    }

    #[test]
    fn every_bit_gets_the_same_number_of_slots() {
        for (grid, per_bit) in [(256, 72), (128, 18)] {
            let scheme = ClassicScheme::new(256, grid);
            let mut counts = vec![0usize; 256];
            for s in &scheme.slots {
                counts[s.bit as usize] += 1;
            }
            assert_eq!(scheme.slots.len(), (grid as usize / 8).pow(2) * 18);
            assert!(counts.iter().all(|&c| c == per_bit), "{grid}: {counts:?}");
        }
        assert_eq!(ClassicScheme::grid_for(4000, 3000), 256);
        assert_eq!(ClassicScheme::grid_for(300, 200), 128);
        assert_eq!(ClassicScheme::grid_for(64, 64), 128);
    }
}
