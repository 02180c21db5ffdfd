//! The decode path on arbitrary bytes, as `faketagger decode --faces all` runs it: the reader,
//! then the shipped model's whole-photo read with its crop search, the face detector, and each
//! face aligned and read; then the classical baseline's read. Images are kept small (the reader
//! refuses more than 128² pixels here) so that one execution stays under a second.

use std::sync::OnceLock;

use faketagger::faces::{DetectOptions, Detector, builtin_detector};
use faketagger::{FaceMode, Tagger};

const MAX_PIXELS: u64 = 128 * 128;

struct Engine {
    learned: Tagger,
    classic: Tagger,
    detector: Detector,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let device = faketagger::model::Backend::Flex
            .device()
            .expect("the CPU device");
        Engine {
            learned: Tagger::builtin(&device).expect("the built-in model"),
            classic: Tagger::classic(),
            detector: builtin_detector(&device).expect("the built-in detector"),
        }
    })
}

fn main() {
    // a panic leaves no state behind that a later input reads: the networks are only read
    let engine = std::panic::AssertUnwindSafe(engine());
    afl::fuzz!(|data: &[u8]| {
        let engine = &*engine; // the wrapper, not its fields, goes into the closure
        let Ok(loaded) = faketagger::io::read_image_bytes(data, "fuzz.input", MAX_PIXELS) else {
            return;
        };
        let options = DetectOptions::default();
        // errors (an image smaller than the model reads) are outcomes; panics are findings
        if let Ok(read) = engine.learned.decode_with_faces(
            &loaded.image,
            Some(&engine.detector),
            FaceMode::All,
            &options,
        ) {
            for face in &read.faces {
                assert!(face.detection.confidence.is_finite());
            }
            assert!(read.photo.confidence.is_finite());
        }
        let _ = engine.classic.decode(&loaded.image);
    });
}
