//! Arithmetic in GF(2^8), built from the primitive polynomial x^8 + x^4 + x^3 + x^2 + 1
//! (0x11D, the one used by CCSDS, QR codes and most byte-oriented Reed–Solomon codes), with the
//! generator α = 2. Tables are built at compile time.

/// The primitive polynomial, bit i standing for x^i.
pub(crate) const PRIMITIVE_POLY: u16 = 0x11D;
/// The multiplicative group has 255 elements.
pub(crate) const ORDER: usize = 255;

struct Tables {
    /// exp[i] = α^i, doubled so that exp[log a + log b] needs no reduction.
    exp: [u8; 2 * ORDER],
    /// log[a] for a ≠ 0; log[0] is unused.
    log: [u8; 256],
}

const fn build() -> Tables {
    let mut exp = [0u8; 2 * ORDER];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < ORDER {
        exp[i] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= PRIMITIVE_POLY;
        }
        i += 1;
    }
    while i < 2 * ORDER {
        exp[i] = exp[i - ORDER];
        i += 1;
    }
    Tables { exp, log }
}

static TABLES: Tables = build();

/// a · b
#[inline]
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        TABLES.exp[TABLES.log[a as usize] as usize + TABLES.log[b as usize] as usize]
    }
}

/// a / b, for b ≠ 0 (callers guarantee it; b = 0 yields 0 rather than a panic).
#[inline]
pub(crate) fn div(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        TABLES.exp[TABLES.log[a as usize] as usize + ORDER - TABLES.log[b as usize] as usize]
    }
}

/// α^e for any e ≥ 0.
#[inline]
pub(crate) fn alpha_pow(e: usize) -> u8 {
    TABLES.exp[e % ORDER]
}

/// 1 / a for a ≠ 0.
#[inline]
pub(crate) fn inv(a: u8) -> u8 {
    div(1, a)
}

/// Evaluates a polynomial stored lowest degree first at x (Horner).
pub(crate) fn poly_eval_low_first(p: &[u8], x: u8) -> u8 {
    p.iter().rev().fold(0, |acc, &c| mul(acc, x) ^ c)
}

/// Product of two polynomials stored lowest degree first.
pub(crate) fn poly_mul_low_first(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len() + b.len() - 1];
    for (i, &x) in a.iter().enumerate() {
        if x == 0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate() {
            out[i + j] ^= mul(x, y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_axioms_hold_for_every_pair() {
        for a in 0..=255u8 {
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
            }
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul(b, a));
                if b != 0 {
                    assert_eq!(mul(div(a, b), b), a);
                }
            }
        }
    }

    #[test]
    fn alpha_generates_the_whole_group() {
        let mut seen = [false; 256];
        for e in 0..ORDER {
            seen[alpha_pow(e) as usize] = true;
        }
        assert_eq!(seen.iter().filter(|&&s| s).count(), ORDER);
        assert!(!seen[0]);
    }
}
