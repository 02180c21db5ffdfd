//! The engine's embed and decode of one photo, in one process, as the Python package runs them
//! (`crates/python/src/lib.rs`: faces found and tagged, the tag checked in memory; the whole photo
//! read, then its faces when it has no tag): the reference for the package's overhead (issue 21,
//! `crates/python/benches/overhead.py`). Prints the median of `REPEAT` runs after a warm-up (and the tagged decode's fastest run, the
//! figure least moved by the machine's drift).
//!
//! `cargo run --release --example in_process -- PHOTO [REPEAT]`

use std::time::Instant;

use faketagger::faces::{builtin_detector, faces_to_tag};
use faketagger::{DEFAULT_STRENGTH, FaceMode, FaceTagging, Tag, Tagger, io, provenance};

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: in_process PHOTO [REPEAT]")?;
    let repeat: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let device = faketagger::model::Backend::Flex.device()?;
    let tagger = Tagger::builtin(&device)?;
    let detector = builtin_detector(&device)?;
    let options = faketagger::faces::default_detect_options();
    let photo = io::read_image(path.as_ref())?.image;
    let tag = Tag::new(0x0123_4567_89ab_cdef);
    let embed = || -> Result<_, faketagger::Error> {
        let found = faces_to_tag(FaceTagging::Auto, Some(&detector), &photo, &options)?;
        provenance::tag_photo(
            &tagger,
            &photo,
            "<image>".as_ref(),
            DEFAULT_STRENGTH,
            FaceTagging::Auto.sites(&found),
            None,
            provenance::TagSource::Given(tag),
            false,
            None,
        )
    };
    let tagged = embed()?.embedded.image;
    let decode = |image| tagger.decode_with_faces(image, Some(&detector), FaceMode::Auto, &options);
    decode(&tagged)?;
    let time = |f: &dyn Fn() -> Result<(), faketagger::Error>| -> Result<f64, faketagger::Error> {
        let start = Instant::now();
        f()?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    let embed_ms = (0..repeat)
        .map(|_| time(&|| embed().map(drop)))
        .collect::<Result<Vec<_>, _>>()?;
    let decode_ms = (0..repeat)
        .map(|_| time(&|| decode(&tagged).map(drop)))
        .collect::<Result<Vec<_>, _>>()?;
    let untagged_ms = (0..repeat)
        .map(|_| time(&|| decode(&photo).map(drop)))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "{{\"width\":{},\"height\":{},\"embed_ms\":{:.1},\"decode_ms\":{:.1},\"decode_untagged_ms\":{:.1},\"decode_min_ms\":{:.2}}}",
        photo.width(),
        photo.height(),
        median(embed_ms),
        median(decode_ms.clone()),
        median(untagged_ms),
        decode_ms.iter().copied().fold(f64::INFINITY, f64::min)
    );
    Ok(())
}
