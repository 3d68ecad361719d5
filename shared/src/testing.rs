//! Fixtures for tests and benchmarks: the smallest image headers the validation accepts, a
//! sample sign, and a local Lambda Runtime API to run the function binaries against.

#[cfg(feature = "testing")]
pub mod runtime_api;

/// A PNG signature and IHDR chunk for a `width`×`height` image (no pixel data: the validation
/// reads only the header).
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(b"IHDR");
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]); // CRC, not checked
    out
}

/// A baseline JPEG start: SOI, then an SOF0 segment with the size.
pub fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08];
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// A test-only escrow fixture (`shared/tests/fixtures/escrow/`, whose README lists them): their
/// private keys are public, never use them for real data.
pub fn escrow_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/escrow")
        .join(name)
}

/// The escrow recipient the tests seal to: `rsa2048.crt.pem`, opened by `rsa2048.key.pem`.
pub fn test_escrow() -> crate::seal::EscrowRecipients {
    crate::seal::EscrowRecipients::load(&escrow_fixture(TEST_ESCROW_CERT), crate::time::now())
        .expect("the escrow test fixture is a valid recipient")
}

/// The certificate of [`test_escrow`], and the key that opens its envelopes.
pub const TEST_ESCROW_CERT: &str = "rsa2048.crt.pem";
pub const TEST_ESCROW_KEY: &str = "rsa2048.key.pem";

/// A valid value of each setting the functions read before the escrow certificates (the JWKS
/// holds one Ed25519 key; the names go nowhere).
pub const VALID_SETTINGS: [(&str, &str); 5] = [
    ("TABLE_NAME", "t"),
    ("BUCKET_NAME", "b"),
    (
        "JWT_JWKS",
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
    ),
    ("JWT_ISSUER", "i"),
    ("JWT_AUDIENCE", "a"),
];

/// Starts a function binary with each required setting missing in turn (and once with a
/// symmetric JWKS), and asserts that it exits at once with `EX_CONFIG` and a message naming the
/// culprit. `needs_bucket` for the function that also needs `BUCKET_NAME`.
pub fn assert_fails_fast_without_settings(binary: &str, needs_bucket: bool) {
    use std::process::Command;
    let full = VALID_SETTINGS;
    let start = |env: &[(&str, &str)]| {
        Command::new(binary)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("run the function binary")
    };
    let mut required = vec!["TABLE_NAME", "JWT_JWKS", "JWT_ISSUER", "JWT_AUDIENCE"];
    if needs_bucket {
        required.push("BUCKET_NAME");
    }
    for missing in required {
        let env: Vec<_> = full
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        let output = start(&env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(78),
            "without {missing}: {stderr}"
        );
        assert!(stderr.contains(missing), "without {missing}: {stderr}");
    }
    let symmetric = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
    let env: Vec<_> = full
        .iter()
        .map(|&(k, v)| (k, if k == "JWT_JWKS" { symmetric } else { v }))
        .collect();
    let output = start(&env);
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("symmetric keys are refused"));
}

/// A sign for `key` as the platform would create it at `now`: one signer, one document to
/// preview and sign, valid for seven days. Tests override fields with struct-update syntax.
pub fn new_sign(key: crate::ids::SignKey, now: crate::time::Timestamp) -> crate::model::NewSign {
    use crate::model::{Document, NewSign, Signer};
    NewSign {
        key,
        sign_process_id: "process-1".into(),
        signer: Signer {
            alias: "signer_1".into(),
            name: "Ana".into(),
            last_name: "García".into(),
            language: "ES".into(),
        },
        documents: vec![Document {
            id: "d1".into(),
            name: "contract.pdf".into(),
            sign_fields: vec!["SIGNATURE_CUSTOMER".into()],
        }],
        preview_documents: vec!["d1".into()],
        created_at: now,
        expires_at: now + chrono::Duration::days(7),
    }
}
