//! The evidence package and its three verifiers: `biosign verify-evidence` (the library behind
//! it), the shell commands of the package's `VERIFY.md` (sha256sum, jq, openssl), and the Python
//! recomputation of docs/evidence.md. An intact package passes all three; each tampering, on its
//! own copy, fails the same named check in the first two, and the chain tamperings in the third.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use biosign::evidence_package::{
    self, BIOMETRIC_DATA, Contents, EVENTS, MANIFEST, Package, TIMESTAMP_TOKEN, checks,
};
use biosign_e2e::tsa::LoopbackTsa;
use biosign_e2e::{Aws, Backend, Embedded, Signature, TestEnv};
use biosign_shared::canonical::{self, sha256_hex};
use biosign_shared::model::ImageFormat;
use biosign_shared::time;
use biosign_shared::timestamp::{TrustedCerts, TsaClient};
use serde_json::{Value, json};

const ORG: &str = "acme";
const SIGN_ID: &str = "0b6f4d2e-3c1a-4e8b-9f7d-2a5c6e8b1d40";

/// An event in the shape docs/evidence.md describes, linked to `prev`.
fn event(seq: u64, event_type: &str, prev: Option<&str>, extra: Value) -> Vec<u8> {
    let mut fields = json!({
        "seq": seq,
        "event_type": event_type,
        "event_id": format!("7c1e2d3f-0000-4000-8000-00000000000{seq}"),
        "org_id": ORG,
        "sign_id": SIGN_ID,
        "recorded_at": format!("2026-11-27T10:15:0{seq}.250Z"),
        "prev_event_sha256": prev,
    });
    if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
        fields.extend(extra.clone());
    }
    canonical::to_vec(&fields).expect("a portable event")
}

fn request_evidence() -> Value {
    // Non-ASCII, quotes and a backslash: the canonical escapes must agree everywhere.
    json!({
        "installation_id": "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11",
        "fingerprint": "3f8a1c2e9b7d4f60a1b2c3d4e5f60718",
        "location": {"lat_e7": 404168000, "lon_e7": -37038000},
        "client_ip": "203.0.113.9",
        "user_agent": "Firma/2.1 (Señal; \"tablet\" \\ 10\u{2019}) ü€😀",
        "request_id": "c0ffee00-1111-4222-8333-444455556666",
    })
}

struct Signed {
    package: Package,
    /// A genuine token of the same TSA for another digest.
    other_token: Vec<u8>,
}

/// A signed, timestamped sign's package: PREVIEW, SIGN, TIMESTAMP, with a real token.
async fn signed_package(tsa: &LoopbackTsa) -> Signed {
    let signature = Signature::sample(7);
    let envelope = b"0\x82sealed biometric data (a CMS envelope in production)".to_vec();
    let preview = event(1, "PREVIEW", None, {
        let mut extra = request_evidence();
        extra["signature"] = Value::Null;
        extra
    });
    let summary = json!({
        "image_sha256": signature.image_sha256(),
        "biometric_data_sha256": signature.biometric_sha256(),
        "biometric_envelope_sha256": sha256_hex(&envelope),
        "image_format": "png",
        "image_width": 400,
        "image_height": 150,
    });
    let sign = event(2, "SIGN", Some(&sha256_hex(&preview)), {
        let mut extra = request_evidence();
        extra["signature"] = summary.clone();
        extra
    });
    let sign_sha256 = sha256_hex(&sign);
    let client = TsaClient::new(&tsa.url, TrustedCerts::load(&tsa.ca_pem()).unwrap()).unwrap();
    let imprint: [u8; 32] = hex::decode(&sign_sha256).unwrap().try_into().unwrap();
    let token = client.request(imprint).await.expect("a token");
    let gen_time = time::format(&token.gen_time);
    let stamp = event(
        3,
        "TIMESTAMP",
        Some(&sign_sha256),
        json!({
            "token_sha256": sha256_hex(&token.der),
            "gen_time": gen_time,
            "tsa_name": token.tsa_name,
            "imprint": sign_sha256,
        }),
    );
    let head = sha256_hex(&stamp);
    let view = json!({
        "sign_id": SIGN_ID, "org_id": ORG, "sign_process_id": "9d1c0b7a-6e5f-4d3c-8b2a-1f0e9d8c7b6a",
        "type": "BIOMETRIC", "status": "SIGNED",
        "signer": {"alias": "signer_1", "name": "James", "last_name": "Smith", "language": "ES"},
        "documents": [], "preview_documents": [],
        "created_at": "2026-11-27T10:00:00.000Z", "expires_at": "2026-12-04T10:00:00.000Z",
        "previewed_at": "2026-11-27T10:15:01.250Z", "signed_at": "2026-11-27T10:15:02.250Z",
        "signature": summary,
        "evidence": {"events": 3, "chain_sha256": head, "timestamped_at": gen_time},
    });
    let package = evidence_package::build_package(
        Contents {
            sign: view,
            events: vec![preview, sign, stamp],
            image: Some((ImageFormat::Png, signature.image.clone())),
            biometric_data: Some(envelope),
            timestamp_token: Some(token.der.to_vec()),
            tsa_certs_pem: Some(std::fs::read(tsa.ca_pem()).unwrap()),
        },
        time::now(),
    )
    .expect("a package");
    let other_token = client
        .request([9u8; 32])
        .await
        .expect("a token")
        .der
        .to_vec();
    Signed {
        package,
        other_token,
    }
}

fn manifest(package: &Package) -> Value {
    serde_json::from_slice(&package.entries[MANIFEST]).unwrap()
}

fn set_manifest(package: &mut Package, manifest: &Value) {
    package.entries.insert(
        MANIFEST.to_owned(),
        serde_json::to_vec_pretty(manifest).unwrap(),
    );
}

/// Makes the manifest's digests match the (tampered) entries again, as a forger would.
fn reseal(package: &mut Package) {
    let mut manifest = manifest(package);
    for (name, content) in &package.entries {
        if name != MANIFEST {
            manifest["entries"][name] = Value::String(sha256_hex(content));
        }
    }
    set_manifest(package, &manifest);
}

fn lines(package: &Package) -> Vec<Vec<u8>> {
    let text = &package.entries[EVENTS];
    text.strip_suffix(b"\n")
        .unwrap()
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn set_lines(package: &mut Package, lines: &[Vec<u8>]) {
    let text = lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    package.entries.insert(EVENTS.to_owned(), text);
}

/// The `sh` blocks of VERIFY.md, each with the check it names.
fn verify_md_blocks() -> Vec<(String, String)> {
    let text = evidence_package::VERIFY_TEMPLATE;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("a closed block");
        let block = &body[..end];
        let name = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# check: "))
            .expect("each block names its check")
            .to_owned();
        blocks.push((name, block.to_owned()));
        rest = &body[end + 3..];
    }
    blocks
}

/// Runs every VERIFY.md block in the unpacked package; the names of the blocks that failed.
fn shell_failures(package: &Package, tsa_ca: Option<&Path>) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    package.unpack(dir.path()).unwrap();
    let mut failed = BTreeSet::new();
    for (name, block) in verify_md_blocks() {
        let mut command = Command::new("sh");
        command.arg("-c").arg(&block).current_dir(dir.path());
        match tsa_ca {
            Some(ca) => command.env("TSA_CA", ca),
            None => command.env_remove("TSA_CA"),
        };
        let output = command.output().expect("sh runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let verdict = stdout.lines().last().unwrap_or_default().to_owned();
        eprintln!("VERIFY.md: {verdict}");
        if output.status.success() {
            assert!(
                verdict.starts_with(&format!("OK {name}"))
                    || verdict.starts_with(&format!("SKIP {name}")),
                "{name}: exit 0 but printed {stdout:?}; stderr {}",
                String::from_utf8_lossy(&output.stderr)
            );
        } else {
            assert!(
                verdict.starts_with(&format!("FAIL {name}")),
                "{name}: failed but printed {stdout:?}; stderr {}",
                String::from_utf8_lossy(&output.stderr)
            );
            failed.insert(name);
        }
    }
    failed
}

/// The Python recomputation of docs/evidence.md (its first `python` block) on the unpacked
/// package: the chain head it prints, or its error.
fn python_chain_head(package: &Package) -> Result<String, String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/evidence.md"))
        .expect("docs/evidence.md");
    let start = doc.find("```python\n").expect("a python block") + 10;
    let script = &doc[start..start + doc[start..].find("```").expect("closed")];
    let dir = tempfile::tempdir().unwrap();
    package.unpack(dir.path()).unwrap();
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn rust_failures(package: &Package, tsa_ca: Option<&TrustedCerts>) -> BTreeSet<String> {
    let report = evidence_package::verify_package(package, tsa_ca);
    assert_eq!(
        report.lines.iter().map(|l| l.check).collect::<Vec<_>>(),
        checks::ALL,
        "one line per check, in order"
    );
    report.failed().into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn an_intact_package_passes_every_verifier() {
    let tsa = LoopbackTsa::start().await;
    let signed = signed_package(&tsa).await;
    // Through the ZIP, as a reader gets it.
    let package = Package::from_zip(&signed.package.to_zip().unwrap()).unwrap();
    assert_eq!(package, signed.package);
    let names: Vec<&str> = package.entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "VERIFY.md",
            "biometric_data.p7m",
            "events.jsonl",
            "manifest.json",
            "signature_image.png",
            "timestamp.tsr",
            "tsa/tsa_certs.pem"
        ]
    );
    let ca = TrustedCerts::load(&tsa.ca_pem()).unwrap();

    let report = evidence_package::verify_package(&package, Some(&ca));
    assert!(report.passed(), "{:#?}", report.lines);
    assert!(
        report
            .lines
            .iter()
            .all(|l| l.outcome == evidence_package::Outcome::Ok),
        "{:#?}",
        report.lines
    );
    let without_ca = evidence_package::verify_package(&package, None);
    assert!(without_ca.passed());
    assert_eq!(
        without_ca.lines.last().unwrap().outcome,
        evidence_package::Outcome::Skip
    );

    assert_eq!(
        shell_failures(&package, Some(&tsa.ca_pem())),
        BTreeSet::new()
    );
    assert_eq!(shell_failures(&package, None), BTreeSet::new());
    let head = manifest(&package)["chain_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(python_chain_head(&package), Ok(head.clone()));
    assert_eq!(
        manifest(&package)["sign"]["evidence"]["chain_sha256"],
        head.as_str()
    );
    // OpenSSL accepts the stored token for the SIGN event's digest.
    let sign_line = &lines(&package)[1];
    tsa.openssl_verify(&package.entries[TIMESTAMP_TOKEN], &sha256_hex(sign_line))
        .unwrap();
}

#[tokio::test]
async fn every_tampering_fails_the_same_check_in_the_verifier_and_in_verify_md() {
    let tsa = LoopbackTsa::start().await;
    let signed = signed_package(&tsa).await;
    let ca = TrustedCerts::load(&tsa.ca_pem()).unwrap();
    type Tamper = Box<dyn Fn(&mut Package)>;
    let other_token = signed.other_token.clone();
    let cases: Vec<(&str, Tamper, &[&str])> = vec![
        (
            "an event's field",
            Box::new(|p: &mut Package| {
                let mut events = lines(p);
                let text = String::from_utf8(events[0].clone()).unwrap();
                events[0] = text.replace("3f8a1c2e9b7d", "000000000000").into_bytes();
                set_lines(p, &events);
                reseal(p);
            }),
            &[checks::CHAIN],
        ),
        (
            "an event's field, manifest untouched",
            Box::new(|p: &mut Package| {
                let mut events = lines(p);
                let text = String::from_utf8(events[1].clone()).unwrap();
                events[1] = text.replace("203.0.113.9", "198.51.100.7").into_bytes();
                set_lines(p, &events);
            }),
            // The token timestamps the SIGN event's digest: changing that event voids it too.
            &[
                checks::ENTRIES,
                checks::CHAIN,
                checks::TIMESTAMP,
                checks::TSA_CHAIN,
            ],
        ),
        (
            "a removed event",
            Box::new(|p: &mut Package| {
                let events = lines(p);
                set_lines(p, &events[1..]);
                reseal(p);
            }),
            &[checks::CHAIN, checks::MANIFEST],
        ),
        (
            "reordered events",
            Box::new(|p: &mut Package| {
                let mut events = lines(p);
                events.swap(0, 1);
                set_lines(p, &events);
                reseal(p);
            }),
            &[checks::CHAIN],
        ),
        (
            "a swapped image",
            Box::new(|p: &mut Package| {
                p.entries.insert(
                    "signature_image.png".into(),
                    Signature::sample(8).image.clone(),
                );
                reseal(p);
            }),
            &[checks::SIGNATURE_IMAGE],
        ),
        (
            "a swapped envelope",
            Box::new(|p: &mut Package| {
                p.entries
                    .insert(BIOMETRIC_DATA.into(), b"another envelope".to_vec());
                reseal(p);
            }),
            &[checks::BIOMETRIC_DATA],
        ),
        (
            "a swapped token",
            Box::new(move |p: &mut Package| {
                p.entries
                    .insert(TIMESTAMP_TOKEN.into(), other_token.clone());
                reseal(p);
            }),
            &[checks::TIMESTAMP, checks::TSA_CHAIN],
        ),
        (
            "the manifest's account of the signature",
            Box::new(|p: &mut Package| {
                let mut m = manifest(p);
                m["sign"]["signature"]["image_sha256"] = json!("00".repeat(32));
                set_manifest(p, &m);
            }),
            &[checks::MANIFEST],
        ),
        (
            "the manifest's digest of an entry",
            Box::new(|p: &mut Package| {
                let mut m = manifest(p);
                m["entries"]["signature_image.png"] = json!("11".repeat(32));
                set_manifest(p, &m);
            }),
            &[checks::ENTRIES],
        ),
        (
            "the manifest's chain head",
            Box::new(|p: &mut Package| {
                let mut m = manifest(p);
                m["chain_sha256"] = json!("22".repeat(32));
                set_manifest(p, &m);
            }),
            &[checks::CHAIN, checks::MANIFEST],
        ),
    ];
    // A CA that did not issue the TSA's certificate: only the signer check fails.
    let other_ca = TrustedCerts::load(&tsa.other_ca_pem()).unwrap();
    let expected = BTreeSet::from([checks::TSA_CHAIN.to_owned()]);
    assert_eq!(rust_failures(&signed.package, Some(&other_ca)), expected);
    assert_eq!(
        shell_failures(&signed.package, Some(&tsa.other_ca_pem())),
        expected
    );

    for (what, tamper, expected) in cases {
        let mut package = signed.package.clone();
        tamper(&mut package);
        assert_ne!(package, signed.package, "{what}: the copy was changed");
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            rust_failures(&package, Some(&ca)),
            expected,
            "verifier, {what}"
        );
        assert_eq!(
            shell_failures(&package, Some(&tsa.ca_pem())),
            expected,
            "VERIFY.md, {what}"
        );
        assert_eq!(
            python_chain_head(&package).is_err(),
            expected.contains(checks::CHAIN),
            "Python, {what}"
        );
    }
}

#[tokio::test]
async fn the_python_recomputation_refuses_what_is_not_canonical() {
    let tsa = LoopbackTsa::start().await;
    let signed = signed_package(&tsa).await;
    type Change = Box<dyn Fn(&mut Vec<Vec<u8>>)>;
    let broken: Vec<(&str, Change)> = vec![
        (
            "a float",
            Box::new(|e| {
                let text = String::from_utf8(e[0].clone()).unwrap();
                e[0] = text.replace("404168000", "40.4168").into_bytes();
            }),
        ),
        (
            "whitespace",
            Box::new(|e| {
                let text = String::from_utf8(e[0].clone()).unwrap();
                e[0] = text.replacen(",", ", ", 1).into_bytes();
            }),
        ),
        ("a broken link", Box::new(|e| e.swap(1, 2))),
    ];
    for (what, change) in broken {
        let mut package = signed.package.clone();
        let mut events = lines(&package);
        change(&mut events);
        set_lines(&mut package, &events);
        assert!(python_chain_head(&package).is_err(), "{what}");
        assert!(
            rust_failures(&package, None).contains(checks::CHAIN),
            "{what}"
        );
    }
}

/// Exports a signed sign from a real store through the store traits; the package verifies.
async fn export_from_store(backend: impl Backend) {
    let env = TestEnv::start(backend).await;
    let sign = env.create_sign(ORG, true, "P7D").await;
    let token = env.full_token(ORG);
    env.preview(ORG, &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let signature = Signature::sample(3);
    env.sign(ORG, &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();

    let package = evidence_package::export_evidence(
        &env.stores.signs,
        &env.stores.blobs,
        ORG,
        &sign.sign_id,
        None,
    )
    .await
    .expect("export");
    assert_eq!(lines(&package).len(), 2, "PREVIEW and SIGN");
    assert_eq!(package.entries["signature_image.png"], signature.image);
    let record = env.report(ORG, &sign.sign_id).await.sign;
    let blobs = record.blobs.expect("blob keys");
    assert_eq!(
        package.entries[BIOMETRIC_DATA],
        env.blob(&blobs.biometric_data).await.bytes.to_vec()
    );
    let m = manifest(&package);
    assert_eq!(m["format"], "biosign-evidence/1");
    assert_eq!(m["sign"]["status"], "SIGNED");
    assert_eq!(m["sign"]["sign_id"], sign.sign_id.as_str());
    assert!(!package.entries.contains_key(TIMESTAMP_TOKEN));
    let report = evidence_package::verify_package(&package, None);
    let outcome = |check: &str| {
        report
            .lines
            .iter()
            .find(|l| l.check == check)
            .unwrap()
            .outcome
    };
    assert_eq!(outcome(checks::ENTRIES), evidence_package::Outcome::Ok);
    assert_eq!(outcome(checks::TIMESTAMP), evidence_package::Outcome::Skip);
    assert!(!shell_failures(&package, None).contains(checks::ENTRIES));
    // The service hashes events in the documented shape: every check holds but the timestamp's
    // (this sign was not timestamped).
    // Tripwire until the sealing branch records `biometric_envelope_sha256` in the SIGN event:
    // then biometric_data must read Ok too (and the report pass).
    for line in &report.lines {
        let expected = match line.check {
            checks::TIMESTAMP | checks::TSA_CHAIN => evidence_package::Outcome::Skip,
            checks::BIOMETRIC_DATA if line.detail.contains("no biometric_envelope_sha256") => {
                evidence_package::Outcome::Fail
            }
            _ => evidence_package::Outcome::Ok,
        };
        assert_eq!(line.outcome, expected, "{line}");
    }
    assert_eq!(
        m["chain_sha256"],
        record.last_event_sha256.unwrap().as_str()
    );
    assert_eq!(m["sign"]["evidence"]["events"], 2);
    assert_eq!(m["sign"]["evidence"]["chain_sha256"], m["chain_sha256"]);

    // An unknown sign, and a sign without events, are refused with a message.
    let missing =
        evidence_package::export_evidence(&env.stores.signs, &env.stores.blobs, ORG, SIGN_ID, None)
            .await;
    assert!(missing.unwrap_err().to_string().contains("no sign"));
    let fresh = env.create_sign(ORG, false, "P7D").await;
    let empty = evidence_package::export_evidence(
        &env.stores.signs,
        &env.stores.blobs,
        ORG,
        &fresh.sign_id,
        None,
    )
    .await;
    assert!(
        empty
            .unwrap_err()
            .to_string()
            .contains("no evidence events")
    );
}

#[tokio::test]
async fn export_from_the_embedded_store() {
    export_from_store(Embedded).await;
}

#[tokio::test]
async fn export_from_dynamodb_and_s3() {
    export_from_store(Aws { kms_key_id: None }).await;
}
