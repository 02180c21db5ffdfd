//! # faketagger-registry
//!
//! Where a tag came from. A platform that decodes a tag from a suspicious photo looks the tag up
//! here and gets a [`Record`]: who issued it ([`Issuer`], an ed25519 key), for whom, when, a note,
//! and a perceptual [`Fingerprint`] of the tagged photo — all signed by the issuer, so a record
//! altered in the database no longer verifies. Comparing the fingerprint of the photo at hand
//! with the recorded one tells an untouched copy from a photo *derived* from a tagged one (the
//! DeepFake case: a valid tag on different content).
//!
//! - [`Registry`]: one SQLite file by default (bundled, no server), or PostgreSQL with the
//!   `postgres` feature and a `postgres://` location. Both run the same tests.
//! - [`KeyStore`]: issuer keys on disk (secret files readable by their owner only, never
//!   overwritten).
//! - No image or ML dependency: fingerprints are computed by the caller from a 32×32 luma grid
//!   ([`Fingerprint::from_luma`]).
//!
//! ```
//! use faketagger_registry::{Draft, Fingerprint, Issuer, Registry, SignatureStatus, Tag};
//! let registry = Registry::open_in_memory()?;
//! let issuer = Issuer::generate("newsroom")?;
//! let draft = Draft::new(Tag::new(0x0123_4567_89ab_cdef), "alice", "portrait, 2026-11", Fingerprint::new(42));
//! registry.register(&issuer.sign(draft, 1_790_000_000))?;
//! let found = registry.lookup(Tag::new(0x0123_4567_89ab_cdef))?.expect("registered");
//! assert_eq!(found.signature, SignatureStatus::Valid);
//! assert_eq!(found.record.owner, "alice");
//! # Ok::<(), faketagger_registry::RegistryError>(())
//! ```
#![deny(missing_docs)]

mod fingerprint;
mod identity;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use faketagger_codec::Tag;
pub use fingerprint::{
    FINGERPRINT_BITS, FacePrint, Fingerprint, LUMA_SIDE, MAX_FACE_PRINTS, REGION_UNITS,
};
pub use identity::{PublicKey, valid_name};
pub use keys::{Issuer, KeyStore};
pub use record::{Draft, Lookup, MAX_TEXT_BYTES, Record, Signature, SignatureStatus, now_unix};

/// Everything that can go wrong with records, keys and storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database refused or failed an operation.
    #[error("registry database: {0}")]
    Database(String),
    /// A tag can be registered once.
    #[error("tag {tag} is already registered")]
    TagTaken {
        /// The tag.
        tag: Tag,
    },
    /// The issuer's name is known to the registry with another key.
    #[error(
        "issuer {name:?} is registered with another key ({known}); hint: pick another issuer name"
    )]
    IssuerKeyMismatch {
        /// The issuer.
        name: String,
        /// The key the registry trusts for that name.
        known: PublicKey,
    },
    /// A record whose signature does not verify was offered for registration.
    #[error("the record for tag {tag} is not signed by issuer {issuer:?}'s key")]
    BadSignature {
        /// The tag.
        tag: Tag,
        /// The issuer it claims.
        issuer: String,
    },
    /// A key store entry exists already; keys are never overwritten.
    #[error("{}: key exists; keys are never overwritten (hint: choose another name)", path.display())]
    KeyExists {
        /// The key file.
        path: PathBuf,
    },
    /// No key of that name in the key store.
    #[error("no issuer key {name:?} in {} (hint: `faketagger keys new {name}`)", dir.display())]
    NoSuchKey {
        /// The name asked for.
        name: String,
        /// The key store.
        dir: PathBuf,
    },
    /// A key file that is not one of ours, or damaged.
    #[error("{}: not a faketagger key file: {reason}", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A value the registry refuses: an issuer name, an over-long note, a malformed key...
    #[error("{what}: {reason}")]
    Invalid {
        /// What was given.
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `postgres://` location in a build without the `postgres` feature.
    #[error(
        "{location}: PostgreSQL registries need the `postgres` feature (cargo build --features postgres)"
    )]
    PostgresNotBuilt {
        /// The location given.
        location: String,
    },
}

pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

/// The stored records: SQLite (embedded) or PostgreSQL. Safe to share across threads; each call is
/// one transaction, and a call that returned `Ok` is durable (SQLite: WAL with `synchronous=FULL`;
/// PostgreSQL: committed).
#[derive(Debug)]
pub struct Registry {
    backend: Backend,
    location: String,
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    #[cfg(feature = "postgres")]
    Postgres(Mutex<::postgres::Client>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "Postgres",
        })
    }
}

/// What a storage backend does; both implement it over their own connection type.
trait Store {
    fn trusted_key(&mut self, issuer: &str) -> Result<Option<PublicKey>, RegistryError>;
    /// Adds the issuer if unknown and the record, in one transaction.
    fn insert(&mut self, record: &Record) -> Result<(), RegistryError>;
    fn trust(&mut self, issuer: &str, key: &PublicKey) -> Result<(), RegistryError>;
    fn get(&mut self, tag: Tag) -> Result<Option<Record>, RegistryError>;
    fn count(&mut self) -> Result<u64, RegistryError>;
}

impl Registry {
    /// Opens (creating if needed) the registry at `location`: a `postgres://` or `postgresql://`
    /// URL, or the path of a SQLite file.
    pub fn open(location: &str) -> Result<Self, RegistryError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Self::connect_postgres(location, None);
            #[cfg(not(feature = "postgres"))]
            return Err(RegistryError::PostgresNotBuilt {
                location: redact(location),
            });
        }
        Self::open_sqlite(Path::new(location))
    }

    /// Opens (creating if needed) a SQLite registry file.
    pub fn open_sqlite(path: &Path) -> Result<Self, RegistryError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        let connection = sqlite::open(path)?;
        Ok(Self {
            backend: Backend::Sqlite(Mutex::new(connection)),
            location: path.display().to_string(),
        })
    }

    /// A registry that lives in memory (tests, examples).
    pub fn open_in_memory() -> Result<Self, RegistryError> {
        Ok(Self {
            backend: Backend::Sqlite(Mutex::new(sqlite::open_in_memory()?)),
            location: ":memory:".into(),
        })
    }

    /// Connects to PostgreSQL; with `schema`, the registry's tables live in that schema (created if
    /// needed), so several registries (or test runs) can share one database.
    #[cfg(feature = "postgres")]
    pub fn connect_postgres(url: &str, schema: Option<&str>) -> Result<Self, RegistryError> {
        let client = postgres::connect(url, schema)?;
        Ok(Self {
            backend: Backend::Postgres(Mutex::new(client)),
            location: redact(url),
        })
    }

    /// Where the records live (a PostgreSQL URL without its password).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn with<T>(
        &self,
        op: impl FnOnce(&mut dyn Store) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        fn poisoned<T>(_: T) -> RegistryError {
            RegistryError::Database("a thread panicked holding the connection".into())
        }
        match &self.backend {
            Backend::Sqlite(connection) => op(&mut *connection.lock().map_err(poisoned)?),
            #[cfg(feature = "postgres")]
            Backend::Postgres(client) => op(&mut *client.lock().map_err(poisoned)?),
        }
    }

    /// Stores a record. Its signature must verify with its issuer key, and that key must be the
    /// one the registry trusts for the issuer's name (the first record of a new issuer makes the
    /// registry trust its key). A tag is registered once.
    pub fn register(&self, record: &Record) -> Result<(), RegistryError> {
        record.check_fields()?;
        if !record.verifies_with(&record.issuer_key) {
            return Err(RegistryError::BadSignature {
                tag: record.tag,
                issuer: record.issuer.clone(),
            });
        }
        self.with(|store| {
            if let Some(known) = store.trusted_key(&record.issuer)?
                && known != record.issuer_key
            {
                return Err(RegistryError::IssuerKeyMismatch {
                    name: record.issuer.clone(),
                    known,
                });
            }
            store.insert(record)
        })
    }

    /// Trusts `key` for the issuer `name` (refused if the name is trusted with another key).
    pub fn trust_issuer(&self, name: &str, key: &PublicKey) -> Result<(), RegistryError> {
        identity::check_name(name)?;
        self.with(|store| match store.trusted_key(name)? {
            Some(known) if known == *key => Ok(()),
            Some(known) => Err(RegistryError::IssuerKeyMismatch {
                name: name.into(),
                known,
            }),
            None => store.trust(name, key),
        })
    }

    /// The key the registry trusts for an issuer.
    pub fn issuer_key(&self, name: &str) -> Result<Option<PublicKey>, RegistryError> {
        self.with(|store| store.trusted_key(name))
    }

    /// The record of a tag as stored, unverified.
    pub fn record(&self, tag: Tag) -> Result<Option<Record>, RegistryError> {
        self.with(|store| store.get(tag))
    }

    /// The record of a tag and whether its signature verifies with the key the registry trusts for
    /// its issuer.
    pub fn lookup(&self, tag: Tag) -> Result<Option<Lookup>, RegistryError> {
        self.with(|store| {
            let Some(record) = store.get(tag)? else {
                return Ok(None);
            };
            let trusted = store.trusted_key(&record.issuer)?;
            let signature = SignatureStatus::of(&record, trusted.as_ref());
            Ok(Some(Lookup { record, signature }))
        })
    }

    /// Number of records.
    pub fn len(&self) -> Result<u64, RegistryError> {
        self.with(|store| store.count())
    }

    /// Whether the registry holds no record.
    pub fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self.len()? == 0)
    }
}

/// The tables, in the dialect's types for byte strings and 64-bit integers. Tags and
/// fingerprints are stored as hex text: readable in any database shell.
pub(crate) fn schema(bytes: &str, integer: &str) -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS issuers (
    name        TEXT PRIMARY KEY,
    public_key  {bytes} NOT NULL CHECK (length(public_key) = 32),
    added       {integer} NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    tag         TEXT PRIMARY KEY CHECK (length(tag) = 16),
    issuer      TEXT NOT NULL REFERENCES issuers(name),
    issuer_key  {bytes} NOT NULL,
    owner       TEXT NOT NULL,
    created     {integer} NOT NULL,
    note        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    signature   {bytes} NOT NULL,
    faces       TEXT NOT NULL DEFAULT ''
);
"
    )
}

/// Schema version 2 (issue 18): records gain their face prints, stored as text
/// (`FacePrint::list_to_text`); rows written before read as photos without faces. `IF NOT
/// EXISTS` where the dialect has it (PostgreSQL; SQLite checks the column first).
pub(crate) fn add_faces_column(if_not_exists: bool) -> String {
    let guard = if if_not_exists { "IF NOT EXISTS " } else { "" };
    format!("ALTER TABLE records ADD COLUMN {guard}faces TEXT NOT NULL DEFAULT '';")
}

/// A location with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.into();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.into(),
    }
}

#[cfg(test)]
impl Registry {
    /// Runs SQL behind the registry's back (tests that tamper with stored records).
    fn execute_raw(&self, sql: &str) {
        match &self.backend {
            Backend::Sqlite(connection) => connection
                .lock()
                .expect("connection")
                .execute_batch(sql)
                .expect("raw SQL"),
            #[cfg(feature = "postgres")]
            Backend::Postgres(client) => client
                .lock()
                .expect("connection")
                .batch_execute(sql)
                .expect("raw SQL"),
        }
    }
}
