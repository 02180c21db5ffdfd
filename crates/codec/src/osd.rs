//! Ordered-statistics decoding (Fossorier & Lin, 1995) of the binary image of the code.
//!
//! The Reed–Solomon code is linear over GF(2) once its symbols are written as bits, so the tags of
//! one scheme version form a binary linear code with a 64-row basis. OSD sorts the received bits
//! by reliability, row-reduces the basis so that it is systematic on the most reliable
//! independent positions, takes the hard decisions there, and re-encodes every pattern of up to
//! `order` flips among those positions. The best candidate by soft discrepancy wins.

/// 64-bit words in a channel word: channel words are at most 256 bits.
pub(crate) const WORDS: usize = 4;

/// A channel word of up to 256 bits; bit j is bit 63 − j mod 64 of word j / 64, so that byte
/// symbols read off the words in big-endian order.
pub(crate) type Word = [u64; WORDS];

#[inline]
pub(crate) fn bit(w: &Word, j: usize) -> bool {
    (w[j / 64] >> (63 - j % 64)) & 1 == 1
}

#[inline]
pub(crate) fn set_bit(w: &mut Word, j: usize) {
    w[j / 64] |= 1 << (63 - j % 64);
}

#[inline]
pub(crate) fn xor(a: &Word, b: &Word) -> Word {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

#[inline]
pub(crate) fn weight(w: &Word) -> usize {
    w.iter().map(|x| x.count_ones() as usize).sum()
}

/// Σ reliability over the set bits of `diff`.
#[inline]
pub(crate) fn discrepancy(diff: &Word, reliability: &[f32]) -> f32 {
    let mut sum = 0.0;
    for (i, &word) in diff.iter().enumerate() {
        let mut w = word;
        while w != 0 {
            let lead = w.leading_zeros() as usize;
            sum += reliability[i * 64 + lead];
            w &= !(1u64 << (63 - lead));
        }
    }
    sum
}

/// The closest candidate an OSD pass met.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    /// A codeword of the subcode spanned by the basis.
    pub codeword: Word,
    /// Soft discrepancy to the target (Σ reliability of disagreeing bits).
    pub discrepancy: f32,
}

/// Result of a search: the best candidate within `radius` (by discrepancy), and the smallest
/// Hamming distance met at all (for the caller's confidence figure).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Search {
    pub best: Option<Candidate>,
    pub nearest: usize,
}

struct Enumerator<'a> {
    rows: &'a [Word],
    target: Word,
    reliability: &'a [f32],
    radius: usize,
    search: Search,
}

impl Enumerator<'_> {
    fn consider(&mut self, codeword: &Word) {
        let diff = xor(codeword, &self.target);
        let distance = weight(&diff);
        self.search.nearest = self.search.nearest.min(distance);
        if distance > self.radius {
            return;
        }
        let discrepancy = discrepancy(&diff, self.reliability);
        if self.search.best.is_none_or(|b| discrepancy < b.discrepancy) {
            self.search.best = Some(Candidate {
                codeword: *codeword,
                discrepancy,
            });
        }
    }

    /// Visits `base` ⊕ every sum of up to `depth` rows with index ≥ `start`.
    fn flips(&mut self, base: &Word, start: usize, depth: usize) {
        if depth == 0 {
            return;
        }
        for i in start..self.rows.len() {
            let next = xor(base, &self.rows[i]);
            self.consider(&next);
            self.flips(&next, i + 1, depth - 1);
        }
    }
}

/// OSD of order `order` for the code spanned by `basis` (rows over `n_bits` positions).
pub(crate) fn search(
    basis: &[Word],
    n_bits: usize,
    target: &Word,
    reliability: &[f32],
    order: usize,
    radius: usize,
) -> Search {
    let mut positions: Vec<usize> = (0..n_bits).collect();
    positions.sort_unstable_by(|&a, &b| reliability[b].total_cmp(&reliability[a]));

    // Gauss–Jordan elimination on the most reliable independent positions.
    let mut rows = basis.to_vec();
    let mut pivots = Vec::with_capacity(rows.len());
    for &j in &positions {
        let rank = pivots.len();
        if rank == rows.len() {
            break;
        }
        let Some(found) = (rank..rows.len()).find(|&r| bit(&rows[r], j)) else {
            continue;
        };
        rows.swap(rank, found);
        let pivot_row = rows[rank];
        for (r, row) in rows.iter_mut().enumerate() {
            if r != rank && bit(row, j) {
                *row = xor(row, &pivot_row);
            }
        }
        pivots.push(j);
    }
    rows.truncate(pivots.len());

    // Order 0: agree with the hard decisions on every pivot.
    let mut base = [0u64; WORDS];
    for (row, &j) in rows.iter().zip(&pivots) {
        if bit(target, j) {
            base = xor(&base, row);
        }
    }
    let mut enumerator = Enumerator {
        rows: &rows,
        target: *target,
        reliability,
        radius,
        search: Search {
            best: None,
            nearest: usize::MAX,
        },
    };
    enumerator.consider(&base);
    enumerator.flips(&base, 0, order);
    enumerator.search
}
