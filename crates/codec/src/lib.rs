//! # faketagger-codec
//!
//! Tag ⇄ channel bits for faketagger, with no ML or image dependency. A [`Tag`] (64 data bits) and
//! a [`SchemeVersion`] are framed into the 9-symbol message of a Reed–Solomon code over GF(2^8),
//! encoded into a [`ChannelBits`] word of `N = 8·n` bits (scheme 1: n = 32, N = 256), and
//! XOR-whitened with a fixed pseudo-random sequence, so that blank, constant or biased
//! network outputs do not land near a codeword. [`Codec`] decodes hard bits or the decoder
//! network's per-bit confidences (log-likelihood ratios) into a [`Decoding`].
//!
//! ```
//! use faketagger_codec::{Codec, Tag};
//!
//! let codec = Codec::v1();
//! let tag: Tag = "0123456789abcdef".parse()?;
//! let bits = codec.encode(tag);
//! assert_eq!(bits.len(), 256);
//!
//! // The network's logits: positive means "1". Flip 20 bits and make them unsure.
//! let mut llr: Vec<f32> = bits.iter().map(|b| if b { 4.0 } else { -4.0 }).collect();
//! for j in (0..256).step_by(13) {
//!     llr[j] = -llr[j] * 0.1;
//! }
//! let decoding = codec.decode_soft(&llr)?;
//! assert_eq!(decoding.tag(), Some(tag));
//!
//! // A word that carries no tag decodes to "no tag", not to a random tag.
//! let blank = vec![0.5f32; 256];
//! assert_eq!(codec.decode_soft(&blank)?.tag(), None);
//! # Ok::<(), faketagger_codec::CodecError>(())
//! ```
//!
//! ## Decoding stages
//! 1. **Clean**: the hard decisions already form a valid codeword.
//! 2. **Algebraic**: errors-only Reed–Solomon decoding (Berlekamp–Massey, Chien, Forney) of the
//!    hard decisions, with the header symbol set to the version being tried.
//! 3. **Erasures** (soft input only): generalised minimum-distance decoding: the e least reliable
//!    symbols (by −Σ log P(bit correct)) become erasures, e = 1 … n − k, and the
//!    errors-and-erasures decoder corrects the rest.
//! 4. **OSD** (soft input only): ordered-statistics decoding of the binary image of the code
//!    (see `osd.rs`), which handles the scattered single-bit errors that byte symbols cope with
//!    badly.
//!
//! A stage stops the search early when its candidate lies within half the code's guaranteed
//! binary distance of the hard decisions (no other codeword can be closer in Hamming distance).
//! Otherwise the candidate with the smallest soft discrepancy wins.
//!
//! ## Why a clean photo says "no tag"
//! Whatever the search finds, a candidate is accepted only if it is a *valid* codeword (known
//! scheme version) within Hamming distance R of the hard decisions. For a word y drawn uniformly
//! from {0,1}^N (what an ideal detector sees on an unmarked image; whitening makes constant
//! outputs look no better), the union bound over the valid codewords gives
//!
//! ```text
//! P(some tag accepted) ≤ Σ_c P(d(y, c) ≤ R) = |C_valid| · V(N, R) / 2^N,
//! |C_valid| = versions · 2^64,   V(N, R) = Σ_{i ≤ R} C(N, i).
//! ```
//!
//! [`Codec`] picks the largest R that keeps this at or below
//! [`CodecConfig::max_false_positive`] (default 10⁻⁶). For scheme 1 (N = 256, one version)
//! that is **R = 46** with a bound of 3.0·10⁻⁷, while 10% raw bit errors give 25.6 ± 4.8 flipped
//! bits, so the radius costs almost nothing in recovery. The bound does not depend on how many
//! candidates the decoder tries, which is why stages 3 and 4 may search freely. Tests check it
//! with 10⁴ random words (and 10⁶ in an ignored test); a real decoder network's outputs on
//! unmarked photos are not uniform, so the evaluation measures that rate on real images too.
//!
//! ## Choice of N
//! N = 256 is the smallest multiple of 8 whose acceptance radius still passes 99.99% of words at
//! 10% raw BER: at N = 192 the 10⁻⁶ bound allows R = 26, which a 10% channel (19.2 ± 4.2
//! flips) exceeds 4.5% of the time, and at N = 128 it allows only R = 8. The measured curves are
//! in the crate README and come from `cargo run --release -p faketagger-codec --example
//! ber_curve`.
#![deny(missing_docs)]

mod bound;
mod gf256;
mod osd;
mod rs;
mod tag;

use std::fmt;
use std::str::FromStr;

use osd::{WORDS, Word};
use rs::ReedSolomon;
pub use tag::{TAG_BITS, TAG_HEX_DIGITS, Tag};

/// Symbols in a message: one header (scheme version) symbol and the tag's 8 bytes.
pub const MESSAGE_SYMBOLS: usize = 1 + TAG_BITS / 8;
/// Bits per Reed–Solomon symbol.
pub const SYMBOL_BITS: usize = 8;
/// The largest channel word this crate handles.
pub const MAX_CHANNEL_BITS: usize = WORDS * 64;
/// Default ceiling on the false-positive probability per decoded word (see the crate docs).
pub const DEFAULT_MAX_FALSE_POSITIVE: f64 = 1e-6;
/// Default OSD order: order 2 visits 1 + 64 + 2016 candidates (about 20 µs) and reaches 99.9%
/// exact recovery at 10% BER; order 3 (43,745 candidates) adds little there (see the README).
pub const DEFAULT_OSD_ORDER: usize = 2;
/// Seed of the whitening sequence (SplitMix64): the ASCII bytes "FAKETAG1".
const WHITENING_SEED: u64 = 0x4641_4B45_5441_4731;
/// Log-likelihood ratios are clamped to this magnitude, so that infinite inputs stay summable.
const MAX_LLR: f32 = 1e4;

/// The scheme a channel word was made with, carried in the header symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchemeVersion(u8);

impl SchemeVersion {
    /// Scheme 1: RS(32, 9) over GF(2^8), 256 channel bits, SplitMix64 whitening.
    pub const V1: Self = Self(1);

    /// The header symbol's value.
    pub const fn number(self) -> u8 {
        self.0
    }
}

impl fmt::Display for SchemeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The one error type of this crate: every variant names the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A tag's text form is not 16 hexadecimal digits.
    #[error("bad tag {text:?}: a tag is exactly 16 hex digits, e.g. 0123456789abcdef")]
    BadTag {
        /// The text given.
        text: String,
    },
    /// A channel word or confidence vector has the wrong number of bits.
    #[error("expected {expected} channel bits, got {actual}")]
    WrongLength {
        /// Bits the codec works with.
        expected: usize,
        /// Bits given.
        actual: usize,
    },
    /// A confidence is NaN.
    #[error("confidence {index} is NaN")]
    NotANumber {
        /// Position of the value.
        index: usize,
    },
    /// A probability lies outside [0, 1].
    #[error("probability {index} is {value}, outside [0, 1]")]
    ProbabilityOutOfRange {
        /// Position of the value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A channel word's text form has a character other than 0 or 1.
    #[error("bad channel bits: character {index} is {found:?}, expected 0 or 1")]
    BadBitString {
        /// Position of the character.
        index: usize,
        /// The character.
        found: char,
    },
    /// A [`CodecConfig`] that cannot work.
    #[error("bad codec configuration: {reason}")]
    BadConfig {
        /// What is wrong.
        reason: String,
    },
}

/// A channel word: the bits the networks carry, at most [`MAX_CHANNEL_BITS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelBits {
    words: Word,
    len: usize,
}

impl ChannelBits {
    /// A word of `bits.len()` bits.
    pub fn from_bools(bits: &[bool]) -> Result<Self, CodecError> {
        if bits.len() > MAX_CHANNEL_BITS {
            return Err(CodecError::WrongLength {
                expected: MAX_CHANNEL_BITS,
                actual: bits.len(),
            });
        }
        let mut words = [0u64; WORDS];
        for (j, _) in bits.iter().enumerate().filter(|&(_, &b)| b) {
            osd::set_bit(&mut words, j);
        }
        Ok(Self {
            words,
            len: bits.len(),
        })
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a word of no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `j`, or `None` past the end.
    pub fn get(&self, j: usize) -> Option<bool> {
        (j < self.len).then(|| osd::bit(&self.words, j))
    }

    /// The bits in channel order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|j| osd::bit(&self.words, j))
    }

    /// Number of positions where the two words differ (words of unequal length: `None`).
    pub fn distance(&self, other: &Self) -> Option<usize> {
        (self.len == other.len).then(|| osd::weight(&osd::xor(&self.words, &other.words)))
    }
}

impl fmt::Display for ChannelBits {
    /// The bits as a string of `0` and `1`, channel order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = self.iter().map(|b| if b { '1' } else { '0' }).collect();
        f.write_str(&text)
    }
}

impl fmt::Debug for ChannelBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelBits({self})")
    }
}

impl FromStr for ChannelBits {
    type Err = CodecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bits = s
            .chars()
            .enumerate()
            .map(|(index, c)| match c {
                '0' => Ok(false),
                '1' => Ok(true),
                found => Err(CodecError::BadBitString { index, found }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_bools(&bits)
    }
}

/// How a codec is built. [`CodecConfig::default`] is scheme 1.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecConfig {
    /// Reed–Solomon code length in byte symbols: N = 8 · symbols channel bits.
    pub symbols: usize,
    /// Ordered-statistics decoding order (0 disables the OSD stage).
    pub osd_order: usize,
    /// Ceiling on the probability that a uniformly random word decodes to a tag.
    pub max_false_positive: f64,
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            symbols: 32,
            osd_order: DEFAULT_OSD_ORDER,
            max_false_positive: DEFAULT_MAX_FALSE_POSITIVE,
        }
    }
}

/// Which decoding stage produced a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The hard decisions were a codeword.
    Clean,
    /// Errors-only algebraic decoding of the hard decisions.
    Algebraic,
    /// Errors-and-erasures decoding with the least reliable symbols erased.
    Erasures,
    /// Ordered-statistics decoding of the binary image.
    Osd,
}

/// A tag that was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    /// The tag.
    pub tag: Tag,
    /// The scheme it was framed with.
    pub version: SchemeVersion,
    /// The codeword, as channel bits.
    pub codeword: ChannelBits,
    /// Symbols where the codeword differs from the hard decisions.
    pub corrected_symbols: usize,
    /// Bits where the codeword differs from the hard decisions.
    pub corrected_bits: usize,
    /// The stage that found it.
    pub stage: Stage,
}

/// The outcome of decoding one word: "no tag" is an outcome, not an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoding {
    /// The hard decisions the decoder started from.
    pub hard_bits: ChannelBits,
    /// The tag, if a valid codeword lay within the acceptance radius.
    pub found: Option<Found>,
    /// Hamming distance from the hard decisions to the nearest valid codeword the search met.
    pub nearest_distance: Option<usize>,
}

impl Decoding {
    /// The tag, if one was found.
    pub fn tag(&self) -> Option<Tag> {
        self.found.map(|f| f.tag)
    }

    /// 1 − 2·d/N for the nearest codeword met (d its Hamming distance), clamped to [0, 1]:
    /// 1 for a clean word, about 0.8 at 10% raw bit errors, 0 for a word no closer than chance.
    /// A tag is reported at confidence ≥ 1 − 2R/N (0.64 for scheme 1).
    pub fn confidence(&self) -> f32 {
        let n = self.hard_bits.len().max(1) as f32;
        self.nearest_distance
            .map_or(0.0, |d| (1.0 - 2.0 * d as f32 / n).clamp(0.0, 1.0))
    }
}

/// A candidate codeword met during decoding, in the channel domain.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    channel: Word,
    version: SchemeVersion,
    /// whitening ⊕ the version's header codeword, to read the tag back
    offset: Word,
    distance: usize,
    discrepancy: f32,
    stage: Stage,
}

/// Encoder and decoder for one configuration. Build once and reuse: construction fills tables
/// (about 70 KB); encoding and decoding allocate little and are `&self`, so one codec serves
/// many threads.
#[derive(Debug, Clone)]
pub struct Codec {
    config: CodecConfig,
    rs: ReedSolomon,
    n_bits: usize,
    whitening: Word,
    /// (version, whitening ⊕ RS codeword of (version, tag 0)).
    versions: Vec<(SchemeVersion, Word)>,
    /// Row b: the RS codeword bits of tag bit b alone (header 0), unwhitened.
    tag_basis: Vec<Word>,
    /// byte_tables[s][v]: the RS codeword bits of tag byte s = v alone.
    byte_tables: Vec<[Word; 256]>,
    radius: usize,
    early_exit: usize,
}

impl Codec {
    /// Scheme 1 with default decoding settings.
    pub fn v1() -> Self {
        // The default configuration is valid by construction (checked by a unit test).
        match Self::new(CodecConfig::default()) {
            Ok(codec) => codec,
            Err(e) => unreachable!("default codec configuration is invalid: {e}"),
        }
    }

    /// A codec for `config`.
    pub fn new(config: CodecConfig) -> Result<Self, CodecError> {
        let n = config.symbols;
        if n <= MESSAGE_SYMBOLS + 1 || n * SYMBOL_BITS > MAX_CHANNEL_BITS {
            return Err(CodecError::BadConfig {
                reason: format!(
                    "symbols = {n}: need {} < symbols ≤ {}",
                    MESSAGE_SYMBOLS + 1,
                    MAX_CHANNEL_BITS / SYMBOL_BITS
                ),
            });
        }
        if !(config.max_false_positive > 0.0 && config.max_false_positive < 1.0) {
            return Err(CodecError::BadConfig {
                reason: format!(
                    "max_false_positive = {}: must lie in (0, 1)",
                    config.max_false_positive
                ),
            });
        }
        let n_bits = n * SYMBOL_BITS;
        let rs = ReedSolomon::new(n, MESSAGE_SYMBOLS);
        let versions = [SchemeVersion::V1];
        let log2_valid = (versions.len() as f64).log2() + TAG_BITS as f64;
        let radius = bound::acceptance_radius(n_bits, log2_valid, config.max_false_positive)
            .ok_or_else(|| CodecError::BadConfig {
                reason: format!(
                    "{n_bits} channel bits cannot keep the false-positive bound at {}: use more symbols",
                    config.max_false_positive
                ),
            })?;

        let whitening = whitening_sequence(n_bits);
        let rs_bits = |message: &[u8]| symbols_to_word(&rs.encode(message));
        let versions = versions
            .iter()
            .map(|&v| {
                let mut message = [0u8; MESSAGE_SYMBOLS];
                message[0] = v.number();
                (v, osd::xor(&whitening, &rs_bits(&message)))
            })
            .collect();
        let tag_basis = (0..TAG_BITS)
            .map(|b| {
                let mut message = [0u8; MESSAGE_SYMBOLS];
                message[1 + b / 8] = 0x80 >> (b % 8);
                rs_bits(&message)
            })
            .collect();
        let byte_tables = (0..TAG_BITS / 8)
            .map(|s| {
                let mut table = [[0u64; WORDS]; 256];
                for (v, entry) in table.iter_mut().enumerate() {
                    let mut message = [0u8; MESSAGE_SYMBOLS];
                    message[1 + s] = v as u8;
                    *entry = rs_bits(&message);
                }
                table
            })
            .collect();
        // The binary image has distance ≥ n − k + 1 (the symbol distance): a word within half of
        // that of a codeword has no other codeword as close.
        let early_exit = rs.parity_len() / 2;
        Ok(Self {
            config,
            rs,
            n_bits,
            whitening,
            versions,
            tag_basis,
            byte_tables,
            radius,
            early_exit,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// N, the channel bits the network carries.
    pub fn channel_bits(&self) -> usize {
        self.n_bits
    }

    /// The largest Hamming distance at which a codeword is accepted.
    pub fn acceptance_radius(&self) -> usize {
        self.radius
    }

    /// The union bound on the probability that a uniformly random word decodes to a tag.
    pub fn false_positive_bound(&self) -> f64 {
        self.false_positive_bound_at(self.radius)
    }

    /// The union bound on the probability that a uniformly random word lies within `radius` bits
    /// of a valid codeword: what a caller that accepts only closer codewords (fewer
    /// [`Found::corrected_bits`]) risks per word.
    pub fn false_positive_bound_at(&self, radius: usize) -> f64 {
        let log2_valid = (self.versions.len() as f64).log2() + TAG_BITS as f64;
        bound::false_positive_bound(self.n_bits, log2_valid, radius)
    }

    /// The channel word for `tag` under scheme 1.
    pub fn encode(&self, tag: Tag) -> ChannelBits {
        let (_, offset) = self.versions[0];
        ChannelBits {
            words: osd::xor(&offset, &self.tag_word(tag)),
            len: self.n_bits,
        }
    }

    /// Decodes hard bits (no confidences): stages clean and algebraic only.
    pub fn decode_hard(&self, bits: &ChannelBits) -> Result<Decoding, CodecError> {
        self.check_len(bits.len())?;
        Ok(self
            .clean(bits.words)
            .unwrap_or_else(|| self.decode_word(bits.words, None)))
    }

    /// Decodes per-bit log-likelihood ratios ln P(1)/P(0), i.e. the decoder network's logits:
    /// positive means 1, the magnitude is the confidence.
    pub fn decode_soft(&self, llr: &[f32]) -> Result<Decoding, CodecError> {
        self.check_len(llr.len())?;
        let mut hard = [0u64; WORDS];
        for (j, &l) in llr.iter().enumerate() {
            if l.is_nan() {
                return Err(CodecError::NotANumber { index: j });
            }
            if l > 0.0 {
                osd::set_bit(&mut hard, j);
            }
        }
        // most words from tagged, unattacked images are clean: skip the reliabilities
        if let Some(clean) = self.clean(hard) {
            return Ok(clean);
        }
        let reliability: Vec<f32> = llr.iter().map(|l| l.abs().min(MAX_LLR)).collect();
        Ok(self.decode_word(hard, Some(&reliability)))
    }

    /// Decodes per-bit probabilities P(bit = 1), e.g. a sigmoid's output.
    pub fn decode_probabilities(&self, p: &[f32]) -> Result<Decoding, CodecError> {
        self.check_len(p.len())?;
        let llr = p
            .iter()
            .enumerate()
            .map(|(index, &value)| {
                if value.is_nan() {
                    Err(CodecError::NotANumber { index })
                } else if !(0.0..=1.0).contains(&value) {
                    Err(CodecError::ProbabilityOutOfRange { index, value })
                } else {
                    Ok((value / (1.0 - value)).ln())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.decode_soft(&llr)
    }

    fn check_len(&self, actual: usize) -> Result<(), CodecError> {
        if actual == self.n_bits {
            Ok(())
        } else {
            Err(CodecError::WrongLength {
                expected: self.n_bits,
                actual,
            })
        }
    }

    /// Σ over tag bytes of their RS codeword bits (unwhitened, header 0).
    fn tag_word(&self, tag: Tag) -> Word {
        tag.to_bytes()
            .iter()
            .zip(&self.byte_tables)
            .fold([0u64; WORDS], |acc, (&b, table)| {
                osd::xor(&acc, &table[b as usize])
            })
    }

    /// The tag in the systematic positions of a channel word, once the version offset is removed.
    fn systematic_tag(&self, channel: &Word, offset: &Word) -> Tag {
        // symbols 1..9 are bits 8..72: the tag's 64 bits straddle the first two words
        let plain = osd::xor(channel, offset);
        Tag::new((plain[0] << SYMBOL_BITS) | (plain[1] >> (64 - SYMBOL_BITS)))
    }

    /// The decoding of a word that is already a valid codeword, if it is one.
    fn clean(&self, hard: Word) -> Option<Decoding> {
        let clean = self.versions.iter().find_map(|&(version, offset)| {
            let tag = self.systematic_tag(&hard, &offset);
            (osd::xor(&offset, &self.tag_word(tag)) == hard).then_some(Candidate {
                channel: hard,
                version,
                offset,
                distance: 0,
                discrepancy: 0.0,
                stage: Stage::Clean,
            })
        })?;
        Some(self.decoding(hard, Some(clean), 0))
    }

    fn decode_word(&self, hard: Word, reliability: Option<&[f32]>) -> Decoding {
        let mut best: Option<Candidate> = None;
        let mut nearest = usize::MAX;
        let mut osd_nearest = usize::MAX;
        'versions: for &(version, offset) in &self.versions {
            let mut consider = |channel: Word, stage: Stage, best: &mut Option<Candidate>| {
                let diff = osd::xor(&channel, &hard);
                let distance = osd::weight(&diff);
                nearest = nearest.min(distance);
                if distance > self.radius {
                    return;
                }
                let discrepancy =
                    reliability.map_or(distance as f32, |r| osd::discrepancy(&diff, r));
                if best.is_none_or(|b| discrepancy < b.discrepancy) {
                    *best = Some(Candidate {
                        channel,
                        version,
                        offset,
                        distance,
                        discrepancy,
                        stage,
                    });
                }
            };
            let done =
                |best: &Option<Candidate>| best.is_some_and(|b| b.distance <= self.early_exit);

            // 1. clean words were handled by `clean`
            // 2. algebraic, header forced to this version
            let mut symbols = word_to_symbols(&osd::xor(&hard, &self.whitening), self.rs.n());
            symbols[0] = version.number();
            if let Some(c) = self.rs.decode(&symbols, &[]) {
                self.consider_rs(&c.codeword, version, Stage::Algebraic, &mut |w, s| {
                    consider(w, s, &mut best)
                });
            }
            let Some(reliability) = reliability else {
                continue;
            };
            if done(&best) {
                break 'versions;
            }

            // 3. erasures of the least reliable symbols (never the known header)
            let mut order: Vec<(usize, f32)> = (1..self.rs.n())
                .map(|i| {
                    (
                        i,
                        symbol_unreliability(&reliability[i * SYMBOL_BITS..(i + 1) * SYMBOL_BITS]),
                    )
                })
                .collect();
            order.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
            let order: Vec<usize> = order.into_iter().map(|(i, _)| i).collect();
            for e in 1..=self.rs.parity_len() {
                if let Some(c) = self.rs.decode(&symbols, &order[..e]) {
                    self.consider_rs(&c.codeword, version, Stage::Erasures, &mut |w, s| {
                        consider(w, s, &mut best)
                    });
                }
            }
            if done(&best) {
                break 'versions;
            }

            // 4. ordered-statistics decoding in the coset of this version
            if self.config.osd_order > 0 {
                let target = osd::xor(&hard, &offset);
                let search = osd::search(
                    &self.tag_basis,
                    self.n_bits,
                    &target,
                    reliability,
                    self.config.osd_order,
                    self.radius,
                );
                osd_nearest = osd_nearest.min(search.nearest);
                if let Some(c) = search.best {
                    consider(osd::xor(&c.codeword, &offset), Stage::Osd, &mut best);
                }
            }
        }

        self.decoding(hard, best, nearest.min(osd_nearest))
    }

    /// The outcome for hard decisions `hard`, the accepted candidate (if any) and the smallest
    /// Hamming distance met (`usize::MAX`: none).
    fn decoding(&self, hard: Word, best: Option<Candidate>, nearest: usize) -> Decoding {
        let found = best.map(|b| Found {
            tag: self.systematic_tag(&b.channel, &b.offset),
            version: b.version,
            codeword: ChannelBits {
                words: b.channel,
                len: self.n_bits,
            },
            corrected_symbols: word_to_symbols(&osd::xor(&b.channel, &hard), self.rs.n())
                .iter()
                .filter(|&&s| s != 0)
                .count(),
            corrected_bits: b.distance,
            stage: b.stage,
        });
        Decoding {
            hard_bits: ChannelBits {
                words: hard,
                len: self.n_bits,
            },
            found,
            nearest_distance: (nearest != usize::MAX).then_some(nearest),
        }
    }

    /// Passes an RS codeword on as channel bits if its header is this version.
    fn consider_rs(
        &self,
        codeword: &[u8],
        version: SchemeVersion,
        stage: Stage,
        consider: &mut dyn FnMut(Word, Stage),
    ) {
        if codeword[0] == version.number() {
            consider(osd::xor(&symbols_to_word(codeword), &self.whitening), stage);
        }
    }
}

/// −ln P(every bit of a symbol is right) for bits with these |LLR|s: Σ ln(1 + e^−|l|).
fn symbol_unreliability(reliability: &[f32]) -> f32 {
    reliability.iter().map(|&r| (-r).exp().ln_1p()).sum()
}

fn symbols_to_word(symbols: &[u8]) -> Word {
    let mut bytes = [0u8; WORDS * 8];
    bytes[..symbols.len()].copy_from_slice(symbols);
    std::array::from_fn(|i| {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[i * 8..(i + 1) * 8]);
        u64::from_be_bytes(chunk)
    })
}

fn word_to_symbols(word: &Word, n: usize) -> Vec<u8> {
    word.iter().flat_map(|w| w.to_be_bytes()).take(n).collect()
}

/// SplitMix64 (Steele, Lea and Flood, 2014): the workspace's one fixed, dependency-free
/// generator, for sequences that must never change with a library version (the codec's
/// whitening, the classical scheme's slot layout, the training's per-step seeds).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The increment: 2⁶⁴ divided by the golden ratio, odd.
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator whose first output is `mix(seed + GAMMA)`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        Self::mix(self.0)
    }

    /// SplitMix64's output function: a bijection that spreads every input bit over the output.
    pub const fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// SplitMix64 from [`WHITENING_SEED`], first `n_bits` bits.
fn whitening_sequence(n_bits: usize) -> Word {
    let mut rng = SplitMix64::new(WHITENING_SEED);
    let mut words: Word = std::array::from_fn(|_| rng.next_u64());
    for j in n_bits..MAX_CHANNEL_BITS {
        words[j / 64] &= !(1u64 << (63 - j % 64));
    }
    words
}

#[cfg(test)]
mod tests;
