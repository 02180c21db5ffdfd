//! A perceptual fingerprint: the 64-bit DCT hash ("pHash", Zauner 2010) of a photo's luma.
//!
//! Small for re-encodings and rescalings of the same photo (JPEG, resize: a few bits), large for
//! other content (≈ 32 bits, half of them, for unrelated photos).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Side of the luma grid the hash is computed from (pHash's 32×32).
pub const LUMA_SIDE: usize = 32;
/// Low-frequency DCT block kept: 8×8 coefficients, one bit each.
const KEPT: usize = 8;
/// Bits in a fingerprint.
pub const FINGERPRINT_BITS: u32 = (KEPT * KEPT) as u32;

/// A 64-bit perceptual hash; compare two with [`Fingerprint::distance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint with these bits.
    pub const fn new(bits: u64) -> Self {
        Self(bits)
    }

    /// Its bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The hash of a `LUMA_SIDE × LUMA_SIDE` luma grid, row-major (any scale: only the signs of
    /// coefficients against their median count). The caller downsizes the photo with an
    /// area-averaging filter first.
    ///
    /// Each bit says whether one of the 8×8 lowest DCT-II coefficients lies above their median
    /// (the DC term is left out of the median, which it would dominate).
    ///
    /// # Panics
    /// Never; a grid of the wrong length gives `None`.
    pub fn from_luma(luma: &[f32]) -> Option<Self> {
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
        let bits = coefficients
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, &c)| acc | (u64::from(c > median) << (63 - i)));
        Some(Self(bits))
    }

    /// Number of differing bits, 0–64.
    pub fn distance(self, other: Self) -> u32 {
        (self.0 ^ other.0).count_ones()
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
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = crate::RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::invalid(
                format!("fingerprint {s:?}"),
                "expected 16 hexadecimal digits",
            ));
        }
        u64::from_str_radix(s, 16)
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
