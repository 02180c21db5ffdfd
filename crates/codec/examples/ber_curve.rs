//! Exact-tag recovery versus raw bit error rate, hard and soft decoding.
//!
//! ```text
//! cargo run --release -p faketagger-codec --example ber_curve -- [--symbols 32] [--trials 2000] [--seed 1]
//! ```
//!
//! Hard: each bit flipped independently with probability p, decoded from hard bits.
//! Soft: a binary-input Gaussian channel whose σ gives the same raw error rate p (Q(1/σ) = p),
//! decoded from its log-likelihood ratios with erasures only (no OSD), OSD order 2 (the default)
//! and OSD order 3. A wrongly accepted tag counts as a failure and is reported separately.

use std::time::Instant;

use faketagger_codec::{ChannelBits, Codec, CodecConfig, Tag};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a number, got {v}"))
            })
            .unwrap_or(default)
    };
    let symbols = arg("--symbols", 32) as usize;
    let trials = arg("--trials", 2000) as usize;
    let seed = arg("--seed", 1);

    let make = |osd_order| {
        Codec::new(CodecConfig {
            symbols,
            osd_order,
            ..CodecConfig::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let decoders = [
        ("soft, erasures only", make(0)),
        ("soft, OSD-2 (default)", make(2)),
        ("soft, OSD-3", make(3)),
    ];
    let hard = make(2);
    let n = hard.channel_bits();
    println!(
        "N = {n} channel bits, acceptance radius R = {} (false-positive bound {:.1e}), {trials} trials per cell, seed {seed}\n",
        hard.acceptance_radius(),
        hard.false_positive_bound()
    );
    print!("| raw BER | hard |");
    for (name, _) in &decoders {
        print!(" {name} |");
    }
    println!();
    println!("|---|---|{}", "---|".repeat(decoders.len()));

    let mut rng = StdRng::seed_from_u64(seed);
    let mut wrong_total = 0;
    let mut micros = vec![0f64; decoders.len() + 1];
    let mut decodes = 0usize;
    for percent in (0..=25).filter(|p| p % 5 == 0 || (6..=15).contains(p)) {
        let p = f64::from(percent) / 100.0;
        let sigma = sigma_for_ber(p);
        let mut ok = vec![0usize; decoders.len() + 1];
        for _ in 0..trials {
            let tag = Tag::new(rng.random());
            let bits = hard.encode(tag);

            let flipped: Vec<bool> = bits.iter().map(|b| b ^ rng.random_bool(p)).collect();
            let received = ChannelBits::from_bools(&flipped).unwrap_or_else(|e| panic!("{e}"));
            let start = Instant::now();
            let d = hard
                .decode_hard(&received)
                .unwrap_or_else(|e| panic!("{e}"));
            micros[0] += start.elapsed().as_secs_f64() * 1e6;
            score(d.tag(), tag, &mut ok[0], &mut wrong_total);

            let llr: Vec<f32> = bits
                .iter()
                .map(|b| {
                    let y = if b { 1.0 } else { -1.0 } + sigma * normal(&mut rng);
                    // σ = 0: a noiseless channel, saturate
                    if sigma > 0.0 {
                        (2.0 * y / (sigma * sigma)) as f32
                    } else {
                        y as f32 * 1e4
                    }
                })
                .collect();
            for (i, (_, codec)) in decoders.iter().enumerate() {
                let start = Instant::now();
                let d = codec.decode_soft(&llr).unwrap_or_else(|e| panic!("{e}"));
                micros[i + 1] += start.elapsed().as_secs_f64() * 1e6;
                score(d.tag(), tag, &mut ok[i + 1], &mut wrong_total);
            }
            decodes += 1;
        }
        print!("| {percent}% |");
        for count in ok {
            print!(" {:.2}% |", 100.0 * count as f64 / trials as f64);
        }
        println!();
    }
    print!(
        "\nmean decode time (µs), all rows: hard {:.1}",
        micros[0] / decodes as f64
    );
    for (i, (name, _)) in decoders.iter().enumerate() {
        print!(", {name} {:.1}", micros[i + 1] / decodes as f64);
    }
    println!("\nwrong tags accepted: {wrong_total}");
}

fn score(got: Option<Tag>, sent: Tag, ok: &mut usize, wrong: &mut usize) {
    match got {
        Some(t) if t == sent => *ok += 1,
        Some(_) => *wrong += 1,
        None => {}
    }
}

/// σ with Q(1/σ) = p, by bisection on Q.
fn sigma_for_ber(p: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, 40.0f64); // x = 1/σ; Q decreasing in x
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if q_function(mid) > p {
            lo = mid
        } else {
            hi = mid
        }
    }
    1.0 / (0.5 * (lo + hi))
}

/// Q(x) = erfc(x/√2)/2, with erfc from Numerical Recipes' Chebyshev fit (|error| < 1.2e-7).
fn q_function(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z.abs());
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if z >= 0.0 { erfc } else { 2.0 - erfc }
}

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
