//! What the tests of sealing need: the escrow holder's view (stock `openssl` opens an envelope
//! with a test escrow key), the stored content type of a blob, and every byte either store holds,
//! to prove that the plaintext is nowhere among them.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use biosign_shared::testing::escrow_fixture;

use crate::{TestEnv, TestStores};

/// The length of the windows of the plaintext that must not appear in any stored byte sequence.
pub const WINDOW: usize = 32;

/// `openssl cms -decrypt` as the README tells the escrow holder to run it, with the test escrow
/// fixtures `key` and `cert`: the plaintext, or OpenSSL's complaint.
pub fn openssl_open(envelope: &[u8], key: &str, cert: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sealed, plain) = (dir.path().join("sealed.p7m"), dir.path().join("plain.bin"));
    std::fs::write(&sealed, envelope).expect("write the envelope");
    let output = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(&sealed)
        .arg("-inkey")
        .arg(escrow_fixture(key))
        .arg("-recip")
        .arg(escrow_fixture(cert))
        .arg("-out")
        .arg(&plain)
        .output()
        .expect("run openssl");
    if output.status.success() {
        Ok(std::fs::read(&plain).expect("read what openssl wrote"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The SHA-256 fingerprint of a fixture certificate as OpenSSL computes it (lower-case hex, no
/// colons): an independent check of what the evidence records.
pub fn openssl_fingerprint(cert: &str) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(escrow_fixture(cert))
        .output()
        .expect("run openssl");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, colons) = text.trim().split_once('=').expect("Fingerprint=…");
    colons.replace(':', "").to_lowercase()
}

/// The content type the store recorded for the blob `key`.
pub async fn content_type(env: &TestEnv, key: &str) -> String {
    match &env.stores {
        TestStores::Embedded(store) => {
            let conn = rusqlite::Connection::open(store.inner.path()).expect("open the database");
            conn.query_row(
                "SELECT content_type FROM blobs WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .expect("the blob's row")
        }
        TestStores::Aws { blobs, .. } => blobs
            .inner
            .client()
            .head_object()
            .bucket(blobs.inner.bucket())
            .key(key)
            .send()
            .await
            .expect("head the object")
            .content_type
            .expect("a content type"),
    }
}

/// Every byte sequence the store holds, as named chunks: on the embedded store every file in the
/// data directory (the database, its journal, the keys); on AWS every version of every object in
/// the bucket, and every string and binary value of every item in the table.
pub async fn stored_bytes(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    match &env.stores {
        TestStores::Embedded(_) => {
            let mut files = Vec::new();
            collect_files(env.data_dir.path(), &mut files);
            assert!(
                files.iter().any(|(name, _)| name.ends_with(".sqlite3")),
                "the database is among the files: {:?}",
                files.iter().map(|(name, _)| name).collect::<Vec<_>>()
            );
            files
        }
        TestStores::Aws { signs, blobs } => {
            let mut chunks = object_versions(blobs.inner.client(), blobs.inner.bucket()).await;
            let items = signs
                .inner
                .client()
                .scan()
                .table_name(signs.inner.table())
                .send()
                .await
                .expect("scan the table");
            for (i, item) in items.items().iter().enumerate() {
                for (name, value) in item {
                    let mut bytes = Vec::new();
                    attribute_bytes(value, &mut bytes);
                    chunks.push((format!("item {i} attribute {name}"), bytes));
                }
            }
            chunks
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read the data directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            let bytes = std::fs::read(&path).expect("read a stored file");
            out.push((path.display().to_string(), bytes));
        }
    }
}

async fn object_versions(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("list the object versions");
    assert_ne!(listed.is_truncated(), Some(true), "one page holds them all");
    let mut chunks = Vec::new();
    for version in listed.versions() {
        let (key, id) = (version.key().expect("a key"), version.version_id());
        let object = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(id.map(str::to_owned))
            .send()
            .await
            .expect("get an object version");
        let bytes = object.body.collect().await.expect("the body").into_bytes();
        chunks.push((
            format!("s3://{bucket}/{key} version {id:?}"),
            bytes.to_vec(),
        ));
    }
    chunks
}

/// The raw bytes of an item's value: strings as UTF-8, binaries as they are, nested values in
/// turn (separated, so that no window spans two values).
fn attribute_bytes(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
        AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
        AttributeValue::Ss(list) | AttributeValue::Ns(list) => {
            for s in list {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
        }
        AttributeValue::Bs(list) => {
            for b in list {
                out.extend_from_slice(b.as_ref());
                out.push(0);
            }
        }
        AttributeValue::L(list) => {
            for v in list {
                attribute_bytes(v, out);
                out.push(0);
            }
        }
        AttributeValue::M(map) => {
            for (k, v) in map {
                out.extend_from_slice(k.as_bytes());
                out.push(0);
                attribute_bytes(v, out);
                out.push(0);
            }
        }
        _ => {}
    }
}

/// Where the first window of `secret` (the whole of it, when shorter than [`WINDOW`]) occurs in
/// `chunks`: the chunk's name and the offset.
pub fn find_window(chunks: &[(String, Vec<u8>)], secret: &[u8]) -> Option<(String, usize)> {
    let width = WINDOW.min(secret.len());
    assert!(width > 0, "an empty secret");
    let windows: HashSet<&[u8]> = secret.windows(width).collect();
    chunks.iter().find_map(|(name, bytes)| {
        bytes
            .windows(width)
            .position(|w| windows.contains(w))
            .map(|offset| (name.clone(), offset))
    })
}

/// Asserts that no stored byte sequence holds `plaintext` or any [`WINDOW`]-byte window of it,
/// after checking that the scan sees what it must: `stored_control` (bytes known to be stored
/// as they are, such as the signature image) is found.
pub async fn assert_stored_nowhere(env: &TestEnv, plaintext: &[u8], stored_control: &[u8]) {
    let chunks = stored_bytes(env).await;
    assert!(
        find_window(&chunks, stored_control).is_some(),
        "the scan must find bytes known to be stored"
    );
    if let Some((name, offset)) = find_window(&chunks, plaintext) {
        panic!("{name} holds plaintext biometric data at offset {offset}");
    }
}
