//! Peak resident memory of embedding and decoding one photo per size, on the flex backend: the
//! process's high-water mark (Linux `VmHWM`) after each size, sizes in increasing order, so each
//! line is the peak up to and including that size. Host memory only: on a GPU backend the
//! device's memory would need the driver's counters, so this bench stays on flex.
//!
//! `cargo bench --bench memory`

#![allow(clippy::unwrap_used)]

use faketagger::model::Backend;
use faketagger::{Tag, Tagger};

mod common;
use common::photo;

fn high_water_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here
    let tagger = Tagger::builtin(&Backend::Flex.device().unwrap()).unwrap();
    println!(
        "peak resident memory (flex), after loading the networks: {:.0} MiB",
        high_water_mib().unwrap_or(f64::NAN)
    );
    for side in [128u32, 512, 1024, 2048, 4096] {
        let tagged = tagger.embed(&photo(side), Tag::new(7), 1.0).unwrap();
        let found = tagger.decode(&tagged.image).unwrap();
        assert_eq!(found.tag, Some(Tag::new(7)));
        println!(
            "{side:>5} px: peak {:.0} MiB (the photo alone: {:.0} MiB as 8-bit RGB)",
            high_water_mib().unwrap_or(f64::NAN),
            f64::from(side) * f64::from(side) * 3.0 / (1 << 20) as f64
        );
    }
}
