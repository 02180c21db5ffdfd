//! A systematic Reed–Solomon code over GF(2^8), shortened from RS(255, k), and its
//! errors-and-erasures decoder (Berlekamp–Massey initialised with the erasure locator, Chien
//! search, Forney's formula).
//!
//! Conventions: a codeword is `n` symbols, message first then `n − k` parity symbols; symbol `i`
//! is the coefficient of x^(n−1−i), so its error locator is X_i = α^(n−1−i). The generator
//! polynomial has the roots α^0 … α^(n−k−1) (first consecutive root 0).

use crate::gf256::{alpha_pow, div, inv, mul, poly_eval_low_first, poly_mul_low_first};

/// The largest code length a byte-symbol RS code supports.
pub(crate) const MAX_LEN: usize = 255;

/// A shortened RS(n, k) code over GF(2^8).
#[derive(Debug, Clone)]
pub(crate) struct ReedSolomon {
    n: usize,
    k: usize,
    /// Generator polynomial, highest degree first, monic, degree n − k.
    generator: Vec<u8>,
}

/// What the algebraic decoder did to a received word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrected {
    /// The decoded codeword.
    pub codeword: Vec<u8>,
    /// Positions whose value changed (errors and erasures that were wrong).
    pub changed: usize,
}

impl ReedSolomon {
    /// Requires 1 ≤ k < n ≤ 255 (checked by the caller, which owns the error type).
    pub(crate) fn new(n: usize, k: usize) -> Self {
        debug_assert!(k >= 1 && k < n && n <= MAX_LEN);
        let mut generator = vec![1u8];
        for i in 0..n - k {
            // multiply by (x − α^i); highest degree first
            let root = alpha_pow(i);
            let mut next = vec![0u8; generator.len() + 1];
            for (j, &g) in generator.iter().enumerate() {
                next[j] ^= g;
                next[j + 1] ^= mul(g, root);
            }
            generator = next;
        }
        Self { n, k, generator }
    }

    pub(crate) fn n(&self) -> usize {
        self.n
    }

    #[cfg(test)]
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Number of parity symbols, n − k: corrects e erasures and v errors when 2v + e ≤ n − k.
    pub(crate) fn parity_len(&self) -> usize {
        self.n - self.k
    }

    /// Systematic encoding: message followed by the remainder of message · x^(n−k) mod g(x).
    pub(crate) fn encode(&self, message: &[u8]) -> Vec<u8> {
        debug_assert_eq!(message.len(), self.k);
        let mut buf = vec![0u8; self.n];
        buf[..self.k].copy_from_slice(message);
        for i in 0..self.k {
            let coef = buf[i];
            if coef != 0 {
                for (j, &g) in self.generator.iter().enumerate().skip(1) {
                    buf[i + j] ^= mul(g, coef);
                }
            }
        }
        buf[..self.k].copy_from_slice(message);
        buf
    }

    /// S_j = r(α^j) for j in 0..n−k, lowest index first.
    pub(crate) fn syndromes(&self, received: &[u8]) -> Vec<u8> {
        (0..self.parity_len())
            .map(|j| {
                let x = alpha_pow(j);
                received.iter().fold(0u8, |acc, &c| mul(acc, x) ^ c)
            })
            .collect()
    }

    fn locator(&self, position: usize) -> u8 {
        alpha_pow(self.n - 1 - position)
    }

    /// Errors-and-erasures decoding. `erasures` are distinct positions < n whose values are not
    /// trusted. Succeeds when 2·errors + erasures ≤ n − k; otherwise returns `None` (detected
    /// failure) or, rarely, a different codeword (which the caller's acceptance test handles).
    pub(crate) fn decode(&self, received: &[u8], erasures: &[usize]) -> Option<Corrected> {
        debug_assert_eq!(received.len(), self.n);
        let nsym = self.parity_len();
        if erasures.len() > nsym {
            return None;
        }
        let s = self.syndromes(received);
        if s.iter().all(|&x| x == 0) {
            return Some(Corrected {
                codeword: received.to_vec(),
                changed: 0,
            });
        }

        // Erasure locator Γ(x) = Π (1 − X_i x), lowest degree first.
        let mut gamma = vec![1u8];
        for &p in erasures {
            gamma = poly_mul_low_first(&gamma, &[1, self.locator(p)]);
        }

        // Berlekamp–Massey started from Γ (Blahut's errata form): finds Λ = σ·Γ.
        let e = erasures.len();
        let mut lambda = gamma.clone();
        let mut prev = gamma;
        let mut l = e;
        for r in e..nsym {
            let delta = lambda
                .iter()
                .enumerate()
                .filter(|&(j, _)| j <= r)
                .fold(0u8, |acc, (j, &c)| acc ^ mul(c, s[r - j]));
            // prev ← x · prev
            prev.insert(0, 0);
            if delta != 0 {
                let mut next = lambda.clone();
                if next.len() < prev.len() {
                    next.resize(prev.len(), 0);
                }
                for (j, &b) in prev.iter().enumerate() {
                    next[j] ^= mul(delta, b);
                }
                if 2 * l <= r + e {
                    let scale = inv(delta);
                    prev = lambda.iter().map(|&c| mul(c, scale)).collect();
                    l = r + 1 + e - l;
                }
                lambda = next;
            }
        }
        while lambda.len() > 1 && lambda.last() == Some(&0) {
            lambda.pop();
        }
        let degree = lambda.len() - 1;
        if degree != l || 2 * (l - e) + e > nsym {
            return None;
        }

        // Chien search over the n positions of the shortened code.
        let roots: Vec<usize> = (0..self.n)
            .filter(|&i| poly_eval_low_first(&lambda, inv(self.locator(i))) == 0)
            .collect();
        if roots.len() != degree {
            return None;
        }

        // Forney: Ω = S·Λ mod x^(n−k); Y_i = X_i · Ω(X_i⁻¹) / Λ'(X_i⁻¹) (first root 0).
        let mut omega = poly_mul_low_first(&s, &lambda);
        omega.truncate(nsym);
        let derivative: Vec<u8> = lambda
            .iter()
            .enumerate()
            .skip(1)
            .map(|(j, &c)| if j % 2 == 1 { c } else { 0 })
            .collect();
        let mut codeword = received.to_vec();
        let mut changed = 0;
        for &i in &roots {
            let x = self.locator(i);
            let x_inv = inv(x);
            // Λ'(x) = Σ_{j odd} Λ_j x^(j−1): `derivative` holds Λ_j at index j−1.
            let denom = poly_eval_low_first(&derivative, x_inv);
            if denom == 0 {
                return None;
            }
            let magnitude = mul(x, div(poly_eval_low_first(&omega, x_inv), denom));
            if magnitude != 0 {
                codeword[i] ^= magnitude;
                changed += 1;
            }
        }
        if self.syndromes(&codeword).iter().any(|&x| x != 0) {
            return None;
        }
        Some(Corrected { codeword, changed })
    }
}
