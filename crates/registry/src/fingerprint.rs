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

/// Units of a [`FacePrint`]'s region: fractions of the photo's width and height, in ten-thousandths.
pub const REGION_UNITS: u16 = 10_000;
/// Most face regions one record holds.
pub const MAX_FACE_PRINTS: usize = 32;

/// One face of the tagged photo: where it is, and the fingerprint of that region (the region as a
/// photo of its own: [`Fingerprint`]'s two hashes of it and of its centre). A photo whose face
/// was swapped, blurred or replaced keeps most of its whole-photo fingerprint; this one changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FacePrint {
    /// Left, top, right, bottom edges as fractions of the photo's width and height, in units of
    /// 1/[`REGION_UNITS`]: the same region in a rescaled copy.
    pub region: [u16; 4],
    /// The region's fingerprint.
    pub fingerprint: Fingerprint,
}

impl FacePrint {
    /// The region of the box `[x0, y0, x1, y1]` (pixels) of a `width` × `height` photo, clipped to
    /// the photo; `None` for a box with no area inside it.
    pub fn region_of(bbox: [f32; 4], width: u32, height: u32) -> Option<[u16; 4]> {
        let unit = |v: f32, side: u32| {
            let f = (v / side.max(1) as f32).clamp(0.0, 1.0) * f32::from(REGION_UNITS);
            f.round() as u16
        };
        if bbox.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let region = [
            unit(bbox[0], width),
            unit(bbox[1], height),
            unit(bbox[2], width),
            unit(bbox[3], height),
        ];
        Self::valid_region(region).then_some(region)
    }

    /// The region in pixels of a `width` × `height` photo: left, top, width, height, at least
    /// one pixel each.
    pub fn pixels(&self, width: u32, height: u32) -> [u32; 4] {
        let at = |v: u16, side: u32| {
            ((u64::from(v) * u64::from(side) + u64::from(REGION_UNITS) / 2)
                / u64::from(REGION_UNITS)) as u32
        };
        let (x0, y0) = (
            at(self.region[0], width).min(width.saturating_sub(1)),
            at(self.region[1], height).min(height.saturating_sub(1)),
        );
        let (x1, y1) = (at(self.region[2], width), at(self.region[3], height));
        [
            x0,
            y0,
            x1.saturating_sub(x0).max(1),
            y1.saturating_sub(y0).max(1),
        ]
    }

    fn valid_region(r: [u16; 4]) -> bool {
        r[0] < r[2] && r[1] < r[3] && r[2] <= REGION_UNITS && r[3] <= REGION_UNITS
    }

    /// The bytes a record's signature covers: the region (4 × u16) and the fingerprint (u128),
    /// big-endian.
    pub(crate) fn to_bytes(self) -> [u8; 24] {
        let mut out = [0u8; 24];
        for (i, v) in self.region.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        out[8..].copy_from_slice(&self.fingerprint.bits().to_be_bytes());
        out
    }

    pub(crate) fn check(&self) -> Result<(), crate::RegistryError> {
        if Self::valid_region(self.region) {
            Ok(())
        } else {
            Err(crate::invalid(
                format!("face region {:?}", self.region),
                format!("expected left < right ≤ {REGION_UNITS} and top < bottom ≤ {REGION_UNITS}"),
            ))
        }
    }

    /// A record's face prints as stored: `left,top,right,bottom:fingerprint` joined by `;`
    /// (empty for none).
    pub(crate) fn list_to_text(faces: &[Self]) -> String {
        faces
            .iter()
            .map(|f| {
                let [a, b, c, d] = f.region;
                format!("{a},{b},{c},{d}:{}", f.fingerprint)
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The inverse of [`FacePrint::list_to_text`]; `None` for text of another shape.
    pub(crate) fn list_from_text(text: &str) -> Option<Vec<Self>> {
        if text.is_empty() {
            return Some(Vec::new());
        }
        text.split(';')
            .map(|item| {
                let (region, print) = item.split_once(':')?;
                let values: Vec<u16> = region
                    .split(',')
                    .map(|v| v.parse().ok())
                    .collect::<Option<_>>()?;
                let face = Self {
                    region: values.try_into().ok()?,
                    fingerprint: print.parse().ok()?,
                };
                face.check().is_ok().then_some(face)
            })
            .collect()
    }
}
