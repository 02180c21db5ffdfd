//! The PostgreSQL backend (feature `postgres`): the same tables and transactions as SQLite's.

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls};

use crate::sqlite::{Row, key_from};
use crate::{PublicKey, Record, RegistryError, Store, Tag};

fn db(e: postgres::Error) -> RegistryError {
    RegistryError::Database(e.to_string())
}

pub(crate) fn connect(url: &str, schema: Option<&str>) -> Result<Client, RegistryError> {
    let mut client = Client::connect(url, NoTls)
        .map_err(|e| RegistryError::Database(format!("{}: {e}", crate::redact(url))))?;
    if let Some(schema) = schema {
        if !crate::valid_name(schema) || schema.contains(['.', '-']) {
            return Err(crate::invalid(
                format!("schema {schema:?}"),
                "use letters, digits and '_'",
            ));
        }
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path TO \"{schema}\""
            ))
            .map_err(db)?;
    }
    // concurrent first connections may race on CREATE TABLE IF NOT EXISTS: serialise them; a
    // registry made before face prints (schema 1) gains their column
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(7316); {} {} COMMIT;",
            crate::schema("BYTEA", "BIGINT"),
            crate::add_faces_column(true),
        ))
        .map_err(db)?;
    Ok(client)
}

impl Store for Client {
    fn trusted_key(&mut self, issuer: &str) -> Result<Option<PublicKey>, RegistryError> {
        let row = self
            .query_opt("SELECT public_key FROM issuers WHERE name = $1", &[&issuer])
            .map_err(db)?;
        row.map(|row| key_from(&row.get::<_, Vec<u8>>(0)))
            .transpose()
    }

    fn insert(&mut self, record: &Record) -> Result<(), RegistryError> {
        let created = i64::try_from(record.created)
            .map_err(|_| crate::invalid("created", "time out of range"))?;
        let mut tx = self
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(db)?;
        let key = record.issuer_key.to_bytes().to_vec();
        tx.execute(
            "INSERT INTO issuers (name, public_key, added) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&record.issuer, &key, &created],
        )
        .map_err(db)?;
        let known = tx
            .query_one(
                "SELECT public_key FROM issuers WHERE name = $1",
                &[&record.issuer],
            )
            .map_err(db)?;
        let known = key_from(&known.get::<_, Vec<u8>>(0))?;
        if known != record.issuer_key {
            return Err(RegistryError::IssuerKeyMismatch {
                name: record.issuer.clone(),
                known,
            });
        }
        let inserted = tx.execute(
            "INSERT INTO records (tag, issuer, issuer_key, owner, created, note, fingerprint, signature, faces)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &record.tag.to_string(),
                &record.issuer,
                &key,
                &record.owner,
                &created,
                &record.note,
                &record.fingerprint.to_string(),
                &record.signature.to_bytes().to_vec(),
                &crate::FacePrint::list_to_text(&record.faces),
            ],
        );
        match inserted {
            Ok(_) => tx.commit().map_err(db),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(RegistryError::TagTaken { tag: record.tag })
            }
            Err(e) => Err(db(e)),
        }
    }

    fn trust(&mut self, issuer: &str, key: &PublicKey) -> Result<(), RegistryError> {
        let now = i64::try_from(crate::now_unix()).unwrap_or(i64::MAX);
        self.execute(
            "INSERT INTO issuers (name, public_key, added) VALUES ($1, $2, $3)",
            &[&issuer, &key.to_bytes().to_vec(), &now],
        )
        .map(|_| ())
        .map_err(db)
    }

    fn get(&mut self, tag: Tag) -> Result<Option<Record>, RegistryError> {
        let row = self
            .query_opt(
                "SELECT issuer, issuer_key, owner, created, note, fingerprint, signature, faces
                 FROM records WHERE tag = $1",
                &[&tag.to_string()],
            )
            .map_err(db)?;
        row.map(|row| {
            Row {
                issuer: row.get(0),
                issuer_key: row.get(1),
                owner: row.get(2),
                created: row.get(3),
                note: row.get(4),
                fingerprint: row.get(5),
                signature: row.get(6),
                faces: row.get(7),
            }
            .into_record(tag)
        })
        .transpose()
    }

    fn count(&mut self) -> Result<u64, RegistryError> {
        let n: i64 = self
            .query_one("SELECT count(*) FROM records", &[])
            .map_err(db)?
            .get(0);
        Ok(n.max(0) as u64)
    }
}
