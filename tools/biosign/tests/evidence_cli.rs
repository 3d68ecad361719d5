//! `biosign verify-evidence` and `biosign export-evidence` as a user runs them: one line per
//! check, exit 0 / 3 / 1, and messages naming what is wrong. (The checks themselves, with real
//! timestamp tokens and the VERIFY.md commands, are tested in `tests/tests/evidence_package.rs`.)

use std::path::Path;
use std::process::{Command, Output};

use biosign::evidence_package::{self, Contents, EVENTS, Package};
use biosign_shared::canonical::{self, sha256_hex};
use biosign_shared::model::ImageFormat;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_biosign");

fn biosign(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("BIOSIGN_STORE")
        .env_remove("TSA_CERTS")
        .output()
        .expect("run biosign")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A signed sign's package without a timestamp: PREVIEW and SIGN.
fn package() -> Package {
    let image = b"\x89PNG\r\n\x1a\n not really pixels".to_vec();
    let envelope = b"sealed".to_vec();
    let common = |seq: u64, event_type: &str, prev: Option<String>| {
        json!({
            "seq": seq, "event_type": event_type, "event_id": format!("e{seq}"),
            "org_id": "acme", "sign_id": "s-1", "recorded_at": "2026-11-27T10:00:00.000Z",
            "prev_event_sha256": prev, "installation_id": "i", "fingerprint": "f",
            "location": null, "client_ip": null, "user_agent": null, "request_id": "r",
        })
    };
    let preview = canonical::to_vec(&{
        let mut e = common(1, "PREVIEW", None);
        e["signature"] = Value::Null;
        e
    })
    .unwrap();
    let summary = json!({
        "image_sha256": sha256_hex(&image), "biometric_data_sha256": "00".repeat(32),
        "biometric_envelope_sha256": sha256_hex(&envelope), "image_format": "png",
        "image_width": 1, "image_height": 1,
    });
    let sign = canonical::to_vec(&{
        let mut e = common(2, "SIGN", Some(sha256_hex(&preview)));
        e["signature"] = summary.clone();
        e
    })
    .unwrap();
    let view = json!({
        "sign_id": "s-1", "org_id": "acme", "status": "SIGNED", "signature": summary,
        "evidence": {"events": 2, "chain_sha256": sha256_hex(&sign), "timestamped_at": null},
    });
    evidence_package::build_package(
        Contents {
            sign: view,
            events: vec![preview, sign],
            image: Some((ImageFormat::Png, image)),
            biometric_data: Some(envelope),
            timestamp_token: None,
            tsa_certs_pem: None,
        },
        biosign_shared::time::now(),
    )
    .unwrap()
}

#[test]
fn verify_evidence_prints_one_line_per_check_and_exits_0_3_or_1() {
    let dir = tempfile::tempdir().unwrap();
    let intact = dir.path().join("intact.zip");
    package().write_new(&intact).unwrap();
    assert!(
        package().write_new(&intact).is_err(),
        "an existing package is never replaced"
    );
    let output = biosign(dir.path(), &["verify-evidence", intact.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    for (line, check) in lines.iter().zip(evidence_package::checks::ALL) {
        let (outcome, rest) = line.split_once(' ').unwrap();
        assert!(
            rest.trim_start().starts_with(&format!("{check}: ")),
            "{line}"
        );
        let expected = match check {
            "timestamp" | "tsa_chain" => "SKIP",
            _ => "OK",
        };
        assert_eq!(outcome, expected, "{line}");
    }

    let mut reordered = package();
    let mut events: Vec<Vec<u8>> = reordered.entries[EVENTS]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    events.swap(0, 1);
    let events: Vec<u8> = events
        .into_iter()
        .flat_map(|mut l| {
            l.push(b'\n');
            l
        })
        .collect();
    reordered.entries.insert(EVENTS.into(), events);
    let tampered = dir.path().join("tampered.zip");
    reordered.write_new(&tampered).unwrap();
    let output = biosign(dir.path(), &["verify-evidence", tampered.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("FAIL entries: events.jsonl does not match"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL chain: line 1 holds seq 2"),
        "{stdout}"
    );
    assert!(stdout.contains("OK   signature_image: "), "{stdout}");

    let garbage = dir.path().join("garbage.zip");
    std::fs::write(&garbage, b"not a zip").unwrap();
    let output = biosign(dir.path(), &["verify-evidence", garbage.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("not a ZIP archive"),
        "{}",
        text(&output.stderr)
    );
    assert!(output.stdout.is_empty());

    let missing = dir.path().join("missing.zip");
    let output = biosign(dir.path(), &["verify-evidence", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("missing.zip"));

    let output = biosign(
        dir.path(),
        &[
            "verify-evidence",
            intact.to_str().unwrap(),
            "--tsa-ca",
            "/nonexistent/ca.pem",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--tsa-ca: /nonexistent/ca.pem"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn both_commands_have_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["export-evidence", "verify-evidence"] {
        let output = biosign(dir.path(), &[command, "--help"]);
        assert!(output.status.success(), "{command}");
        assert!(text(&output.stdout).contains(&format!("Usage: biosign {command}")));
    }
}

#[test]
fn export_evidence_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(biosign(dir.path(), &["init"]).status.success());
    let created = biosign(dir.path(), &["create-sign", "--org", "acme"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let sign: Value = serde_json::from_slice(&created.stdout).unwrap();
    let sign_id = sign["sign_id"].as_str().unwrap();
    let out = dir.path().join("out.zip");
    let out = out.to_str().unwrap();
    let cases = [
        (
            vec!["--org", "acme", "--sign-id", sign_id],
            "no evidence events",
        ),
        (
            vec![
                "--org",
                "acme",
                "--sign-id",
                "0b6f4d2e-3c1a-4e8b-9f7d-2a5c6e8b1d40",
            ],
            "no sign",
        ),
        (vec!["--org", "a b", "--sign-id", sign_id], "--org"),
        (vec!["--org", "acme", "--sign-id", "nope"], "--sign-id"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["export-evidence", "--out", out];
        full.extend(args);
        let output = biosign(dir.path(), &full);
        assert_eq!(output.status.code(), Some(1), "{full:?}");
        assert!(
            text(&output.stderr).contains(expected),
            "{full:?}: {}",
            text(&output.stderr)
        );
        assert!(!Path::new(out).exists(), "nothing is written on failure");
    }
}
