//! The embedded backend: one SQLite file (SQLite compiled in, no server).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::record::Signature;
use crate::{Fingerprint, PublicKey, Record, RegistryError, Store, Tag};

/// How long a writer waits for another process holding the file's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// `PRAGMA user_version` of the schema: 1 the first registry, 2 records with face prints.
const SCHEMA_VERSION: i64 = 2;

fn db(e: rusqlite::Error) -> RegistryError {
    RegistryError::Database(e.to_string())
}

pub(crate) fn open(path: &Path) -> Result<Connection, RegistryError> {
    let connection = Connection::open(path)
        .map_err(|e| RegistryError::Database(format!("{}: {e}", path.display())))?;
    prepare(connection)
}

pub(crate) fn open_in_memory() -> Result<Connection, RegistryError> {
    prepare(Connection::open_in_memory().map_err(db)?)
}

fn prepare(connection: Connection) -> Result<Connection, RegistryError> {
    connection.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    // WAL + FULL: a registration that returned is on disk, even if the process is killed or the
    // machine loses power right after.
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(db)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(db)?;
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(RegistryError::Database(format!(
            "the registry's schema is version {version}, newer than this build's {SCHEMA_VERSION}; \
             hint: upgrade faketagger"
        )));
    }
    if version < SCHEMA_VERSION {
        migrate(&connection)?;
    }
    Ok(connection)
}

/// Creates the tables, or brings a registry of an older version up to this one, in one
/// transaction that holds the write lock (two processes opening an old file at once migrate it
/// once).
fn migrate(connection: &Connection) -> Result<(), RegistryError> {
    connection.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let migrated = (|| {
        connection
            .execute_batch(&crate::schema("BLOB", "INTEGER"))
            .map_err(db)?;
        let has_faces: bool = connection
            .query_row(
                "SELECT count(*) > 0 FROM pragma_table_info('records') WHERE name = 'faces'",
                [],
                |row| row.get(0),
            )
            .map_err(db)?;
        if !has_faces {
            connection
                .execute_batch(&crate::add_faces_column(false))
                .map_err(db)?;
        }
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db)
    })();
    match migrated {
        Ok(()) => connection.execute_batch("COMMIT").map_err(db),
        Err(e) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

impl Store for Connection {
    fn trusted_key(&mut self, issuer: &str) -> Result<Option<PublicKey>, RegistryError> {
        let key: Option<Vec<u8>> = self
            .query_row(
                "SELECT public_key FROM issuers WHERE name = ?1",
                [issuer],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)?;
        key.map(|bytes| key_from(&bytes)).transpose()
    }

    fn insert(&mut self, record: &Record) -> Result<(), RegistryError> {
        let tx = self
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let created = i64::try_from(record.created)
            .map_err(|_| crate::invalid("created", "time out of range"))?;
        tx.execute(
            "INSERT INTO issuers (name, public_key, added) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
            params![record.issuer, record.issuer_key.to_bytes(), created],
        )
        .map_err(db)?;
        // another process may have trusted another key for the name since the caller checked
        let known: Vec<u8> = tx
            .query_row(
                "SELECT public_key FROM issuers WHERE name = ?1",
                [&record.issuer],
                |row| row.get(0),
            )
            .map_err(db)?;
        let known = key_from(&known)?;
        if known != record.issuer_key {
            return Err(RegistryError::IssuerKeyMismatch {
                name: record.issuer.clone(),
                known,
            });
        }
        let inserted = tx.execute(
            "INSERT INTO records (tag, issuer, issuer_key, owner, created, note, fingerprint, signature, faces)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                record.tag.to_string(),
                record.issuer,
                record.issuer_key.to_bytes(),
                record.owner,
                created,
                record.note,
                record.fingerprint.to_string(),
                record.signature.to_bytes(),
                crate::FacePrint::list_to_text(&record.faces),
            ],
        );
        match inserted {
            Ok(_) => tx.commit().map_err(db),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::TagTaken { tag: record.tag })
            }
            Err(e) => Err(db(e)),
        }
    }

    fn trust(&mut self, issuer: &str, key: &PublicKey) -> Result<(), RegistryError> {
        let now = i64::try_from(crate::record::now_unix()).unwrap_or(i64::MAX);
        self.execute(
            "INSERT INTO issuers (name, public_key, added) VALUES (?1, ?2, ?3)",
            params![issuer, key.to_bytes(), now],
        )
        .map(|_| ())
        .map_err(db)
    }

    fn get(&mut self, tag: Tag) -> Result<Option<Record>, RegistryError> {
        self.query_row(
            "SELECT issuer, issuer_key, owner, created, note, fingerprint, signature, faces
             FROM records WHERE tag = ?1",
            [tag.to_string()],
            |row| {
                Ok(Row {
                    issuer: row.get(0)?,
                    issuer_key: row.get(1)?,
                    owner: row.get(2)?,
                    created: row.get(3)?,
                    note: row.get(4)?,
                    fingerprint: row.get(5)?,
                    signature: row.get(6)?,
                    faces: row.get(7)?,
                })
            },
        )
        .optional()
        .map_err(db)?
        .map(|row| row.into_record(tag))
        .transpose()
    }

    fn count(&mut self) -> Result<u64, RegistryError> {
        let n: i64 = self
            .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
            .map_err(db)?;
        Ok(n.max(0) as u64)
    }
}

/// A stored row before its fields are checked.
pub(crate) struct Row {
    pub(crate) issuer: String,
    pub(crate) issuer_key: Vec<u8>,
    pub(crate) owner: String,
    pub(crate) created: i64,
    pub(crate) note: String,
    pub(crate) fingerprint: String,
    pub(crate) signature: Vec<u8>,
    pub(crate) faces: String,
}

impl Row {
    /// The record; a row altered into the wrong shapes is a database error, one altered in its
    /// values reads back and fails verification.
    pub(crate) fn into_record(self, tag: Tag) -> Result<Record, RegistryError> {
        let damaged = |what: &str| {
            RegistryError::Database(format!("the record of tag {tag} is damaged: {what}"))
        };
        Ok(Record {
            tag,
            issuer: self.issuer,
            issuer_key: PublicKey(
                self.issuer_key
                    .try_into()
                    .map_err(|_| damaged("issuer key length"))?,
            ),
            owner: self.owner,
            created: u64::try_from(self.created).map_err(|_| damaged("creation time"))?,
            note: self.note,
            fingerprint: self
                .fingerprint
                .parse::<Fingerprint>()
                .map_err(|_| damaged("fingerprint"))?,
            signature: Signature(
                self.signature
                    .try_into()
                    .map_err(|_| damaged("signature length"))?,
            ),
            faces: crate::FacePrint::list_from_text(&self.faces)
                .ok_or_else(|| damaged("face prints"))?,
        })
    }
}

/// A trusted key as stored (its length is checked by the schema).
pub(crate) fn key_from(bytes: &[u8]) -> Result<PublicKey, RegistryError> {
    bytes
        .try_into()
        .map(PublicKey)
        .map_err(|_| RegistryError::Database("an issuer key of the wrong length".into()))
}
