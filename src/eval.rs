//! The evaluation harness behind `faketagger eval`: the paper-style table of a tagger on a folder
//! of faces, through the engine exactly as users and platforms run it (embed with its check,
//! decode with its crop search).
//!
//! Each face gets its own tag; the tagged face goes through every probe — a real attack of
//! [`crate::attacks`], a trained DeepFake simulator variant, or a landmark face swap with the
//! next face (both ways) — and is decoded. Per probe: bit accuracy of the channel bits, exact-tag
//! recovery, mean confidence. Overall: PSNR and SSIM of the tagged faces, tags found on the
//! untouched originals (false positives), embed and decode times.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use faketagger_attacks::faceswap::{self, Landmarks};
use faketagger_attacks::{Attack, metrics};
use faketagger_model::Device;
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::Simulator;
use image::DynamicImage;
use image::imageops::FilterType;
use serde::Serialize;

use crate::{Detection, Error, Tag, Tagger};

/// Side of the faces the simulators were trained on.
pub const SIMULATOR_SIDE: u32 = 128;

/// The real attacks of a full evaluation, as `KIND:PARAM` texts: the world's attacks (issue 16:
/// JPEG 4:2:0 as libjpeg writes it, double JPEG, grey copies, borders and canvases, letterboxes,
/// screenshots, turns, filters, palettes, platform pipelines, chains), then the earlier table's
/// rows that differ from them (JPEG 4:4:4) kept for comparison.
pub const STANDARD_ATTACKS: &[&str] = &[
    "identity",
    "jpeg:90",
    "jpeg:70",
    "jpeg:50",
    "jpeg:30",
    "jpeg:90+jpeg:70",
    "webp",
    "webp:50",
    "avif:70",
    "avif:50",
    "avif:30",
    "resize:0.75",
    "resize:0.5",
    "resize:0.25",
    "stretch:1.25/0.8",
    "crop:0.9",
    "crop:0.8",
    "crop:0.6",
    "rotate:2",
    "rotate:3",
    "rotate:5",
    "rotate:10",
    "straighten:3",
    "straighten:5",
    "shift:0.05",
    "border:0.02@white",
    "border:0.1@white",
    "border:0.2@black",
    "border:0.02/0.15/0.08/0.04@white",
    "border:0.1@photo",
    "letterbox:16/9",
    "letterbox:9/16@white",
    "screenshot:1.25",
    "screenshot:0.8",
    "blur:1",
    "blur:2",
    "noise:0.01",
    "noise:0.02",
    "noise:0.05",
    "brightness:1.2",
    "contrast:0.8",
    "saturation:1.5",
    "grey",
    "gamma:0.8",
    "gamma:1.25",
    "sharpen:1",
    "median:1",
    "palette:256",
    "social:0.5",
    "social:1080px",
    "jpeg:90+resize:0.5+jpeg:70",
    "border:0.05@white+jpeg:75",
    "jpeg444:90",
    "jpeg444:70",
    "jpeg444:50",
    "jpeg444:30",
];

/// One face of an evaluation set.
#[derive(Debug, Clone)]
pub struct Face {
    /// Its file name.
    pub name: String,
    /// Its pixels.
    pub image: DynamicImage,
    /// Its five landmarks, when the folder's `meta.csv` has them.
    pub landmarks: Option<Landmarks>,
}

/// Reads the faces of `split` (the `split` column of `DIR/meta.csv`), or every image of the
/// folder when there is no `meta.csv` and no split is asked for; at most `count`, resized to
/// `side`² when given.
pub fn load_faces(
    dir: &Path,
    split: Option<&str>,
    count: Option<usize>,
    side: Option<u32>,
) -> Result<Vec<Face>, Error> {
    let files: Vec<faketagger_attacks::dataset::FaceFile> =
        faketagger_attacks::dataset::list_faces(dir, split)?
            .into_iter()
            .take(count.unwrap_or(usize::MAX))
            .collect();
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    crate::io::map_files(
        &paths,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        crate::io::ReadOptions::default(),
        |l| Ok(l.image.clone()),
    )
    .into_iter()
    .zip(files)
    .map(|(image, file)| {
        let image = image?;
        let (w, h) = (image.width(), image.height());
        let (name, landmarks) = (file.file, file.landmarks);
        Ok(match side {
            Some(side) if (w, h) != (side, side) => Face {
                image: image.resize_exact(side, side, FilterType::Lanczos3),
                landmarks: landmarks.map(|lm| {
                    lm.map(|[x, y]| [x * side as f32 / w as f32, y * side as f32 / h as f32])
                }),
                name,
            },
            _ => Face {
                name,
                image,
                landmarks,
            },
        })
    })
    .collect()
}

/// What a probe does to a tagged face.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A real attack.
    Attack(Attack),
    /// Variant `variant` of simulator number `simulator` (regenerates the face at
    /// [`SIMULATOR_SIDE`]²).
    Simulator {
        /// Index into the simulators given to [`evaluate`].
        simulator: usize,
        /// Which of its renderings (face-swap identity).
        variant: usize,
    },
    /// Another face (the next of the set) pasted over the tagged face, landmark-aligned.
    FaceSwapOver,
    /// The tagged face pasted into another photo (the next of the set).
    FaceSwapInto,
    /// The face pasted into a wider photo (issue 18 §5) covering `share` of its area, the photo
    /// tagged as `embed` does it (`--faces auto`), then the face found by the detector and read
    /// as `read` says.
    InPhoto {
        /// The face crop's share of the photo's area.
        share: f64,
        /// What is done with the face found in the tagged photo.
        read: InPhotoRead,
    },
}

/// What an [`Probe::InPhoto`] probe does with the face it finds in the tagged photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPhotoRead {
    /// Aligned to a square of this side, as DeepFake tools align faces, and decoded.
    Aligned(u32),
    /// Pasted into another photo (the next face of the set, landmark swap), which is decoded.
    Into,
}

/// Size of the wider photos of [`Probe::InPhoto`].
pub const IN_PHOTO_SIZE: (u32, u32) = (1920, 1080);
/// The face's share of the photo an [`Probe::InPhoto`] probe accepts.
pub const IN_PHOTO_SHARES: std::ops::RangeInclusive<f64> = 0.01..=0.5;

/// What [`Probe::InPhoto`] probes need: the face detector and the wider photo the faces are
/// pasted into ([`IN_PHOTO_SIZE`]).
#[derive(Debug)]
pub struct InPhotoSetup {
    /// Finds the faces, as `embed` and a DeepFake tool would.
    pub detector: crate::faces::Detector,
    /// The photo behind the faces.
    pub backdrop: image::RgbImage,
}

/// The bundled public-domain photo (`assets/astronaut.jpg`, see its README).
const ASTRONAUT: &[u8] = include_bytes!("../assets/astronaut.jpg");

impl InPhotoSetup {
    /// The built-in detector, and the bundled astronaut photo cropped to 16:9 and scaled to
    /// [`IN_PHOTO_SIZE`] as the backdrop: a real photo (generated colour fields are a poor
    /// backdrop for v1's whole-photo tag, which never reads clean on them).
    pub fn builtin(device: &Device) -> Result<Self, Error> {
        let photo =
            crate::io::read_image_bytes(ASTRONAUT, "assets/astronaut.jpg", crate::io::MAX_PIXELS)?
                .image;
        let (w, h) = IN_PHOTO_SIZE;
        let strip_h = photo.width() * h / w;
        let strip = photo.crop_imm(
            0,
            photo.height().saturating_sub(strip_h) / 2,
            photo.width(),
            strip_h,
        );
        Ok(Self {
            detector: crate::faces::builtin_detector(device)?,
            backdrop: strip.resize_exact(w, h, FilterType::Lanczos3).to_rgb8(),
        })
    }
}

/// A named probe with its family and strength (for the plot).
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// Row name, e.g. `jpeg:50`.
    pub name: String,
    /// Family, e.g. `jpeg`.
    pub family: String,
    /// The attack's parameter, when it has one.
    pub strength: Option<f64>,
    /// What it does.
    pub probe: Probe,
}

impl ProbeSpec {
    /// The probe a text names: an attack (`jpeg:50`), `faceswap` or `faceswap:into`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let (family, param) = if text.contains('+') {
            ("chain", "")
        } else {
            text.split_once(':').unwrap_or((text, ""))
        };
        let probe = match text {
            "faceswap" => Probe::FaceSwapOver,
            "faceswap:into" => Probe::FaceSwapInto,
            _ if family == "inphoto" => Self::in_photo(text, param)?,
            _ => Probe::Attack(text.parse()?),
        };
        Ok(Self {
            name: text.to_owned(),
            family: family.to_owned(),
            // `border:0.1@white` plots at 0.1; `16/9` and uneven sides have no one strength
            strength: param.split('@').next().and_then(|p| p.parse().ok()),
            probe,
        })
    }

    /// `inphoto:SHARE@SIDE` or `inphoto:SHARE@into`.
    fn in_photo(text: &str, param: &str) -> Result<Probe, Error> {
        let bad = |why: &str| {
            Error::Unsupported(format!(
                "{text:?}: {why} (inphoto:SHARE@SIDE or inphoto:SHARE@into, e.g. inphoto:0.1@224)"
            ))
        };
        let (share, read) = param.split_once('@').ok_or_else(|| bad("no @"))?;
        let share: f64 = share.parse().map_err(|_| bad("SHARE is not a number"))?;
        if !IN_PHOTO_SHARES.contains(&share) {
            return Err(bad("SHARE lies between 0.01 and 0.5"));
        }
        let read = match read {
            "into" => InPhotoRead::Into,
            side => match side.parse::<u32>() {
                Ok(side @ 32..=1024) => InPhotoRead::Aligned(side),
                _ => return Err(bad("SIDE is 32–1024 px")),
            },
        };
        Ok(Probe::InPhoto { share, read })
    }

    /// The face-in-a-photo probes of issue 18: a test face at 5%, 10% and 20% of a 1080p photo,
    /// re-aligned at 112/224/256 px as DeepFake tools do, and moved into another photo.
    pub fn in_photo_standard() -> Vec<Self> {
        ["0.05", "0.1", "0.2"]
            .iter()
            .flat_map(|share| {
                ["112", "224", "256", "into"].map(|read| format!("inphoto:{share}@{read}"))
            })
            .filter_map(|t| Self::parse(&t).ok())
            .collect()
    }

    /// The standard real attacks and both landmark face swaps.
    pub fn standard() -> Vec<Self> {
        STANDARD_ATTACKS
            .iter()
            .chain(&["faceswap", "faceswap:into"])
            .filter_map(|t| Self::parse(t).ok())
            .collect()
    }

    /// One probe per variant of each simulator, named after `labels`.
    pub fn simulators(labels: &[String], sims: &[Simulator]) -> Vec<Self> {
        let mut out = Vec::new();
        for (s, (label, sim)) in labels.iter().zip(sims).enumerate() {
            for variant in 0..sim.variants() {
                let name = if sim.variants() > 1 {
                    format!("{label} #{variant}")
                } else {
                    label.clone()
                };
                out.push(Self {
                    name,
                    family: "simulator".into(),
                    strength: None,
                    probe: Probe::Simulator {
                        simulator: s,
                        variant,
                    },
                });
            }
        }
        out
    }
}

/// How an evaluation runs.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// How faces are looked for in the in-photo rows, and with `faces`.
    pub detect: crate::faces::DetectOptions,
    /// How each face is tagged, as `embed --faces` tags a photo: with
    /// [`crate::FaceTagging::Auto`] the detector's faces get their own residuals (on an aligned
    /// face crop, its inner crop, [`crate::faces::INNER_ZOOM`]) and every read looks at the
    /// faces when the whole photo has no tag, as `decode` reads; [`crate::FaceTagging::Off`]:
    /// the whole photo, read whole. Needs an [`InPhotoSetup`]'s detector unless off.
    pub faces: crate::FaceTagging,
    /// Embedding strength.
    pub strength: f32,
    /// Faces worked on at once.
    pub threads: usize,
    /// Seeds the tags and the random attacks.
    pub seed: u64,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The probe's name.
    pub attack: String,
    /// Its family.
    pub family: String,
    /// Its parameter.
    pub strength: Option<f64>,
    /// Fraction of channel bits read right (over the faces the probe applied to).
    pub bit_accuracy: Option<f64>,
    /// Fraction of faces whose exact tag came back.
    pub exact_tag: Option<f64>,
    /// Mean decoder confidence.
    pub confidence: Option<f64>,
    /// Faces the probe applied to (an attack that would leave an image too small, or a face
    /// swap without landmarks, skips a face).
    pub faces: usize,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Faces evaluated.
    pub faces: usize,
    /// Embedding strength.
    pub strength: f32,
    /// Mean and minimum PSNR of tagged vs original (dB, 8-bit RGB).
    pub psnr_mean: f64,
    /// Minimum PSNR.
    pub psnr_min: f64,
    /// Mean SSIM of tagged vs original.
    pub ssim_mean: f64,
    /// Minimum SSIM.
    pub ssim_min: f64,
    /// Untouched originals on which a tag was found.
    pub false_positives: usize,
    /// `false_positives / faces`.
    pub false_positive_rate: f64,
    /// Mean wall time of one embed (ms), with `threads` faces at once.
    pub embed_ms: f64,
    /// Mean wall time of one decode of a tagged face (ms).
    pub decode_ms: f64,
    /// Mean wall time of one decode of an untagged original (ms; includes the crop search).
    pub decode_untagged_ms: f64,
    /// Faces worked on at once.
    pub threads: usize,
    /// One row per probe.
    pub rows: Vec<Row>,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    bits_right: usize,
    bits: usize,
    exact: usize,
    confidence: f64,
    faces: usize,
}

struct FaceResult {
    psnr: f64,
    ssim: f64,
    false_positive: bool,
    embed_ms: f64,
    decode_ms: f64,
    decode_untagged_ms: f64,
    tallies: Vec<Tally>,
}

/// The tag face `i` carries.
fn tag_for(seed: u64, i: usize) -> Tag {
    Tag::new((seed ^ 0x5eed_0000_0000_0000) ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs every probe on every face; `progress` is called with the number of faces done.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    tagger: &Tagger,
    faces: &[Face],
    probes: &[ProbeSpec],
    simulators: &[Simulator],
    in_photo: Option<&InPhotoSetup>,
    device: &Device,
    options: EvalOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Report, Error> {
    if in_photo.is_none()
        && probes
            .iter()
            .any(|p| matches!(p.probe, Probe::InPhoto { .. }))
    {
        return Err(Error::Unsupported(
            "inphoto probes need an InPhotoSetup (the detector and the backdrop)".into(),
        ));
    }
    if faces.len() < 2 {
        return Err(Error::OutOfRange {
            what: "faces",
            value: faces.len() as f64,
            expected: "at least 2 (face swaps pair each face with the next)",
        });
    }
    let done = AtomicUsize::new(0);
    let results = crate::io::par_map(faces, options.threads, |i, face| {
        let result = evaluate_face(
            tagger, faces, i, face, probes, simulators, in_photo, device, options,
        );
        progress(done.fetch_add(1, Ordering::Relaxed) + 1);
        result
    });
    let results: Vec<FaceResult> = results.into_iter().collect::<Result<_, _>>()?;
    let n = results.len() as f64;
    let mean = |f: fn(&FaceResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    let false_positives = results.iter().filter(|r| r.false_positive).count();
    let rows = probes
        .iter()
        .enumerate()
        .map(|(p, spec)| {
            let t = results.iter().fold(Tally::default(), |mut acc, r| {
                let x = r.tallies[p];
                acc.bits_right += x.bits_right;
                acc.bits += x.bits;
                acc.exact += x.exact;
                acc.confidence += x.confidence;
                acc.faces += x.faces;
                acc
            });
            let per_face = |v: f64| (t.faces > 0).then(|| v / t.faces as f64);
            Row {
                attack: spec.name.clone(),
                family: spec.family.clone(),
                strength: spec.strength,
                bit_accuracy: (t.bits > 0).then(|| t.bits_right as f64 / t.bits as f64),
                exact_tag: per_face(t.exact as f64),
                confidence: per_face(t.confidence),
                faces: t.faces,
            }
        })
        .collect();
    Ok(Report {
        faces: results.len(),
        strength: options.strength,
        psnr_mean: mean(|r| r.psnr),
        psnr_min: results.iter().map(|r| r.psnr).fold(f64::INFINITY, f64::min),
        ssim_mean: mean(|r| r.ssim),
        ssim_min: results.iter().map(|r| r.ssim).fold(f64::INFINITY, f64::min),
        false_positives,
        false_positive_rate: false_positives as f64 / n,
        embed_ms: mean(|r| r.embed_ms),
        decode_ms: mean(|r| r.decode_ms),
        decode_untagged_ms: mean(|r| r.decode_untagged_ms),
        threads: options.threads,
        rows,
    })
}

#[allow(clippy::too_many_arguments)]
fn evaluate_face(
    tagger: &Tagger,
    faces: &[Face],
    i: usize,
    face: &Face,
    probes: &[ProbeSpec],
    simulators: &[Simulator],
    in_photo: Option<&InPhotoSetup>,
    device: &Device,
    options: EvalOptions,
) -> Result<FaceResult, Error> {
    let tag = tag_for(options.seed, i);
    // as `embed` tags and `decode` reads: with the faces unless they are off
    let detector = match options.faces {
        crate::FaceTagging::Off => None,
        _ => Some(
            &in_photo
                .ok_or_else(|| {
                    Error::Unsupported("tagging faces needs an InPhotoSetup's detector".into())
                })?
                .detector,
        ),
    };
    let read = |image: &DynamicImage| -> Result<Detection, Error> {
        Ok(match detector {
            Some(detector) => *tagger
                .decode_with_faces(
                    image,
                    Some(detector),
                    crate::FaceMode::Auto,
                    &options.detect,
                )?
                .detection(),
            None => tagger.decode(image)?,
        })
    };
    let clock = Instant::now();
    let original_detection = read(&face.image)?;
    let decode_untagged_ms = clock.elapsed().as_secs_f64() * 1e3;
    let clock = Instant::now();
    let found = crate::faces::faces_to_tag(options.faces, detector, &face.image, &options.detect)?;
    let tagged = tagger.embed_at(
        &face.image,
        tag,
        options.strength,
        options.faces.sites(&found),
        None,
    )?;
    let embed_ms = clock.elapsed().as_secs_f64() * 1e3;
    let clock = Instant::now();
    read(&tagged.image)?;
    let decode_ms = clock.elapsed().as_secs_f64() * 1e3;
    let ssim = metrics::ssim(&face.image.to_rgb8(), &tagged.image.to_rgb8()).unwrap_or(0.0);
    let other = &faces[(i + 1) % faces.len()];
    let mut tallies = vec![Tally::default(); probes.len()];
    // one tagged wider photo per share, shared by its probes
    let mut photos: Vec<(f64, Option<TaggedPhoto>)> = Vec::new();
    for (p, spec) in probes.iter().enumerate() {
        let seed = options.seed ^ (i as u64) << 8 ^ p as u64;
        let attacked = match &spec.probe {
            // canvases on another photo use the next face of the set as the backdrop
            Probe::Attack(attack) => match attack.apply_on(&tagged.image, seed, Some(&other.image))
            {
                Ok(image) => Some(image),
                Err(faketagger_attacks::AttackError::TooSmall { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            Probe::Simulator { simulator, variant } => match simulators.get(*simulator) {
                Some(sim) => Some(simulate(sim, *variant, &tagged.image, device)),
                None => None,
            },
            Probe::FaceSwapOver => match (face.landmarks, other.landmarks) {
                (Some(lm), Some(other_lm)) => Some(faceswap::face_swap(
                    &tagged.image,
                    &lm,
                    &other.image,
                    &other_lm,
                )?),
                _ => None,
            },
            Probe::FaceSwapInto => match (face.landmarks, other.landmarks) {
                (Some(lm), Some(other_lm)) => Some(faceswap::face_swap(
                    &other.image,
                    &other_lm,
                    &tagged.image,
                    &lm,
                )?),
                _ => None,
            },
            Probe::InPhoto { share, read } => {
                let setup = in_photo.ok_or_else(|| {
                    Error::Unsupported("inphoto probes need an InPhotoSetup".into())
                })?;
                let at = match photos.iter().position(|(s, _)| s == share) {
                    Some(at) => at,
                    None => {
                        let photo = tagged_photo(tagger, setup, face, *share, tag, i, options)?;
                        photos.push((*share, photo));
                        photos.len() - 1
                    }
                };
                match &photos[at].1 {
                    Some(photo) => read_in_photo(photo, *read, other)?,
                    None => None,
                }
            }
        };
        let Some(attacked) = attacked else { continue };
        let d = read(&attacked)?;
        let total = tagged.channel_bits.len();
        let wrong = d
            .channel_bits
            .distance(&tagged.channel_bits)
            .unwrap_or(total);
        tallies[p] = Tally {
            bits_right: total - wrong,
            bits: total,
            exact: usize::from(d.tag == Some(tag)),
            confidence: f64::from(d.confidence),
            faces: 1,
        };
    }
    Ok(FaceResult {
        psnr: tagged.psnr,
        ssim,
        false_positive: original_detection.tag.is_some(),
        embed_ms,
        decode_ms,
        decode_untagged_ms,
        tallies,
    })
}

/// A face tagged in a wider photo, and where a DeepFake tool finds it there.
struct TaggedPhoto {
    image: DynamicImage,
    landmarks: Landmarks,
}

/// `face` pasted into the backdrop covering `share` of it (a seeded spot), the photo tagged as
/// `embed --faces auto` tags it, and the face found again in the tagged photo by the detector
/// (the one whose box centre lies in the pasted crop; the pasted landmarks if none). `None` for a
/// face without landmarks.
fn tagged_photo(
    tagger: &Tagger,
    setup: &InPhotoSetup,
    face: &Face,
    share: f64,
    tag: Tag,
    i: usize,
    options: EvalOptions,
) -> Result<Option<TaggedPhoto>, Error> {
    let Some(landmarks) = face.landmarks else {
        return Ok(None);
    };
    let (w, h) = IN_PHOTO_SIZE;
    let side = (share * f64::from(w) * f64::from(h)).sqrt().round() as u32;
    let mut canvas = setup.backdrop.clone();
    let pasted = faketagger_attacks::composite::scatter(
        &mut canvas,
        &[(&face.image.to_rgb8(), landmarks)],
        &[side],
        options.seed ^ i as u64,
    )?;
    let photo = DynamicImage::ImageRgb8(canvas);
    let detect = options.detect;
    let mode = crate::FaceTagging::Auto.for_scheme(tagger.scheme())?;
    let found = crate::faces::faces_to_tag(mode, Some(&setup.detector), &photo, &detect)?;
    let sites = mode.sites(&found);
    let image = tagger
        .embed_at(&photo, tag, options.strength, sites, None)?
        .image;
    let [x, y, s, _] = pasted[0].crop.map(|v| v as f32);
    let inside = |f: &&crate::faces::Face| {
        let (cx, cy) = ((f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0);
        cx >= x && cx < x + s && cy >= y && cy < y + s
    };
    // the attacker aligns the face at the cascade's landmarks, as the reference MTCNN finds it
    // at its own settings (whatever the engine's `--min-face`)
    let tools = crate::faces::DetectOptions::default();
    let seen = crate::faces::find_faces(&setup.detector, &image, &tools)?;
    let landmarks = seen
        .iter()
        .find(inside)
        .map_or(pasted[0].landmarks, |f| f.landmarks);
    Ok(Some(TaggedPhoto { image, landmarks }))
}

/// What a DeepFake tool makes of the face of a tagged photo: its aligned crop, or the face moved
/// into `other` (`None` when `other` has no landmarks or the face's are degenerate).
fn read_in_photo(
    photo: &TaggedPhoto,
    read: InPhotoRead,
    other: &Face,
) -> Result<Option<DynamicImage>, Error> {
    Ok(match read {
        InPhotoRead::Aligned(side) => {
            faketagger_attacks::faceswap::align_face(&photo.image, &photo.landmarks, side)
        }
        InPhotoRead::Into => match other.landmarks {
            Some(other_lm) => Some(faceswap::face_swap(
                &other.image,
                &other_lm,
                &photo.image,
                &photo.landmarks,
            )?),
            None => None,
        },
    })
}

/// The tagged face regenerated by a simulator at its training size, then brought back to the
/// face's size.
fn simulate(
    sim: &Simulator,
    variant: usize,
    image: &DynamicImage,
    device: &Device,
) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let side = SIMULATOR_SIDE;
    let input = image.to_rgb8();
    let input = if (w, h) == (side, side) {
        input
    } else {
        image::imageops::resize(&input, side, side, FilterType::Triangle)
    };
    let out = to_images(sim.forward(from_images(&[input], device), variant))
        .pop()
        .unwrap_or_default();
    let out = DynamicImage::ImageRgb8(out);
    if (w, h) == (side, side) {
        out
    } else {
        out.resize_exact(w, h, FilterType::Triangle)
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

impl Report {
    /// The table in Markdown, with the overall figures above it.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "{} faces, strength {}: PSNR {:.2} dB (min {:.2}), SSIM {:.4} (min {:.4}); \
             tags found on the untouched originals: {}/{} ({:.2}%); \
             embed {:.1} ms, decode {:.1} ms tagged / {:.1} ms untagged per face ({} at once)\n\n",
            self.faces,
            self.strength,
            self.psnr_mean,
            self.psnr_min,
            self.ssim_mean,
            self.ssim_min,
            self.false_positives,
            self.faces,
            100.0 * self.false_positive_rate,
            self.embed_ms,
            self.decode_ms,
            self.decode_untagged_ms,
            self.threads,
        );
        out.push_str("| attack | bit accuracy | exact tag | confidence | faces |\n");
        out.push_str("|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.attack,
                r.bit_accuracy
                    .map_or_else(|| "n/a".into(), |v| format!("{v:.4}")),
                percent(r.exact_tag),
                r.confidence
                    .map_or_else(|| "n/a".into(), |v| format!("{v:.3}")),
                r.faces
            ));
        }
        out
    }

    /// One CSV line per row.
    pub fn to_csv(&self) -> String {
        let opt = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.6}"));
        let mut out =
            String::from("attack,family,strength,bit_accuracy,exact_tag,confidence,faces\n");
        for r in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.attack,
                r.family,
                opt(r.strength),
                opt(r.bit_accuracy),
                opt(r.exact_tag),
                opt(r.confidence),
                r.faces
            ));
        }
        out
    }

    /// Bit accuracy against strength, per family with at least two strengths.
    pub fn curves(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let mut families: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for r in &self.rows {
            let (Some(x), Some(y)) = (r.strength, r.bit_accuracy) else {
                continue;
            };
            match families.iter_mut().find(|(f, _)| *f == r.family) {
                Some((_, points)) => points.push((x, y)),
                None => families.push((r.family.clone(), vec![(x, y)])),
            }
        }
        families.retain(|(_, points)| points.len() >= 2);
        for (_, points) in &mut families {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        families
    }
}
