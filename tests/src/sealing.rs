//! What the tests of sealing need: the escrow holder's view (stock `openssl` opens an envelope
//! with a test escrow key), the stored content type of a blob, and every byte either store holds,
//! to prove that the plaintext is nowhere among them.

use std::collections::HashSet;
use std::process::Command;

use biosign_shared::testing::escrow_fixture;

use crate::{TestBlobs, TestEnv, TestSigns};

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
pub async fn content_type<S: TestSigns, B: TestBlobs>(env: &TestEnv<S, B>, key: &str) -> String {
    env.stores.blobs.inner.content_type(key).await
}

/// Every byte sequence the store holds, as named chunks: on the embedded store every file in the
/// data directory (the database, its journal, the keys); on AWS every version of every object in
/// the bucket, and every string and binary value of every item in the table.
pub async fn stored_bytes<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
) -> Vec<(String, Vec<u8>)> {
    let mut chunks = env.stores.blobs.inner.stored_bytes().await;
    chunks.extend(
        env.stores
            .signs
            .inner
            .stored_bytes(env.data_dir.path())
            .await,
    );
    chunks
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
pub async fn assert_stored_nowhere<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    plaintext: &[u8],
    stored_control: &[u8],
) {
    let chunks = stored_bytes(env).await;
    assert!(
        find_window(&chunks, stored_control).is_some(),
        "the scan must find bytes known to be stored"
    );
    if let Some((name, offset)) = find_window(&chunks, plaintext) {
        panic!("{name} holds plaintext biometric data at offset {offset}");
    }
}
