//! `biosign sweep-orphans` as an operator runs it, on the embedded store: the JSON report, the
//! dry run, the age floor.

use std::path::Path;
use std::process::{Command, Output};

use biosign_shared::store::BlobStore;
use biosign_shared::store::embedded::EmbeddedStore;
use serde_json::Value;
use sha2::Digest as _;

const BIN: &str = env!("CARGO_BIN_EXE_biosign");

fn biosign(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("JWT_JWKS")
        .env_remove("JWT_ISSUER")
        .env_remove("BIOSIGN_STORE")
        .output()
        .expect("run biosign")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Writes a blob into the embedded store, dated `written_at` (the store's own write time).
fn put_blob(data_dir: &Path, key: &str, written_at: Option<&str>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EmbeddedStore::open(data_dir).unwrap();
        let bytes = bytes::Bytes::from_static(b"stray");
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        store
            .put_new(key, bytes, digest, "application/octet-stream")
            .await
            .unwrap();
    });
    if let Some(written_at) = written_at {
        let conn = rusqlite::Connection::open(data_dir.join("biosign.sqlite3")).unwrap();
        let changed = conn
            .execute(
                "UPDATE blobs SET written_at = ?1 WHERE key = ?2",
                rusqlite::params![written_at, key],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }
}

fn blob_exists(data_dir: &Path, key: &str) -> bool {
    let conn = rusqlite::Connection::open(data_dir.join("biosign.sqlite3")).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM blobs WHERE key = ?1",
        rusqlite::params![key],
        |row| row.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

#[test]
fn sweep_orphans_lists_then_removes_old_orphans_only() {
    let dir = tempfile::tempdir().unwrap();
    let sign = json(&biosign(dir.path(), &["create-sign", "--org", "acme"]));
    let sign_id = sign["sign_id"].as_str().unwrap();
    let old = format!(
        "signs/acme/{sign_id}/{}/biometric_data.bin",
        uuid::Uuid::new_v4()
    );
    let young = format!(
        "signs/acme/{sign_id}/{}/biometric_data.bin",
        uuid::Uuid::new_v4()
    );
    put_blob(dir.path(), &old, Some("2020-01-01T00:00:00.000Z"));
    put_blob(dir.path(), &young, None);

    let listed = json(&biosign(dir.path(), &["sweep-orphans", "--dry-run"]));
    assert_eq!(listed["dry_run"], true);
    assert_eq!(listed["orphans"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["orphans"][0]["key"], old.as_str());
    assert_eq!(listed["orphans"][0]["sign_id"], sign_id);
    assert_eq!(listed["orphans"][0]["versions"][0]["removed"], false);
    assert_eq!(
        listed["orphans"][0]["versions"][0]["written_at"],
        "2020-01-01T00:00:00.000Z"
    );
    assert_eq!(listed["kept"]["young"], 1);
    assert!(blob_exists(dir.path(), &old), "a dry run removes nothing");

    let swept = json(&biosign(
        dir.path(),
        &["sweep-orphans", "--older-than", "P1D"],
    ));
    assert_eq!(swept["dry_run"], false);
    assert_eq!(swept["orphans"][0]["key"], old.as_str());
    assert_eq!(swept["orphans"][0]["versions"][0]["removed"], true);
    assert_eq!(swept["errors"], serde_json::json!([]));
    assert!(!blob_exists(dir.path(), &old));
    assert!(blob_exists(dir.path(), &young), "the young orphan stays");
}

#[test]
fn sweep_orphans_refuses_an_age_that_could_catch_a_sign_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    for (age, message) in [
        ("PT10S", "--older-than must be at least PT1M"),
        ("an hour", "--older-than:"),
    ] {
        let output = biosign(dir.path(), &["sweep-orphans", "--older-than", age]);
        assert_eq!(output.status.code(), Some(1), "{age}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{age}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let help = biosign(dir.path(), &["sweep-orphans", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--older-than"));
}
