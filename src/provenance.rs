//! Tracing a photo back to where it came from: decode its tag, look the tag up in a
//! [`Registry`], check the record's signature, and compare the photo's perceptual
//! [`Fingerprint`] with the recorded one.
//!
//! A valid tag on a photo whose content differs from the registered original is the DeepFake
//! case: the photo was *derived* from a tagged one (face-swapped, edited, regenerated). A record
//! also holds a fingerprint of each face the photo was tagged with ([`FacePrint`]): a face
//! swapped, blurred or replaced changes little of the whole photo, and all of its face's region.

use faketagger_registry::{
    Draft, FacePrint, Fingerprint, Issuer, LUMA_SIDE, Lookup, MAX_FACE_PRINTS, Record, Registry,
    RegistryError, SignatureStatus, now_unix,
};
use image::DynamicImage;
use image::imageops::FilterType;
use serde::Serialize;

use crate::faces::Face;
use crate::{Detection, Embedded, Error, Saving, Tag, TagSites, Tagger};

/// Fingerprint distance (bits of 64) up to which a photo is the registered one, re-encoded,
/// rescaled or slightly edited. Measured on the 693 CelebA test faces
/// (`cargo run --release --example fingerprint_distances -- DATA test 693`): JPEG q50, WebP,
/// resize ×0.25–×0.5, blur σ1, noise σ0.02 and brightness ×1.2 stay within it (max 8); a face
/// swapped over the photo and unrelated faces mostly do not (see the example's table).
pub const SAME_PHOTO_MAX_DISTANCE: u32 = 10;

/// The perceptual fingerprint of a photo: DCT hashes of its whole luma and of its central region
/// (middle half of each side), each at 32×32.
pub fn fingerprint(image: &DynamicImage) -> Fingerprint {
    let side = LUMA_SIDE as u32;
    let luma = image.to_luma32f();
    let (w, h) = luma.dimensions();
    let centre =
        image::imageops::crop_imm(&luma, w / 4, h / 4, (w / 2).max(1), (h / 2).max(1)).to_image();
    let grid = |img: &image::ImageBuffer<image::Luma<f32>, Vec<f32>>| {
        image::imageops::resize(img, side, side, FilterType::Triangle).into_raw()
    };
    Fingerprint::from_luma(&grid(&luma), &grid(&centre)).unwrap_or(Fingerprint::new(0))
}

/// Fingerprint distance (bits of 64) up to which a face's region is the registered face.
/// Measured on the 693 CelebA test faces, each at 10% of a 960×540 generated photo (`cargo run
/// --release --example fingerprint_distances -- DATA test 693`): JPEG q50, WebP, blur σ1, noise
/// and brightness stay within it (100%), resize ×0.5 98.0%, ×0.25 65.5% (a 57 px face); another
/// face swapped over it, the face mirrored or covered by an object go past it 99.9–100% of the
/// time, the face blurred (σ = 1/12 of its box) 90.6%. Crops and rotations move the region.
pub const SAME_FACE_MAX_DISTANCE: u32 = 12;

/// The fingerprint of each face's region of `image` (its detector box, clipped to the photo),
/// at most [`MAX_FACE_PRINTS`]; boxes with no area inside the photo are left out.
pub fn face_prints(image: &DynamicImage, faces: &[Face]) -> Vec<FacePrint> {
    let (w, h) = (image.width(), image.height());
    faces
        .iter()
        .filter_map(|face| FacePrint::region_of(face.bbox, w, h))
        .take(MAX_FACE_PRINTS)
        .map(|region| {
            let mut print = FacePrint {
                region,
                fingerprint: Fingerprint::new(0),
            };
            print.fingerprint = region_fingerprint(image, &print);
            print
        })
        .collect()
}

/// The fingerprint of `face`'s region as it lies in `image` (any scale of the registered photo):
/// what [`trace`] compares with the recorded one.
pub fn region_fingerprint(image: &DynamicImage, face: &FacePrint) -> Fingerprint {
    let [x, y, w, h] = face.pixels(image.width(), image.height());
    fingerprint(&image.crop_imm(x, y, w, h))
}

/// What tracing concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No tag in the photo.
    NoTag,
    /// A valid tag that this registry never issued.
    Unregistered,
    /// The record's signature does not verify: it cannot be trusted.
    UntrustedRecord,
    /// The registered photo itself, at most re-encoded or rescaled.
    Original,
    /// A tagged photo whose content differs from the registered original: derived from it
    /// (edited, face-swapped, regenerated).
    Derived,
}

impl Verdict {
    /// One line for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoTag => "no tag",
            Self::Unregistered => "tagged, but the tag is not in this registry",
            Self::UntrustedRecord => "tagged, but the record's signature does NOT verify",
            Self::Original => "the registered photo (at most re-encoded or rescaled)",
            Self::Derived => {
                "derived from a registered photo: its content differs from the original \
                 (edited, face-swapped or regenerated)"
            }
        }
    }
}

/// A provenance report for one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The tag found, if any.
    #[serde(serialize_with = "tag_hex")]
    pub tag: Option<Tag>,
    /// The decoder's confidence (see [`Detection::confidence`]).
    pub confidence: f32,
    /// The registered record and its verification.
    #[serde(flatten)]
    pub lookup: Option<Lookup>,
    /// The photo's fingerprint.
    pub fingerprint: Fingerprint,
    /// Bits between the photo's fingerprint and the recorded one.
    pub fingerprint_distance: Option<u32>,
    /// Each face of the record, compared with the same region of the photo at hand.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub face_prints: Vec<FaceTrace>,
    /// The conclusion.
    pub verdict: Verdict,
}

/// One recorded face against the photo at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FaceTrace {
    /// Where the face is in the photo at hand: left, top, width, height in pixels.
    #[serde(rename = "box")]
    pub region: [u32; 4],
    /// Bits between the region's fingerprint and the recorded face's.
    pub distance: u32,
    /// Whether the region differs from the registered face (over [`SAME_FACE_MAX_DISTANCE`]).
    pub changed: bool,
}

impl Trace {
    /// The faces that differ from the registered photo's, numbered from 1 in the record's order.
    pub fn changed_faces(&self) -> impl Iterator<Item = (usize, &FaceTrace)> {
        self.face_prints
            .iter()
            .enumerate()
            .filter(|(_, f)| f.changed)
            .map(|(i, f)| (i + 1, f))
    }
}

fn tag_hex<S: serde::Serializer>(tag: &Option<Tag>, s: S) -> Result<S::Ok, S::Error> {
    match tag {
        Some(tag) => s.collect_str(tag),
        None => s.serialize_none(),
    }
}

/// Looks a decoded photo up in the registry.
pub fn trace(
    image: &DynamicImage,
    detection: &Detection,
    registry: &Registry,
) -> Result<Trace, RegistryError> {
    let print = fingerprint(image);
    let lookup = match detection.tag {
        Some(tag) => registry.lookup(tag)?,
        None => None,
    };
    let distance = lookup
        .as_ref()
        .map(|found| print.distance(found.record.fingerprint));
    let face_prints: Vec<FaceTrace> = lookup
        .iter()
        .flat_map(|found| &found.record.faces)
        .map(|face| {
            let distance = region_fingerprint(image, face).distance(face.fingerprint);
            FaceTrace {
                region: face.pixels(image.width(), image.height()),
                distance,
                changed: distance > SAME_FACE_MAX_DISTANCE,
            }
        })
        .collect();
    let faces_same = face_prints.iter().all(|f| !f.changed);
    let verdict = match (&detection.tag, &lookup, distance) {
        (None, _, _) => Verdict::NoTag,
        (Some(_), None, _) => Verdict::Unregistered,
        (Some(_), Some(found), _) if found.signature != SignatureStatus::Valid => {
            Verdict::UntrustedRecord
        }
        (Some(_), Some(_), Some(d)) if d <= SAME_PHOTO_MAX_DISTANCE && faces_same => {
            Verdict::Original
        }
        (Some(_), Some(_), _) => Verdict::Derived,
    };
    Ok(Trace {
        tag: detection.tag,
        confidence: detection.confidence,
        lookup,
        fingerprint: print,
        fingerprint_distance: distance,
        face_prints,
        verdict,
    })
}

/// `make`'s result once `check` passed, the two run side by side (the check that a photo carries
/// no tag yet, its embedding: at 1080p the check's read fits where the embedding leaves a core
/// idle); the check's error comes first, and `make`'s work is then thrown away.
fn checked_alongside<T: Send>(
    check: impl FnOnce() -> Result<(), Error> + Send,
    make: impl FnOnce() -> Result<T, Error> + Send,
) -> Result<T, Error> {
    let (checked, made) = rayon::join(check, make);
    checked?;
    made
}

/// Attempts at drawing an unused random tag: one collision in 64 bits is already a 1-in-10¹⁹
/// event per registered tag.
const TAG_DRAWS: usize = 4;

/// Embeds a fresh random tag in `image` at `sites`, saved as `saving` says, and records it,
/// signed by `issuer`, with the saved image's fingerprint and its faces' ([`face_prints`]). The
/// record is stored before this returns, so every tagged image handed out has its record; an
/// output that does not carry its tag is refused ([`Error::NotCarried`]) before anything is
/// recorded. `check` (the photo carries no tag yet: [`check_untagged`]) runs alongside the
/// first embedding, and nothing is recorded unless it passes; its error comes first.
#[allow(clippy::too_many_arguments)]
pub fn embed_registered(
    tagger: &Tagger,
    image: &DynamicImage,
    strength: f32,
    sites: TagSites<'_>,
    saving: &Saving<'_>,
    registry: &Registry,
    issuer: &Issuer,
    owner: &str,
    note: &str,
    check: impl FnOnce() -> Result<(), Error> + Send,
) -> Result<(Embedded, Record), Error> {
    let (mut taken, mut check) = (None, Some(check));
    for _ in 0..TAG_DRAWS {
        let tag = Tag::new(rand::random());
        let embed = || tagger.embed_at(image, tag, strength, sites, Some(saving));
        let embedded = match check.take() {
            Some(check) => checked_alongside(check, embed)?,
            None => embed()?,
        }
        .require_carried(saving)?;
        let draft = Draft::new(tag, owner, note, fingerprint(&embedded.image))
            .with_faces(face_prints(&embedded.image, sites.faces));
        let record = issuer.sign(draft, now_unix());
        match registry.register(&record) {
            Ok(()) => return Ok((embedded, record)),
            Err(e @ RegistryError::TagTaken { .. }) => taken = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(taken
        .unwrap_or_else(|| RegistryError::Database("no tag could be drawn".into()))
        .into())
}

/// Refuses to tag `image` again when it already carries a tag ([`Tagger::decode_as_is`]), whole
/// or on one of `faces` (the faces found to tag: a photo tagged on its faces only reads no tag
/// whole): the error names the tag and, when `registry` holds its record, the owner. `path` names
/// the photo.
pub fn check_untagged(
    tagger: &Tagger,
    image: &DynamicImage,
    faces: &[crate::faces::Face],
    path: &std::path::Path,
    registry: Option<&Registry>,
) -> Result<(), Error> {
    let mut found = tagger.decode_as_is(image)?.tag;
    if tagger.scheme() == crate::SchemeKind::Learned {
        for face in faces {
            if found.is_some() {
                break;
            }
            found = tagger
                .decode_face(image, &face.landmarks)?
                .and_then(|read| read.tag);
        }
    }
    let Some(tag) = found else {
        return Ok(());
    };
    let owner = match registry {
        Some(registry) => registry.lookup(tag)?.map(|found| found.record.owner),
        None => None,
    };
    Err(Error::AlreadyTagged {
        path: path.to_path_buf(),
        tag,
        owner,
    })
}

/// Where the tag of a photo being tagged comes from.
#[derive(Debug, Clone, Copy)]
pub enum TagSource<'a> {
    /// A tag the caller chose; nothing is registered.
    Given(Tag),
    /// A fresh random tag, registered signed by `issuer` ([`embed_registered`]).
    Register {
        /// Where the record goes.
        registry: &'a Registry,
        /// Who signs it.
        issuer: &'a Issuer,
        /// Whom the photo belongs to.
        owner: &'a str,
        /// A note kept with the record.
        note: &'a str,
    },
}

/// What [`tag_photo`] made.
#[derive(Debug, Clone)]
pub struct TaggedPhoto {
    /// The tag the photo now carries.
    pub tag: Tag,
    /// The embedding; its `bytes` are the file to write.
    pub embedded: Embedded,
    /// The record, when the tag was registered.
    pub record: Option<Record>,
}

/// Tagging a photo, as the CLI, the service and the Python package do it: a photo that already
/// carries a tag is refused unless `retag` ([`check_untagged`]; `known` names the owner when it
/// holds the tag), then the given tag is embedded at `sites` or a fresh one registered, and an
/// output that does not carry its tag is refused ([`Error::NotCarried`]): the file as `saving`
/// says, else the pixels in memory (registering needs a `saving`). Faces only, in a photo
/// without faces, is [`Error::NoFaces`]. `path` names the photo in errors.
#[allow(clippy::too_many_arguments)]
pub fn tag_photo(
    tagger: &Tagger,
    image: &DynamicImage,
    path: &std::path::Path,
    strength: f32,
    sites: TagSites<'_>,
    saving: Option<&Saving<'_>>,
    source: TagSource<'_>,
    retag: bool,
    known: Option<&Registry>,
) -> Result<TaggedPhoto, Error> {
    if !sites.whole && sites.faces.is_empty() {
        return Err(Error::NoFaces {
            path: path.to_path_buf(),
        });
    }
    let check = || match retag {
        true => Ok(()),
        false => check_untagged(tagger, image, sites.faces, path, known),
    };
    Ok(match source {
        TagSource::Given(tag) => {
            let embedded = checked_alongside(check, || {
                tagger.embed_at(image, tag, strength, sites, saving)
            })?;
            TaggedPhoto {
                tag,
                embedded: match saving {
                    Some(saving) => embedded.require_carried(saving)?,
                    None if embedded.verified => embedded,
                    None => {
                        return Err(Error::NotCarried {
                            path: path.to_path_buf(),
                            saved_as: "pixels in memory".into(),
                            strength: embedded.strength,
                        });
                    }
                },
                record: None,
            }
        }
        TagSource::Register {
            registry,
            issuer,
            owner,
            note,
        } => {
            let saving = saving.ok_or_else(|| {
                Error::Unsupported("a registered tag is checked in the file it is saved to".into())
            })?;
            let (embedded, record) = embed_registered(
                tagger, image, strength, sites, saving, registry, issuer, owner, note, check,
            )?;
            TaggedPhoto {
                tag: record.tag,
                embedded,
                record: Some(record),
            }
        }
    })
}
