//! Issuer keys: ed25519 signing keys with a name, kept in a folder of files.
//!
//! `NAME.key` holds the secret (32 bytes, hex) and is created readable by its owner only, never
//! overwritten; `NAME.pub` holds the public key. Secrets are never printed by `Debug`.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use rand::TryRngCore;

use crate::identity::{PublicKey, check_name, hex, unhex, valid_name};
use crate::record::{Draft, Record, Signature};
use crate::{RegistryError, invalid};

/// First line of a secret key file.
const SECRET_HEADER: &str = "faketagger-ed25519-secret-v1";
/// A named signing key: who vouches for the records it signs.
#[derive(Clone)]
pub struct Issuer {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("name", &self.name)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A new issuer with a fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, RegistryError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| invalid("random source", e.to_string()))?;
        Self::from_secret(name, secret)
    }

    /// The issuer with this secret key.
    pub fn from_secret(name: &str, secret: [u8; 32]) -> Result<Self, RegistryError> {
        check_name(name)?;
        Ok(Self {
            name: name.into(),
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// The issuer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, which verifies its records.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }

    /// The secret key as 64 hex digits (for backups; handle with care).
    pub fn secret_hex(&self) -> String {
        hex(&self.key.to_bytes())
    }

    /// Signs a draft into a record created at `created` (Unix seconds).
    pub fn sign(&self, draft: Draft, created: u64) -> Record {
        let mut record = Record {
            tag: draft.tag,
            issuer: self.name.clone(),
            issuer_key: self.public_key(),
            owner: draft.owner,
            created,
            note: draft.note,
            fingerprint: draft.fingerprint,
            faces: draft.faces,
            signature: Signature([0; 64]),
        };
        record.signature = Signature(self.key.sign(&record.signed_bytes()).to_bytes());
        record
    }
}

/// A folder of issuer keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The key store in `dir` (created when the first key is).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn secret_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    fn public_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pub"))
    }

    /// Creates a new issuer key; refuses to replace an existing one.
    pub fn create(&self, name: &str) -> Result<Issuer, RegistryError> {
        let issuer = Issuer::generate(name)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RegistryError::Io { path, source }
        };
        create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let secret = self.secret_path(name);
        let mut file = match new_private_file(&secret) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RegistryError::KeyExists { path: secret });
            }
            Err(e) => return Err(io(&secret)(e)),
        };
        writeln!(file, "{SECRET_HEADER}\n{}", issuer.secret_hex()).map_err(io(&secret))?;
        file.sync_all().map_err(io(&secret))?;
        let public = self.public_path(name);
        fs::write(&public, format!("{}\n", issuer.public_key())).map_err(io(&public))?;
        Ok(issuer)
    }

    /// Loads an issuer key.
    pub fn load(&self, name: &str) -> Result<Issuer, RegistryError> {
        check_name(name)?;
        let path = self.secret_path(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NoSuchKey {
                    name: name.into(),
                    dir: self.dir.clone(),
                });
            }
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let bad = |reason: &str| RegistryError::BadKeyFile {
            path: path.clone(),
            reason: reason.into(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(SECRET_HEADER) {
            return Err(bad(&format!("the first line is not {SECRET_HEADER:?}")));
        }
        let secret = lines
            .next()
            .and_then(|line| unhex::<32>(line.trim()))
            .ok_or_else(|| bad("the second line is not 64 hexadecimal digits"))?;
        Issuer::from_secret(name, secret)
    }

    /// The names and public keys of the issuers in the store, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, PublicKey)>, RegistryError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RegistryError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| RegistryError::Io {
                    path: self.dir.clone(),
                    source,
                })?
                .path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".key"))
                .filter(|n| valid_name(n))
            else {
                continue;
            };
            keys.push((name.to_owned(), self.load(name)?.public_key()));
        }
        keys.sort();
        Ok(keys)
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn new_private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn new_private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
