//! The same registry tests against every backend: a SQLite file, and PostgreSQL when built with
//! the `postgres` feature and `FAKETAGGER_TEST_POSTGRES` names a database (CI starts one).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;

fn draft(tag: u64, owner: &str) -> Draft {
    Draft::new(
        Tag::new(tag),
        owner,
        "a note\nwith two lines",
        Fingerprint::new(u128::from(tag) ^ 0x5555),
    )
}

fn issuer(name: &str) -> Issuer {
    Issuer::generate(name).unwrap()
}

fn round_trip_and_verify(registry: &Registry) {
    let alice = issuer("newsroom");
    let record = alice.sign(draft(0x0123_4567_89ab_cdef, "alice"), 1_790_000_000);
    registry.register(&record).unwrap();
    let found = registry.lookup(record.tag).unwrap().unwrap();
    assert_eq!(found.record, record);
    assert_eq!(found.signature, SignatureStatus::Valid);
    assert_eq!(
        registry.issuer_key("newsroom").unwrap(),
        Some(alice.public_key())
    );
    assert_eq!(registry.len().unwrap(), 1);
    assert!(registry.lookup(Tag::new(7)).unwrap().is_none());
}

fn a_tag_is_registered_once(registry: &Registry) {
    let alice = issuer("newsroom");
    let first = alice.sign(draft(42, "alice"), 1);
    registry.register(&first).unwrap();
    let second = alice.sign(draft(42, "mallory"), 2);
    assert!(matches!(
        registry.register(&second),
        Err(RegistryError::TagTaken { tag }) if tag == Tag::new(42)
    ));
    assert_eq!(registry.record(Tag::new(42)).unwrap().unwrap(), first);
    assert_eq!(registry.len().unwrap(), 1);
}

fn an_issuer_name_keeps_its_key(registry: &Registry) {
    registry
        .register(&issuer("newsroom").sign(draft(1, "alice"), 1))
        .unwrap();
    let impostor = issuer("newsroom");
    assert!(matches!(
        registry.register(&impostor.sign(draft(2, "mallory"), 2)),
        Err(RegistryError::IssuerKeyMismatch { .. })
    ));
    assert!(matches!(
        registry.trust_issuer("newsroom", &impostor.public_key()),
        Err(RegistryError::IssuerKeyMismatch { .. })
    ));
    assert!(registry.record(Tag::new(2)).unwrap().is_none());
}

fn forged_records_are_refused(registry: &Registry) {
    let alice = issuer("newsroom");
    let mut record = alice.sign(draft(3, "alice"), 1);
    record.owner = "mallory".into();
    assert!(matches!(
        registry.register(&record),
        Err(RegistryError::BadSignature { .. })
    ));
    // signed by one key, claiming another issuer key
    let mut record = alice.sign(draft(4, "alice"), 1);
    record.issuer_key = issuer("other").public_key();
    assert!(matches!(
        registry.register(&record),
        Err(RegistryError::BadSignature { .. })
    ));
    assert!(registry.is_empty().unwrap());
}

fn tampering_shows_as_an_invalid_signature(registry: &Registry) {
    let alice = issuer("newsroom");
    for tag in [10, 11, 12] {
        registry
            .register(&alice.sign(draft(tag, "alice"), 5))
            .unwrap();
    }
    registry.execute_raw(&format!(
        "UPDATE records SET owner = 'mallory' WHERE tag = '{}'",
        Tag::new(10)
    ));
    registry.execute_raw(&format!(
        "UPDATE records SET created = 6 WHERE tag = '{}'",
        Tag::new(11)
    ));
    assert_eq!(
        registry.lookup(Tag::new(10)).unwrap().unwrap().signature,
        SignatureStatus::Invalid
    );
    assert_eq!(
        registry.lookup(Tag::new(11)).unwrap().unwrap().signature,
        SignatureStatus::Invalid
    );
    assert_eq!(
        registry.lookup(Tag::new(12)).unwrap().unwrap().signature,
        SignatureStatus::Valid
    );
    // the trusted key swapped for another: the untouched record no longer verifies against it
    registry
        .register(&issuer("other").sign(draft(13, "bob"), 5))
        .unwrap();
    registry.execute_raw(
        "UPDATE issuers SET public_key = (SELECT public_key FROM issuers WHERE name = 'other') \
         WHERE name = 'newsroom'",
    );
    assert_eq!(
        registry.lookup(Tag::new(12)).unwrap().unwrap().signature,
        SignatureStatus::Invalid
    );
    assert_eq!(
        registry.lookup(Tag::new(13)).unwrap().unwrap().signature,
        SignatureStatus::Valid
    );
}

fn hostile_text_is_stored_verbatim(registry: &Registry) {
    let alice = issuer("newsroom");
    let owner = "Robert'); DROP TABLE records; -- ünïcödé \u{1F600}";
    let record = alice.sign(
        Draft::new(
            Tag::new(99),
            owner,
            "%s %n ' \" \\ $1 ?1",
            Fingerprint::new(0),
        ),
        1,
    );
    registry.register(&record).unwrap();
    let found = registry.lookup(Tag::new(99)).unwrap().unwrap();
    assert_eq!(found.record.owner, owner);
    assert_eq!(found.signature, SignatureStatus::Valid);
    // refused before storage: control characters, over-long notes, bad issuer names
    let bad = alice.sign(
        Draft::new(Tag::new(100), "a\u{7}b", "", Fingerprint::new(0)),
        1,
    );
    assert!(matches!(
        registry.register(&bad),
        Err(RegistryError::Invalid { .. })
    ));
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    let bad = alice.sign(Draft::new(Tag::new(101), "a", long, Fingerprint::new(0)), 1);
    assert!(matches!(
        registry.register(&bad),
        Err(RegistryError::Invalid { .. })
    ));
    assert!(Issuer::generate("../etc/passwd").is_err());
    assert_eq!(registry.len().unwrap(), 1);
}

fn concurrent_registrations_all_land(registry: &Registry) {
    const THREADS: u64 = 8;
    const EACH: u64 = 25;
    let issuers: Vec<Issuer> = (0..2).map(|i| issuer(&format!("desk{i}"))).collect();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let issuer = &issuers[(t % 2) as usize];
            scope.spawn(move || {
                for i in 0..EACH {
                    let tag = 1000 + t * EACH + i;
                    registry
                        .register(&issuer.sign(draft(tag, "someone"), tag))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(registry.len().unwrap(), THREADS * EACH);
    for tag in 1000..1000 + THREADS * EACH {
        let found = registry.lookup(Tag::new(tag)).unwrap().unwrap();
        assert_eq!(found.signature, SignatureStatus::Valid);
        assert_eq!(found.record.created, tag);
    }
}

/// Two faces of a tagged photo.
fn faces() -> Vec<FacePrint> {
    vec![
        FacePrint {
            region: [1200, 800, 2600, 3100],
            fingerprint: Fingerprint::new(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        },
        FacePrint {
            region: [6000, 900, 7000, 2400],
            fingerprint: Fingerprint::new(7),
        },
    ]
}

fn face_prints_round_trip_and_are_signed(registry: &Registry) {
    let alice = issuer("newsroom");
    let with_faces = |tag| alice.sign(draft(tag, "alice").with_faces(faces()), 9);
    for tag in [20, 21, 22] {
        registry.register(&with_faces(tag)).unwrap();
    }
    let found = registry.lookup(Tag::new(20)).unwrap().unwrap();
    assert_eq!(found.record, with_faces(20));
    assert_eq!(found.record.faces, faces());
    assert_eq!(found.signature, SignatureStatus::Valid);
    // a face dropped, or moved, after signing: the record no longer verifies
    registry.execute_raw(&format!(
        "UPDATE records SET faces = '' WHERE tag = '{}'",
        Tag::new(21)
    ));
    let moved = FacePrint::list_to_text(&faces()).replacen("1200", "1300", 1);
    registry.execute_raw(&format!(
        "UPDATE records SET faces = '{moved}' WHERE tag = '{}'",
        Tag::new(22)
    ));
    for tag in [21, 22] {
        let found = registry.lookup(Tag::new(tag)).unwrap().unwrap();
        assert_eq!(found.signature, SignatureStatus::Invalid, "tag {tag}");
    }
    // refused before storage: a region with no area, too many faces
    let mut bad = faces();
    bad[1].region = [7000, 900, 6000, 2400];
    assert!(matches!(
        registry.register(&alice.sign(draft(23, "alice").with_faces(bad), 9)),
        Err(RegistryError::Invalid { .. })
    ));
    let many = vec![faces()[0]; MAX_FACE_PRINTS + 1];
    assert!(matches!(
        registry.register(&alice.sign(draft(24, "alice").with_faces(many), 9)),
        Err(RegistryError::Invalid { .. })
    ));
    assert_eq!(registry.len().unwrap(), 3);
}

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let registry = crate::Registry::open_sqlite(&dir.path().join("registry.sqlite")).unwrap();
                    super::$name(&registry);
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(registry) = super::postgres_registry(stringify!($name)) {
                        super::$name(&registry);
                    }
                }
            )*
        }
    };
}

backend_tests!(
    round_trip_and_verify,
    a_tag_is_registered_once,
    an_issuer_name_keeps_its_key,
    forged_records_are_refused,
    tampering_shows_as_an_invalid_signature,
    hostile_text_is_stored_verbatim,
    concurrent_registrations_all_land,
    face_prints_round_trip_and_are_signed,
);

/// The tables of the first registry (schema version 1, before face prints), as it made them.
fn schema_v1(bytes: &str, integer: &str) -> String {
    format!(
        "
CREATE TABLE issuers (
    name        TEXT PRIMARY KEY,
    public_key  {bytes} NOT NULL CHECK (length(public_key) = 32),
    added       {integer} NOT NULL
);
CREATE TABLE records (
    tag         TEXT PRIMARY KEY CHECK (length(tag) = 16),
    issuer      TEXT NOT NULL REFERENCES issuers(name),
    issuer_key  {bytes} NOT NULL,
    owner       TEXT NOT NULL,
    created     {integer} NOT NULL,
    note        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    signature   {bytes} NOT NULL
);
"
    )
}

/// A record signed by a build from before face prints (issuer secret [7; 32]): its signature,
/// as that build made it.
const V1_KEY: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const V1_SIGNATURE: &str = "048b043b402e130279e56c04558b2c267b8003115023b689e1e37b8fc50d95e7\
                            a04c34ca5702ae13d3537edd52b092c6f32a02a0ac3ec99df437cd5653047400";

fn v1_record() -> Record {
    let mut record = Issuer::from_secret("newsroom", [7; 32])
        .unwrap()
        .sign(draft(0x0123_4567_89ab_cdef, "alice"), 1_790_000_000);
    record.signature = V1_SIGNATURE.parse().unwrap();
    record
}

#[test]
fn face_regions_scale_with_the_photo_and_round_trip_as_text() {
    // a 1920×1080 photo's face box, and the same photo at half size
    let region = FacePrint::region_of([480.0, 270.0, 960.0, 810.0], 1920, 1080).unwrap();
    assert_eq!(region, [2500, 2500, 5000, 7500]);
    let face = FacePrint {
        region,
        fingerprint: Fingerprint::new(1),
    };
    assert_eq!(face.pixels(1920, 1080), [480, 270, 480, 540]);
    assert_eq!(face.pixels(960, 540), [240, 135, 240, 270]);
    // boxes past the edges are clipped; boxes with no area inside the photo have no region
    assert_eq!(
        FacePrint::region_of([-10.0, 0.0, 2000.0, 540.0], 1920, 1080),
        Some([0, 0, 10_000, 5000])
    );
    assert_eq!(
        FacePrint::region_of([2000.0, 0.0, 2100.0, 9.0], 1920, 1080),
        None
    );
    assert_eq!(
        FacePrint::region_of([f32::NAN, 0.0, 1.0, 1.0], 1920, 1080),
        None
    );
    // a tiny region of a tiny photo is still a pixel
    let dot = FacePrint {
        region: [5000, 5000, 5001, 5001],
        fingerprint: Fingerprint::new(0),
    };
    assert_eq!(dot.pixels(3, 3), [2, 2, 1, 1]);
    let text = FacePrint::list_to_text(&faces());
    assert_eq!(FacePrint::list_from_text(&text), Some(faces()));
    assert_eq!(FacePrint::list_from_text(""), Some(Vec::new()));
    for bad in [
        "1,2,3:00",
        "1,2,3,4",
        "4,2,3,9:0123456789abcdef0123456789abcdef",
        "x",
    ] {
        assert_eq!(FacePrint::list_from_text(bad), None, "{bad}");
    }
}

#[test]
fn records_signed_before_face_prints_still_verify() {
    let record = v1_record();
    assert_eq!(record.issuer_key.to_string(), V1_KEY);
    assert!(record.verifies_with(&record.issuer_key));
    // signing the same draft today gives the same signature (ed25519 is deterministic)
    let today = Issuer::from_secret("newsroom", [7; 32])
        .unwrap()
        .sign(draft(0x0123_4567_89ab_cdef, "alice"), 1_790_000_000);
    assert_eq!(today.signature.to_string(), V1_SIGNATURE);
    // the same record with faces signs other bytes, under another context
    let mut with_faces = record.clone();
    with_faces.faces = faces();
    assert!(!with_faces.verifies_with(&record.issuer_key));
    assert_ne!(with_faces.signed_bytes()[8..], record.signed_bytes()[8..]);
}

/// The v1 record as a v1 build stored it, in the dialect's byte-string literal.
fn insert_v1_record(blob: impl Fn(&[u8]) -> String) -> String {
    let record = v1_record();
    format!(
        "INSERT INTO issuers VALUES ('newsroom', {key}, 1);
         INSERT INTO records VALUES ('{tag}', 'newsroom', {key}, 'alice', {created}, '{note}', '{print}', {signature});",
        key = blob(&record.issuer_key.to_bytes()),
        tag = record.tag,
        created = record.created,
        note = record.note,
        print = record.fingerprint,
        signature = blob(&record.signature.to_bytes()),
    )
}

/// Opening a registry of schema 1 migrates it: its records still verify, and records with face
/// prints can be added.
fn check_migrated(registry: &Registry) {
    let found = registry.lookup(v1_record().tag).unwrap().unwrap();
    assert_eq!(found.record, v1_record());
    assert!(found.record.faces.is_empty());
    assert_eq!(found.signature, SignatureStatus::Valid);
    let alice = Issuer::from_secret("newsroom", [7; 32]).unwrap();
    let record = alice.sign(draft(77, "alice").with_faces(faces()), 9);
    registry.register(&record).unwrap();
    assert_eq!(
        registry.lookup(Tag::new(77)).unwrap().unwrap().record,
        record
    );
    assert_eq!(registry.len().unwrap(), 2);
}

#[test]
fn a_sqlite_registry_of_schema_1_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(&schema_v1("BLOB", "INTEGER")).unwrap();
        old.execute_batch(&insert_v1_record(|b| {
            format!("X'{}'", crate::identity::hex(b))
        }))
        .unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
    }
    check_migrated(&Registry::open_sqlite(&path).unwrap());
    // reopened: nothing migrates twice
    let again = Registry::open_sqlite(&path).unwrap();
    assert_eq!(again.len().unwrap(), 2);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

#[cfg(feature = "postgres")]
#[test]
fn a_postgres_registry_of_schema_1_is_migrated() {
    let Some(url) = postgres_url("a_postgres_registry_of_schema_1_is_migrated") else {
        return;
    };
    let schema = format!("test_migration_{}", std::process::id());
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\";
             SET search_path TO \"{schema}\"; {} {}",
            schema_v1("BYTEA", "BIGINT"),
            insert_v1_record(|b| format!("decode('{}', 'hex')", crate::identity::hex(b))),
        ))
        .unwrap();
    check_migrated(&Registry::connect_postgres(&url, Some(&schema)).unwrap());
    let again = Registry::connect_postgres(&url, Some(&schema)).unwrap();
    assert_eq!(again.len().unwrap(), 2);
}

/// The test database, or `None` (with a note) where none is configured; under CI a missing
/// database fails the test instead of skipping it.
#[cfg(feature = "postgres")]
fn postgres_url(test: &str) -> Option<String> {
    let Ok(url) = std::env::var("FAKETAGGER_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL registry tests: set FAKETAGGER_TEST_POSTGRES"
        );
        eprintln!("skipped {test}: FAKETAGGER_TEST_POSTGRES is not set");
        return None;
    };
    Some(url)
}

/// A registry in a fresh schema of the test database, or `None` where none is configured
/// ([`postgres_url`]).
#[cfg(feature = "postgres")]
fn postgres_registry(test: &str) -> Option<Registry> {
    let url = postgres_url(test)?;
    let schema = format!("test_{test}_{}", std::process::id());
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .unwrap();
    Some(Registry::connect_postgres(&url, Some(&schema)).unwrap())
}

#[test]
fn a_sqlite_registry_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/registry.sqlite");
    let alice = issuer("newsroom");
    let record = alice.sign(draft(5, "alice"), 1);
    Registry::open_sqlite(&path)
        .unwrap()
        .register(&record)
        .unwrap();
    let reopened = Registry::open(path.to_str().unwrap()).unwrap();
    assert_eq!(
        reopened.lookup(Tag::new(5)).unwrap().unwrap().record,
        record
    );
    // a file that is not a database is an error, not a panic
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, vec![0x42; 4096]).unwrap();
    assert!(matches!(
        Registry::open_sqlite(&junk),
        Err(RegistryError::Database(_))
    ));
}

#[test]
fn registries_are_shared_across_threads() {
    let registry = Arc::new(Registry::open_in_memory().unwrap());
    concurrent_registrations_all_land(&registry);
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_locations_need_the_feature() {
    let err = Registry::open("postgres://user:secret@localhost/db").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`postgres` feature"), "{message}");
    assert!(!message.contains("secret"), "password leaked: {message}");
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact("postgres://user:hunter2@db:5432/x"),
        "postgres://user:***@db:5432/x"
    );
    assert_eq!(redact("postgres://db/x"), "postgres://db/x");
}

#[test]
fn signed_bytes_are_unambiguous() {
    let alice = issuer("newsroom");
    let a = alice.sign(Draft::new(Tag::new(1), "a", "bc", Fingerprint::new(0)), 1);
    let b = alice.sign(Draft::new(Tag::new(1), "ab", "c", Fingerprint::new(0)), 1);
    assert_ne!(a.signed_bytes(), b.signed_bytes());
    assert!(a.verifies_with(&alice.public_key()));
    let mut swapped = a.clone();
    swapped.signature = b.signature;
    assert!(!swapped.verifies_with(&alice.public_key()));
}

#[test]
fn records_round_trip_through_json() {
    let record = issuer("newsroom").sign(draft(0xfeed, "alice"), 1);
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.contains("\"tag\":\"000000000000feed\""), "{json}");
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, record);
    assert!(back.verifies_with(&record.issuer_key));
    let bad = json.replace("000000000000feed", "feed");
    assert!(serde_json::from_str::<Record>(&bad).is_err());
}

mod keys {
    use super::*;

    #[test]
    fn keys_are_created_once_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys"));
        let created = store.create("newsroom").unwrap();
        let loaded = store.load("newsroom").unwrap();
        assert_eq!(created.public_key(), loaded.public_key());
        let secret_file = dir.path().join("keys/newsroom.key");
        let before = std::fs::read(&secret_file).unwrap();
        assert!(matches!(
            store.create("newsroom"),
            Err(RegistryError::KeyExists { .. })
        ));
        assert_eq!(
            std::fs::read(&secret_file).unwrap(),
            before,
            "key overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "secret key readable by others: {mode:o}");
        }
        store.create("desk-2").unwrap();
        let names: Vec<String> = store.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["desk-2", "newsroom"]);
        // Debug never shows the secret
        assert!(!format!("{loaded:?}").contains(&loaded.secret_hex()));
    }

    #[test]
    fn bad_key_files_and_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        assert!(matches!(
            store.load("nobody"),
            Err(RegistryError::NoSuchKey { .. })
        ));
        std::fs::write(dir.path().join("junk.key"), "hello\n").unwrap();
        assert!(matches!(
            store.load("junk"),
            Err(RegistryError::BadKeyFile { .. })
        ));
        std::fs::write(
            dir.path().join("short.key"),
            "faketagger-ed25519-secret-v1\nabcd\n",
        )
        .unwrap();
        assert!(matches!(
            store.load("short"),
            Err(RegistryError::BadKeyFile { .. })
        ));
        for name in ["", ".hidden", "a/b", "x".repeat(65).as_str()] {
            assert!(store.create(name).is_err(), "{name:?} accepted");
        }
        assert!("zz".parse::<PublicKey>().is_err());
    }
}

mod fingerprints {
    use super::*;

    fn scene(shift: f32, scale: f32, seed: u32) -> Vec<f32> {
        (0..LUMA_SIDE * LUMA_SIDE)
            .map(|i| {
                let (x, y) = ((i % LUMA_SIDE) as f32, (i / LUMA_SIDE) as f32);
                let s = seed as f32;
                shift
                    + scale
                        * ((x * 0.21 * (1.0 + s) + y * 0.13).sin() * 60.0
                            + (y * 0.17 * (2.0 - s) - x * 0.05).cos() * 40.0
                            + 128.0)
            })
            .collect()
    }

    #[test]
    fn the_same_content_is_close_and_other_content_far() {
        let print = |grid: &[f32]| Fingerprint::from_luma(grid, grid).unwrap();
        let a = print(&scene(0.0, 1.0, 0));
        assert_eq!(a.distance(a), 0);
        // brightness and contrast changes leave the hash alone
        let brighter = print(&scene(20.0, 0.8, 0));
        assert_eq!(a.distance(brighter), 0);
        // small noise moves a few bits at most
        let noisy: Vec<f32> = scene(0.0, 1.0, 0)
            .iter()
            .enumerate()
            .map(|(i, v)| v + ((i * 7919 % 13) as f32 - 6.0))
            .collect();
        assert!(a.distance(print(&noisy)) <= 4);
        let other = print(&scene(0.0, 1.0, 1));
        assert!(a.distance(other) >= 16, "distance {}", a.distance(other));
        // a change in the centre alone shows: the distance is the larger of the two
        let swapped = Fingerprint::from_luma(&scene(0.0, 1.0, 0), &scene(0.0, 1.0, 1)).unwrap();
        assert_eq!(a.distance(swapped), a.distance(other));
    }

    #[test]
    fn malformed_grids_have_no_fingerprint() {
        let fine = vec![0.0; LUMA_SIDE * LUMA_SIDE];
        assert!(Fingerprint::from_luma(&[0.0; 10], &fine).is_none());
        let mut nan = fine.clone();
        nan[3] = f32::NAN;
        assert!(Fingerprint::from_luma(&fine, &nan).is_none());
        assert_eq!(
            "000000000000000000000000000000ff"
                .parse::<Fingerprint>()
                .unwrap(),
            Fingerprint::new(255)
        );
        assert!("00000000000000ff".parse::<Fingerprint>().is_err());
        assert!("xyz".parse::<Fingerprint>().is_err());
    }
}
