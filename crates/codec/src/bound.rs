//! The false-positive bound that fixes the acceptance radius.
//!
//! A decoder accepts a word y only if some *valid* codeword c (known scheme version, any tag)
//! lies within Hamming distance R of y's hard decisions. For y uniform on {0,1}^N (what an
//! unmarked image looks like to an ideal detector, after whitening), the union bound over the
//! valid codewords gives, whatever search found c:
//!
//! P(false tag) ≤ Σ_c P(d(y, c) ≤ R) = |C_valid| · V(N, R) / 2^N,  V(N, R) = Σ_{i ≤ R} C(N, i),
//!
//! with |C_valid| = versions · 2^64. The radius is the largest R that keeps the bound at or below
//! the target. All sums are done in log2 so any N works.

/// log2 of Σ_{i ≤ r} C(n, i).
pub(crate) fn log2_hamming_ball(n: usize, r: usize) -> f64 {
    let mut log2_binom = 0.0f64; // log2 C(n, 0)
    let mut log2_sum = 0.0f64;
    for i in 1..=r.min(n) {
        log2_binom += ((n - i + 1) as f64).log2() - (i as f64).log2();
        // log2(2^a + 2^b) = max + log2(1 + 2^(min − max))
        let (hi, lo) = if log2_binom > log2_sum {
            (log2_binom, log2_sum)
        } else {
            (log2_sum, log2_binom)
        };
        log2_sum = hi + (1.0 + (lo - hi).exp2()).log2();
    }
    log2_sum
}

/// The union bound on the false-positive probability for radius r.
pub(crate) fn false_positive_bound(
    channel_bits: usize,
    log2_valid_codewords: f64,
    r: usize,
) -> f64 {
    (log2_valid_codewords + log2_hamming_ball(channel_bits, r) - channel_bits as f64).exp2()
}

/// Largest r whose bound is ≤ target, or `None` if even r = 0 exceeds it.
pub(crate) fn acceptance_radius(
    channel_bits: usize,
    log2_valid_codewords: f64,
    target: f64,
) -> Option<usize> {
    (0..=channel_bits)
        .take_while(|&r| false_positive_bound(channel_bits, log2_valid_codewords, r) <= target)
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_ball(n: u32, r: u32) -> f64 {
        let mut binom = 1.0f64;
        let mut sum = 1.0;
        for i in 1..=r {
            binom = binom * f64::from(n - i + 1) / f64::from(i);
            sum += binom;
        }
        sum
    }

    #[test]
    fn ball_matches_direct_sum() {
        for (n, r) in [(16, 3), (64, 10), (256, 46), (256, 128)] {
            let direct = exact_ball(n, r).log2();
            let logs = log2_hamming_ball(n as usize, r as usize);
            assert!(
                (direct - logs).abs() < 1e-9,
                "n={n} r={r}: {direct} vs {logs}"
            );
        }
        assert!((log2_hamming_ball(10, 10) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn radius_is_the_largest_that_meets_the_target() {
        let r = acceptance_radius(256, 64.0, 1e-6).unwrap();
        assert!(false_positive_bound(256, 64.0, r) <= 1e-6);
        assert!(false_positive_bound(256, 64.0, r + 1) > 1e-6);
        assert_eq!(r, 46);
        assert_eq!(acceptance_radius(64, 64.0, 1e-6), None);
    }
}
