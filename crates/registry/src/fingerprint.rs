//! A perceptual fingerprint: two 64-bit DCT hashes ("pHash", Zauner 2010), one of the whole photo
//! and one of its central region (the middle half of each side, where a face-swap pipeline
//! writes its face), compared by the larger of their two distances.
//!
//! Small for re-encodings and rescalings of the same photo (JPEG, resize: a few bits), large for
//! other content (≈ 28 bits for unrelated faces). The central hash is what catches a face
//! swapped into the photo, which leaves the background, and so the whole-photo hash, nearly
//! unchanged (measured on CelebA test faces: median 8 bits whole, 20 bits centre).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Side of the luma grid the hash is computed from (pHash's 32×32).
pub const LUMA_SIDE: usize = 32;
/// Low-frequency DCT block kept: 8×8 coefficients, one bit each.
const KEPT: usize = 8;
/// Bits in each of a fingerprint's two hashes, and so the largest [`Fingerprint::distance`].
pub const FINGERPRINT_BITS: u32 = (KEPT * KEPT) as u32;

/// Two 64-bit perceptual hashes (whole photo, centre); compare two with
/// [`Fingerprint::distance`]. Shown as 32 hex digits, the whole photo's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The fingerprint with these bits (whole-photo hash in the high half).
    pub const fn new(bits: u128) -> Self {
        Self(bits)
    }

    /// Its bits.
    pub const fn bits(self) -> u128 {
        self.0
    }

    /// The fingerprint of a photo given as two `LUMA_SIDE × LUMA_SIDE` luma grids, row-major:
    /// the whole photo, and its central region (the middle half of each side), each downsized
    /// with an area-averaging filter. Any scale: only signs against a median count. `None` for a
    /// grid of the wrong length or with non-finite values.
    pub fn from_luma(whole: &[f32], centre: &[f32]) -> Option<Self> {
        Some(Self(
            (u128::from(phash(whole)?) << 64) | u128::from(phash(centre)?),
        ))
    }

    /// The larger of the two hashes' Hamming distances, 0–64.
    pub fn distance(self, other: Self) -> u32 {
        let d = self.0 ^ other.0;
        (d >> 64).count_ones().max((d as u64).count_ones())
    }
}

/// pHash of one grid: each bit says whether one of the 8×8 lowest DCT-II coefficients lies
/// above their median (the DC term is left out of the median, which it would dominate).
fn phash(luma: &[f32]) -> Option<u64> {
    {
        if luma.len() != LUMA_SIDE * LUMA_SIDE || luma.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let basis = dct_basis();
        // rows first: tmp[y][u] = Σ_x luma[y][x] · basis[u][x]
        let mut rows = [[0f64; KEPT]; LUMA_SIDE];
        for (y, row) in rows.iter_mut().enumerate() {
            for (u, value) in row.iter_mut().enumerate() {
                *value = (0..LUMA_SIDE)
                    .map(|x| f64::from(luma[y * LUMA_SIDE + x]) * basis[u][x])
                    .sum();
            }
        }
        let mut coefficients = [0f64; KEPT * KEPT];
        for v in 0..KEPT {
            for u in 0..KEPT {
                coefficients[v * KEPT + u] = (0..LUMA_SIDE).map(|y| rows[y][u] * basis[v][y]).sum();
            }
        }
        let mut ac = coefficients[1..].to_vec();
        ac.sort_by(f64::total_cmp);
        let median = (ac[ac.len() / 2 - 1] + ac[ac.len() / 2]) / 2.0;
        let bits = coefficients.iter().enumerate().fold(0u64, |acc, (i, &c)| {
            acc | (u64::from(c > median) << (63 - i))
        });
        Some(bits)
    }
}

fn dct_basis() -> [[f64; LUMA_SIDE]; KEPT] {
    let mut basis = [[0f64; LUMA_SIDE]; KEPT];
    for (u, row) in basis.iter_mut().enumerate() {
        for (x, value) in row.iter_mut().enumerate() {
            *value = (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64
                / (2 * LUMA_SIDE) as f64)
                .cos();
        }
    }
    basis
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = crate::RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::invalid(
                format!("fingerprint {s:?}"),
                "expected 32 hexadecimal digits",
            ));
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|e| crate::invalid(format!("fingerprint {s:?}"), e.to_string()))
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> Self {
        f.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = crate::RegistryError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
