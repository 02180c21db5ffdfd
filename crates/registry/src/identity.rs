//! Issuer identities as records carry them: issuer names, ed25519 public keys, and the hex form
//! keys and signatures are written in. The bottom of the crate's modules: records (`record`)
//! and key files (`keys`) both build on it.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::{RegistryError, invalid};

/// Longest issuer name.
const MAX_NAME: usize = 64;

/// Whether `name` can name an issuer and its key files: 1–64 of `A–Z a–z 0–9 _ . -`, not starting
/// with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub(crate) fn check_name(name: &str) -> Result<(), RegistryError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid(
            format!("issuer name {name:?}"),
            "use 1–64 letters, digits, '_', '.' or '-', not starting with '.'",
        ))
    }
}

/// An issuer's ed25519 public key (shown as 64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// The key's 32 bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The key with these bytes, if they are a valid ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, RegistryError> {
        VerifyingKey::from_bytes(&bytes)
            .map(|_| Self(bytes))
            .map_err(|_| invalid("public key", "not a valid ed25519 public key"))
    }

    pub(crate) fn verifying(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl FromStr for PublicKey {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(unhex::<32>(s.trim()).ok_or_else(|| {
            invalid(
                format!("public key {s:?}"),
                "expected 64 hexadecimal digits",
            )
        })?)
    }
}

impl From<PublicKey> for String {
    fn from(k: PublicKey) -> Self {
        k.to_string()
    }
}

impl TryFrom<String> for PublicKey {
    type Error = RegistryError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// `bytes` as lowercase hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
