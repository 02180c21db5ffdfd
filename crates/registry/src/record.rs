//! Provenance records and their signatures.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Verifier;
use serde::{Deserialize, Serialize};

use crate::identity::{check_name, hex, unhex};
use crate::{FacePrint, Fingerprint, MAX_FACE_PRINTS, PublicKey, RegistryError, Tag, invalid};

/// Longest owner or note, in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Domain separation: a signature over a record can never be replayed as anything else.
const SIGNING_CONTEXT: &[u8] = b"faketagger-record-v1";
/// The context of a record with face prints (issue 18), whose signature covers them too. A record
/// without faces signs exactly as before, so records made before faces existed still verify; one
/// with faces cannot be passed off as one without (the context differs).
const SIGNING_CONTEXT_FACES: &[u8] = b"faketagger-record-v2-faces";

/// What the issuer states about a tag before signing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The tag.
    pub tag: Tag,
    /// Whom the tagged photo belongs to.
    pub owner: String,
    /// Free text.
    pub note: String,
    /// The tagged photo's fingerprint.
    pub fingerprint: Fingerprint,
    /// The tagged photo's faces, each with its own fingerprint.
    pub faces: Vec<FacePrint>,
}

impl Draft {
    /// A draft record.
    pub fn new(
        tag: Tag,
        owner: impl Into<String>,
        note: impl Into<String>,
        fingerprint: Fingerprint,
    ) -> Self {
        Self {
            tag,
            owner: owner.into(),
            note: note.into(),
            fingerprint,
            faces: Vec::new(),
        }
    }

    /// The draft with the photo's faces.
    pub fn with_faces(mut self, faces: Vec<FacePrint>) -> Self {
        self.faces = faces;
        self
    }
}

/// A signed provenance record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The tag, 16 hex digits.
    #[serde(with = "tag_hex")]
    pub tag: Tag,
    /// The issuer's name.
    pub issuer: String,
    /// The issuer's public key, which the signature verifies with.
    pub issuer_key: PublicKey,
    /// Whom the tagged photo belongs to.
    pub owner: String,
    /// When the record was made, Unix seconds.
    pub created: u64,
    /// Free text.
    pub note: String,
    /// The tagged photo's perceptual fingerprint.
    pub fingerprint: Fingerprint,
    /// Its faces' regions and fingerprints (none in records made before issue 18, or when the
    /// photo was tagged without looking for faces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faces: Vec<FacePrint>,
    /// ed25519 over every field above.
    pub signature: Signature,
}

impl Record {
    /// The bytes the signature covers: a context string, then each field length-prefixed, so no
    /// two different records sign the same bytes. The face prints, when there are any, come
    /// last under their own context ([`SIGNING_CONTEXT_FACES`]).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 32 * self.faces.len());
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(if self.faces.is_empty() {
            SIGNING_CONTEXT
        } else {
            SIGNING_CONTEXT_FACES
        });
        field(&self.tag.to_bytes());
        field(self.issuer.as_bytes());
        field(&self.issuer_key.to_bytes());
        field(self.owner.as_bytes());
        field(&self.created.to_be_bytes());
        field(self.note.as_bytes());
        field(&self.fingerprint.bits().to_be_bytes());
        if !self.faces.is_empty() {
            field(&(self.faces.len() as u64).to_be_bytes());
            for face in &self.faces {
                field(&face.to_bytes());
            }
        }
        out
    }

    /// Whether the signature verifies with `key`.
    pub fn verifies_with(&self, key: &PublicKey) -> bool {
        let Some(key) = key.verifying() else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        key.verify(&self.signed_bytes(), &signature).is_ok()
    }

    pub(crate) fn check_fields(&self) -> Result<(), RegistryError> {
        check_name(&self.issuer)?;
        for (what, text) in [("owner", &self.owner), ("note", &self.note)] {
            if text.len() > MAX_TEXT_BYTES {
                return Err(invalid(
                    what,
                    format!("{} bytes, over the limit of {MAX_TEXT_BYTES}", text.len()),
                ));
            }
            if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(invalid(what, "control characters are not allowed"));
            }
        }
        if i64::try_from(self.created).is_err() {
            return Err(invalid("created", "time out of range"));
        }
        if self.faces.len() > MAX_FACE_PRINTS {
            return Err(invalid(
                "faces",
                format!(
                    "{} faces, over the limit of {MAX_FACE_PRINTS}",
                    self.faces.len()
                ),
            ));
        }
        self.faces.iter().try_for_each(FacePrint::check)
    }
}

/// An ed25519 signature (shown as 128 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Signature(pub(crate) [u8; 64]);

impl Signature {
    /// The signature's 64 bytes.
    pub fn to_bytes(self) -> [u8; 64] {
        self.0
    }

    /// A signature made of these bytes (not checked until verified).
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl FromStr for Signature {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        unhex::<64>(s)
            .map(Self)
            .ok_or_else(|| invalid("signature", "expected 128 hexadecimal digits"))
    }
}

impl From<Signature> for String {
    fn from(s: Signature) -> Self {
        s.to_string()
    }
}

impl TryFrom<String> for Signature {
    type Error = RegistryError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

mod tag_hex {
    use super::Tag;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(tag: &Tag, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(tag)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether a stored record can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Signed by the key the registry trusts for its issuer.
    Valid,
    /// The signature does not verify, or the record names another key than the trusted one: the
    /// record was altered after it was signed.
    Invalid,
    /// The registry trusts no key for the record's issuer.
    UnknownIssuer,
}

impl SignatureStatus {
    pub(crate) fn of(record: &Record, trusted: Option<&PublicKey>) -> Self {
        match trusted {
            None => Self::UnknownIssuer,
            Some(key) if *key == record.issuer_key && record.verifies_with(key) => Self::Valid,
            Some(_) => Self::Invalid,
        }
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Valid => "valid",
            Self::Invalid => "INVALID",
            Self::UnknownIssuer => "unknown issuer",
        })
    }
}

/// A record as found, with its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lookup {
    /// The stored record.
    pub record: Record,
    /// Whether it verifies with the issuer's trusted key.
    pub signature: SignatureStatus,
}

/// Seconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
