//! The JSON shapes of the engine's results, one place for every front end: `decode --json` and
//! `embed --json` lines, the HTTP service's bodies and the Python package's objects carry the
//! same fields, rounded the same way (feature `json`).

use serde_json::{Value, json};

use crate::faces::{Face, FaceRead, PhotoRead};
use crate::{Detection, Embedded, FaceEmbedded, Tag};

/// `x` to 4 decimals (confidences, strengths).
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// A PSNR to 2 decimals; `null` for an unchanged image (+∞, which JSON cannot carry).
pub fn psnr(x: f64) -> Option<f64> {
    x.is_finite().then_some((x * 100.0).round() / 100.0)
}

/// One read: `found`, `tag`, `confidence`, `channel_bits`, `corrected`.
pub fn detection(d: &Detection) -> Value {
    json!({
        "found": d.tag.is_some(),
        "tag": d.tag.map(|t| t.to_string()),
        "confidence": round4(f64::from(d.confidence)),
        "channel_bits": d.channel_bits.to_string(),
        "corrected": d.corrected,
    })
}

/// A photo read whole and by face: the whole photo's fields, `found` when the photo or a face
/// carries a tag, and `faces` when they were read.
pub fn photo(read: &PhotoRead) -> Value {
    let mut value = detection(&read.photo);
    value["found"] = json!(read.tag().is_some());
    if !read.faces.is_empty() {
        value["faces"] = face_reads(&read.faces);
    }
    value
}

/// Each face read: its box and landmarks, `found`, `tag`, `confidence` and `inner` (found in
/// the inner crop).
pub fn face_reads(reads: &[FaceRead]) -> Value {
    reads
        .iter()
        .map(|f| {
            let mut value = face(&f.face);
            value["found"] = json!(f.detection.tag.is_some());
            value["tag"] = json!(f.detection.tag.map(|t| t.to_string()));
            value["confidence"] = json!(round4(f64::from(f.detection.confidence)));
            value["inner"] = json!(f.inner);
            value
        })
        .collect()
}

/// How each face was tagged: box, landmarks, `strength`, `inner_strength`, `verified` (its
/// aligned crop reads back), `inner_verified` (its inner crop reads back in place).
pub fn faces_embedded(faces: &[FaceEmbedded]) -> Value {
    faces
        .iter()
        .map(|f| {
            let mut value = face(&f.face);
            value["strength"] = json!(round4(f64::from(f.strength)));
            value["inner_strength"] = json!(round4(f64::from(f.inner_strength)));
            value["verified"] = json!(f.verified);
            value["inner_verified"] = json!(f.inner_verified);
            value
        })
        .collect()
}

/// A tagging: `tag`, `channel_bits`, `psnr`, `strength`, `verified`, `may_show`, `faces`.
pub fn embedded(tag: Tag, e: &Embedded) -> Value {
    json!({
        "tag": tag.to_string(),
        "channel_bits": e.channel_bits.to_string(),
        "psnr": psnr(e.psnr),
        "strength": round4(f64::from(e.strength)),
        "verified": e.verified,
        "may_show": e.may_show(),
        "faces": faces_embedded(&e.faces),
    })
}

/// A face's box and landmarks, in pixels to 0.1.
pub fn face(face: &Face) -> Value {
    let round = |v: f32| (f64::from(v) * 10.0).round() / 10.0;
    json!({
        "box": face.bbox.map(round),
        "landmarks": face.landmarks.map(|p| p.map(round)),
    })
}

/// A registry record found for `tag`: the record, its signature's status and its date.
pub fn lookup(tag: Tag, found: &crate::registry::Lookup) -> Value {
    json!({
        "tag": tag.to_string(),
        "record": found.record,
        "signature": found.signature,
        "created_utc": rfc3339(found.record.created),
    })
}

/// Unix seconds as an RFC 3339 UTC time (days-from-civil, H. Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
