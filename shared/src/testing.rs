//! Fixtures for tests and benchmarks: the smallest image headers the validation accepts, a small
//! valid capture, a sample sign, and a local Lambda Runtime API to run the function binaries
//! against.

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

/// A small capture that passes every rule of `biometric-data.md`: sigdata/1, one pen stroke of
/// 24 samples every 20 ms along a 46 px line, with pressure. For tests that need valid biometric
/// data but are about something else; `capture::sample` has realistic ones.
pub fn minimal_capture() -> Vec<u8> {
    let column = |f: &dyn Fn(u32) -> String| (0..24).map(f).collect::<Vec<_>>().join(",");
    format!(
        r#"{{"format":"sigdata/1","capture":{{"width":300,"height":100,"pointer_type":"pen"}},"strokes":[{{"t":[{}],"x":[{}],"y":[{}],"p":[{}]}}]}}"#,
        column(&|i| (i * 20).to_string()),
        column(&|i| (40 + 2 * i).to_string()),
        column(&|i| (50 + i % 3).to_string()),
        column(&|i| format!("0.{}", 30 + i)),
    )
    .into_bytes()
}

/// Starts a function binary with each required setting missing in turn (and once with a
/// symmetric JWKS), and asserts that it exits at once with `EX_CONFIG` and a message naming the
/// culprit. `needs_bucket` for the function that also needs `BUCKET_NAME`.
pub fn assert_fails_fast_without_settings(binary: &str, needs_bucket: bool) {
    use std::process::Command;
    const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let full = [
        ("TABLE_NAME", "t"),
        ("BUCKET_NAME", "b"),
        ("JWT_JWKS", JWKS),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
    ];
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
