//! Seeded tests: the fast decoder against a slow linear-algebra reference, round trips, soft
//! decoding on a Gaussian channel, and the false-positive rate on random words.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reed_solomon_erasure::galois_8 as ref_gf;

use super::*;

/// Slow reference decoder, independent of `rs.rs`: it tries error-position sets S of growing size
/// and solves the syndrome equations Σ_{i ∈ E ∪ S} x_i X_i^j = S_j by Gaussian elimination over
/// GF(2^8), with the field arithmetic of the reed-solomon-erasure crate.
fn reference_decode(n: usize, k: usize, received: &[u8], erasures: &[usize]) -> Option<Vec<u8>> {
    let nsym = n - k;
    if erasures.len() > nsym {
        return None;
    }
    let alpha_pow = |e: usize| ref_gf::exp(2, e % 255);
    let syndromes: Vec<u8> = (0..nsym)
        .map(|j| {
            (0..n).fold(0u8, |acc, i| {
                ref_gf::add(acc, ref_gf::mul(received[i], alpha_pow(j * (n - 1 - i))))
            })
        })
        .collect();
    let max_errors = (nsym - erasures.len()) / 2;
    let others: Vec<usize> = (0..n).filter(|i| !erasures.contains(i)).collect();
    for size in 0..=max_errors {
        let mut found = None;
        for_each_subset(&others, size, &mut |subset| {
            if found.is_some() {
                return;
            }
            let unknowns: Vec<usize> = erasures.iter().chain(subset).copied().collect();
            if let Some(x) = solve_syndromes(n, &unknowns, &syndromes, &alpha_pow) {
                let mut c = received.to_vec();
                for (&p, &v) in unknowns.iter().zip(&x) {
                    c[p] = ref_gf::add(c[p], v);
                }
                found = Some(c);
            }
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

fn for_each_subset(items: &[usize], size: usize, f: &mut dyn FnMut(&[usize])) {
    fn go(
        items: &[usize],
        size: usize,
        start: usize,
        acc: &mut Vec<usize>,
        f: &mut dyn FnMut(&[usize]),
    ) {
        if acc.len() == size {
            f(acc);
            return;
        }
        for i in start..items.len() {
            acc.push(items[i]);
            go(items, size, i + 1, acc, f);
            acc.pop();
        }
    }
    go(items, size, 0, &mut Vec::new(), f);
}

/// Solves the nsym × |U| system; `None` if inconsistent.
fn solve_syndromes(
    n: usize,
    unknowns: &[usize],
    syndromes: &[u8],
    alpha_pow: &dyn Fn(usize) -> u8,
) -> Option<Vec<u8>> {
    let cols = unknowns.len();
    let mut m: Vec<Vec<u8>> = (0..syndromes.len())
        .map(|j| {
            let mut row: Vec<u8> = unknowns
                .iter()
                .map(|&p| alpha_pow(j * (n - 1 - p)))
                .collect();
            row.push(syndromes[j]);
            row
        })
        .collect();
    let mut pivot_row = 0;
    let mut pivot_cols = Vec::new();
    for col in 0..cols {
        let Some(r) = (pivot_row..m.len()).find(|&r| m[r][col] != 0) else {
            continue;
        };
        m.swap(pivot_row, r);
        let scale = ref_gf::div(1, m[pivot_row][col]);
        for v in m[pivot_row].iter_mut() {
            *v = ref_gf::mul(*v, scale);
        }
        let pr = m[pivot_row].clone();
        for (r2, row) in m.iter_mut().enumerate() {
            if r2 != pivot_row && row[col] != 0 {
                let f = row[col];
                for (v, &p) in row.iter_mut().zip(&pr) {
                    *v = ref_gf::add(*v, ref_gf::mul(f, p));
                }
            }
        }
        pivot_cols.push(col);
        pivot_row += 1;
    }
    if m[pivot_row..].iter().any(|row| row[cols] != 0) {
        return None;
    }
    let mut x = vec![0u8; cols];
    for (r, &c) in pivot_cols.iter().enumerate() {
        x[c] = m[r][cols];
    }
    Some(x)
}

fn random_codeword(rs: &ReedSolomon, rng: &mut StdRng) -> Vec<u8> {
    let message: Vec<u8> = (0..rs.k()).map(|_| rng.random()).collect();
    rs.encode(&message)
}

/// Distinct random positions.
fn positions(rng: &mut StdRng, n: usize, count: usize, exclude: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    while out.len() < count {
        let p = rng.random_range(0..n);
        if !out.contains(&p) && !exclude.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[test]
fn encoder_output_is_a_codeword_with_the_message_in_front() {
    let mut rng = StdRng::seed_from_u64(1);
    for n in [11, 16, 32, 64, 255] {
        let rs = ReedSolomon::new(n, 9);
        let c = random_codeword(&rs, &mut rng);
        assert!(rs.syndromes(&c).iter().all(|&s| s == 0), "n={n}");
        // any other word with the same message differs from a codeword
        let mut d = c.clone();
        d[n - 1] ^= 1;
        assert!(rs.syndromes(&d).iter().any(|&s| s != 0));
    }
}

#[test]
fn algebraic_decoder_matches_the_slow_reference() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut agreed_successes = 0;
    for trial in 0..3000 {
        let (n, k) = [(12, 4), (16, 9), (20, 9), (14, 9)][trial % 4];
        let rs = ReedSolomon::new(n, k);
        let nsym = n - k;
        let c = random_codeword(&rs, &mut rng);
        let count = rng.random_range(0..=nsym);
        let erasures = positions(&mut rng, n, count, &[]);
        // up to two errors past the correction capacity, to exercise failures too
        let capacity = (nsym - erasures.len()) / 2;
        let errors = rng.random_range(0..=capacity + 2).min(n - erasures.len());
        let error_positions = positions(&mut rng, n, errors, &erasures);
        let mut r = c.clone();
        for &p in &erasures {
            r[p] = rng.random();
        }
        for &p in &error_positions {
            r[p] ^= rng.random_range(1..=255u8);
        }
        let fast = rs.decode(&r, &erasures).map(|d| d.codeword);
        let slow = reference_decode(n, k, &r, &erasures);
        assert_eq!(
            fast,
            slow,
            "trial {trial}: n={n} e={} v={errors}",
            erasures.len()
        );
        if errors <= capacity {
            assert_eq!(fast.as_ref(), Some(&c), "trial {trial} within capacity");
            agreed_successes += 1;
        }
    }
    assert!(
        agreed_successes > 1500,
        "too few in-capacity trials: {agreed_successes}"
    );
}

#[test]
fn scheme_one_decoder_matches_the_reference_with_many_erasures() {
    // n = 32 itself; enough erasures that the reference's subset search stays small.
    let mut rng = StdRng::seed_from_u64(3);
    let rs = ReedSolomon::new(32, 9);
    for trial in 0..200 {
        let c = random_codeword(&rs, &mut rng);
        let count = rng.random_range(15..=23);
        let erasures = positions(&mut rng, 32, count, &[]);
        let errors = rng.random_range(0..=(23 - erasures.len()) / 2 + 1);
        let error_positions = positions(&mut rng, 32, errors, &erasures);
        let mut r = c.clone();
        for &p in &error_positions {
            r[p] ^= rng.random_range(1..=255u8);
        }
        for &p in &erasures {
            r[p] = 0;
        }
        let fast = rs.decode(&r, &erasures);
        assert_eq!(
            fast.as_ref().map(|d| &d.codeword),
            reference_decode(32, 9, &r, &erasures).as_ref(),
            "trial {trial}"
        );
        if 2 * errors + erasures.len() <= 23 {
            let fast = fast.unwrap_or_else(|| panic!("trial {trial} within capacity failed"));
            assert_eq!(fast.codeword, c);
            let truly_changed = (0..32).filter(|&i| r[i] != c[i]).count();
            assert_eq!(fast.changed, truly_changed);
        }
    }
}

#[test]
fn full_capacity_errors_are_corrected_at_scheme_one() {
    let mut rng = StdRng::seed_from_u64(4);
    let rs = ReedSolomon::new(32, 9);
    for _ in 0..300 {
        let c = random_codeword(&rs, &mut rng);
        let mut r = c.clone();
        for p in positions(&mut rng, 32, 11, &[]) {
            r[p] ^= rng.random_range(1..=255u8);
        }
        let d = rs.decode(&r, &[]).expect("11 errors are within capacity");
        assert_eq!(d.codeword, c);
        assert_eq!(d.changed, 11);
    }
}

#[test]
fn default_configuration_is_scheme_one() {
    let codec = Codec::v1();
    assert_eq!(codec.channel_bits(), 256);
    assert_eq!(codec.acceptance_radius(), 46);
    assert!(codec.false_positive_bound() <= 1e-6);
    assert!(
        codec.false_positive_bound() > 1e-8,
        "radius should be as large as the bound allows"
    );
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    for symbols in [0, 9, 10, 33, 300] {
        let err = Codec::new(CodecConfig {
            symbols,
            ..CodecConfig::default()
        })
        .unwrap_err();
        assert!(
            matches!(err, CodecError::BadConfig { .. }),
            "{symbols}: {err}"
        );
    }
    // 128 bits carry a 64-bit tag but cannot meet a 1e-30 false-positive bound
    let err = Codec::new(CodecConfig {
        symbols: 16,
        max_false_positive: 1e-30,
        ..CodecConfig::default()
    });
    assert!(err.unwrap_err().to_string().contains("more symbols"));
    for max_false_positive in [0.0, 1.0, f64::NAN] {
        assert!(
            Codec::new(CodecConfig {
                max_false_positive,
                ..CodecConfig::default()
            })
            .is_err()
        );
    }
}

#[test]
fn table_encoder_agrees_with_polynomial_encoder_and_whitening() {
    let codec = Codec::v1();
    let rs = ReedSolomon::new(32, 9);
    let whitening = whitening_sequence(256);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..200 {
        let tag = Tag::new(rng.random());
        let mut message = vec![SchemeVersion::V1.number()];
        message.extend_from_slice(&tag.to_bytes());
        let expected = osd::xor(&symbols_to_word(&rs.encode(&message)), &whitening);
        assert_eq!(codec.encode(tag).words, expected);
    }
    // whitening is balanced enough to matter: roughly half the bits set
    let ones = osd::weight(&whitening);
    assert!((100..=156).contains(&ones), "{ones}");
}

#[test]
fn clean_words_round_trip_hard_and_soft() {
    let codec = Codec::v1();
    let mut rng = StdRng::seed_from_u64(6);
    for tag in [Tag::new(0), Tag::new(u64::MAX)]
        .into_iter()
        .chain((0..500).map(|_| Tag::new(rng.random())))
    {
        let bits = codec.encode(tag);
        let hard = codec.decode_hard(&bits).unwrap();
        let found = hard.found.expect("clean word");
        assert_eq!(
            (found.tag, found.stage, found.corrected_bits),
            (tag, Stage::Clean, 0)
        );
        assert_eq!(found.version, SchemeVersion::V1);
        assert_eq!(hard.confidence(), 1.0);
        let llr: Vec<f32> = bits.iter().map(|b| if b { 3.0 } else { -3.0 }).collect();
        assert_eq!(codec.decode_soft(&llr).unwrap().tag(), Some(tag));
    }
}

#[test]
fn hard_decoding_corrects_scattered_symbol_errors() {
    let codec = Codec::v1();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let tag = Tag::new(rng.random());
        let bits = codec.encode(tag);
        let mut flipped: Vec<bool> = bits.iter().collect();
        // 11 symbols hit (the header included at times), several bits each
        for s in positions(&mut rng, 32, 11, &[]) {
            for b in 0..8 {
                if rng.random_bool(0.5) || b == 0 {
                    flipped[s * 8 + b] ^= true;
                }
            }
        }
        let received = ChannelBits::from_bools(&flipped).unwrap();
        let distance = received.distance(&bits).unwrap();
        let d = codec.decode_hard(&received).unwrap();
        if distance <= codec.acceptance_radius() {
            let found = d.found.expect("within capacity and radius");
            assert_eq!(found.tag, tag);
            assert_eq!(found.corrected_bits, distance);
            assert_eq!(found.codeword, bits);
        } else {
            assert_eq!(d.tag(), None, "beyond the radius must not be accepted");
        }
    }
}

/// Logits of a binary-input Gaussian channel with raw bit error rate `ber` (σ from Q(1/σ) = ber).
pub(crate) fn gaussian_llr(bits: &ChannelBits, sigma: f32, rng: &mut StdRng) -> Vec<f32> {
    bits.iter()
        .map(|b| {
            let x = if b { 1.0 } else { -1.0 };
            let y = x + sigma * standard_normal(rng);
            2.0 * y / (sigma * sigma)
        })
        .collect()
}

fn standard_normal(rng: &mut StdRng) -> f32 {
    // Box–Muller
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[test]
fn soft_decoding_recovers_tags_at_ten_percent_raw_errors() {
    // σ = 0.7803 gives Q(1/σ) = 10% raw bit errors.
    let codec = Codec::v1();
    let mut rng = StdRng::seed_from_u64(8);
    let trials = 400;
    let mut ok = 0;
    let mut raw_errors = 0;
    for _ in 0..trials {
        let tag = Tag::new(rng.random());
        let bits = codec.encode(tag);
        let llr = gaussian_llr(&bits, 0.7803, &mut rng);
        let d = codec.decode_soft(&llr).unwrap();
        raw_errors += d.hard_bits.distance(&bits).unwrap();
        if let Some(t) = d.tag() {
            assert_eq!(t, tag, "a wrong tag was accepted");
            ok += 1;
        }
    }
    let ber = raw_errors as f64 / (trials * 256) as f64;
    assert!((0.09..0.11).contains(&ber), "channel BER {ber}");
    assert!(
        ok >= trials * 98 / 100,
        "{ok}/{trials} recovered at BER {ber}"
    );
}

#[test]
fn erasure_stage_handles_symbols_marked_unreliable() {
    // 14 symbols with 3 wrong bits each (42 bits, inside the radius), flagged by tiny |llr|:
    // beyond errors-only capacity (11 symbols), within erasure capacity (23).
    let codec = Codec::new(CodecConfig {
        osd_order: 0,
        ..CodecConfig::default()
    })
    .unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..100 {
        let tag = Tag::new(rng.random());
        let bits = codec.encode(tag);
        let mut llr: Vec<f32> = bits.iter().map(|b| if b { 5.0 } else { -5.0 }).collect();
        for s in positions(&mut rng, 31, 14, &[]).into_iter().map(|s| s + 1) {
            let wrong = positions(&mut rng, 8, 3, &[]);
            for b in 0..8 {
                let j = s * 8 + b;
                let sign = if wrong.contains(&b) {
                    -llr[j].signum()
                } else {
                    llr[j].signum()
                };
                llr[j] = 0.1 * sign;
            }
        }
        let d = codec.decode_soft(&llr).unwrap();
        let found = d.found.expect("erasures within capacity");
        assert_eq!(found.tag, tag);
        assert_eq!(found.stage, Stage::Erasures);
        assert_eq!((found.corrected_symbols, found.corrected_bits), (14, 42));
    }
}

fn false_positives(codec: &Codec, trials: usize, seed: u64) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut false_tags = 0;
    let mut min_nearest = usize::MAX;
    for i in 0..trials {
        let d = if i % 2 == 0 {
            let llr: Vec<f32> = (0..256).map(|_| standard_normal(&mut rng) * 2.0).collect();
            codec.decode_soft(&llr).unwrap()
        } else {
            let bits: Vec<bool> = (0..256).map(|_| rng.random()).collect();
            codec
                .decode_hard(&ChannelBits::from_bools(&bits).unwrap())
                .unwrap()
        };
        false_tags += usize::from(d.found.is_some());
        if let Some(n) = d.nearest_distance {
            min_nearest = min_nearest.min(n);
        }
    }
    (false_tags, min_nearest)
}

#[test]
fn random_words_decode_to_no_tag() {
    // The bound allows 3e-7 per word; 10^4 words (half soft, half hard) must give none.
    let (false_tags, min_nearest) = false_positives(&Codec::v1(), 10_000, 10);
    assert_eq!(false_tags, 0);
    assert!(
        min_nearest > Codec::v1().acceptance_radius(),
        "nearest {min_nearest}"
    );
}

#[test]
#[ignore = "10^6 random words, about a minute in release: cargo test --release -p faketagger-codec -- --ignored"]
fn a_million_random_words_decode_to_no_tag() {
    let (false_tags, min_nearest) = false_positives(&Codec::v1(), 1_000_000, 11);
    eprintln!("false tags: {false_tags} / 1e6; nearest codeword met: {min_nearest} bits");
    assert_eq!(false_tags, 0);
}

#[test]
fn degenerate_network_outputs_decode_to_no_tag() {
    let codec = Codec::v1();
    for value in [0.0f32, 1.0, -1.0, 100.0, f32::INFINITY, f32::NEG_INFINITY] {
        let d = codec.decode_soft(&[value; 256]).unwrap();
        assert_eq!(d.tag(), None, "constant {value}");
    }
    let alternating: Vec<f32> = (0..256)
        .map(|j| if j % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    assert_eq!(codec.decode_soft(&alternating).unwrap().tag(), None);
    assert_eq!(codec.decode_probabilities(&[0.5; 256]).unwrap().tag(), None);
}

#[test]
fn malformed_input_is_an_error_naming_the_value() {
    let codec = Codec::v1();
    assert_eq!(
        codec.decode_soft(&[0.0; 255]).unwrap_err(),
        CodecError::WrongLength {
            expected: 256,
            actual: 255
        }
    );
    let mut llr = vec![1.0f32; 256];
    llr[17] = f32::NAN;
    assert_eq!(
        codec.decode_soft(&llr).unwrap_err(),
        CodecError::NotANumber { index: 17 }
    );
    let mut p = vec![0.5f32; 256];
    p[3] = 1.5;
    assert_eq!(
        codec.decode_probabilities(&p).unwrap_err(),
        CodecError::ProbabilityOutOfRange {
            index: 3,
            value: 1.5
        }
    );
    let short = ChannelBits::from_bools(&[true; 8]).unwrap();
    assert!(codec.decode_hard(&short).is_err());
    assert!(ChannelBits::from_bools(&[false; 257]).is_err());
    assert_eq!(
        "0120".parse::<ChannelBits>().unwrap_err(),
        CodecError::BadBitString {
            index: 2,
            found: '2'
        }
    );
}

#[test]
fn channel_bits_text_round_trips() {
    let codec = Codec::v1();
    let bits = codec.encode(Tag::new(0xdead_beef_0000_0001));
    let text = bits.to_string();
    assert_eq!(text.len(), 256);
    assert_eq!(text.parse::<ChannelBits>().unwrap(), bits);
}
