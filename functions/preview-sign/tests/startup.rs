//! Started without a required setting, the function exits at once with a message naming it
//! (instead of failing on its first request).

use std::process::{Command, Output};

const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

fn start(env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_preview-sign"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run the function binary")
}

#[test]
fn exits_at_once_naming_each_missing_variable() {
    let full = [
        ("TABLE_NAME", "t"),
        ("BUCKET_NAME", "b"),
        ("JWT_JWKS", JWKS),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
    ];
    for missing in ["TABLE_NAME", "JWT_JWKS", "JWT_ISSUER", "JWT_AUDIENCE"] {
        let env: Vec<_> = full
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        let output = start(&env);
        assert_eq!(output.status.code(), Some(78), "without {missing}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(missing), "without {missing}: {stderr}");
    }
}

#[test]
fn exits_at_once_on_an_invalid_jwks() {
    let output = start(&[
        ("TABLE_NAME", "t"),
        ("BUCKET_NAME", "b"),
        (
            "JWT_JWKS",
            r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
        ),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
    ]);
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("symmetric keys are refused"));
}
