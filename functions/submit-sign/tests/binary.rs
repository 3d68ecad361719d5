//! The real `submit-sign` binary. Started without a required setting, or with escrow
//! certificates it cannot seal for, it exits at once naming it (instead of failing on its first
//! request); run as Lambda runs it, against DynamoDB and S3 in moto, it refuses what it must
//! without storing anything, and stores an accepted signature's image, its sealed biometric data
//! and evidence. Each invocation writes one CloudWatch metric line (EMF), and no line it writes
//! holds a secret.

use std::path::Path;
use std::process::Command;

use biosign_e2e::Signature;
use biosign_e2e::lambda::FunctionOnMoto;
use biosign_e2e::lambda::VALID_SETTINGS;
use biosign_e2e::sealing::{openssl_fingerprint, openssl_open};
use biosign_e2e::tsa::{LoopbackTsa, TsaMode};
use biosign_shared::evidence::EventType;
use biosign_shared::model::StoredStatus;
use biosign_shared::store::BlobStore;
use biosign_shared::testing::{TEST_ESCROW_CERT, TEST_ESCROW_KEY, escrow_fixture};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BINARY: &str = env!("CARGO_BIN_EXE_submit-sign");

#[test]
fn exits_at_once_naming_a_missing_or_invalid_setting() {
    biosign_e2e::lambda::assert_fails_fast_without_settings(BINARY, true);
}

/// Every other setting valid, `ESCROW_CERTS` as given: the exit code and what went to stderr.
fn start_with_escrow_certs(escrow_certs: Option<&Path>) -> (Option<i32>, String) {
    let mut command = Command::new(BINARY);
    command.env_clear().envs(VALID_SETTINGS);
    if let Some(path) = escrow_certs {
        command.env("ESCROW_CERTS", path);
    }
    let output = command.output().expect("run the function binary");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn exits_at_once_naming_a_missing_or_unusable_escrow_certificates_file() {
    assert_eq!(
        start_with_escrow_certs(None),
        (
            Some(78),
            "biosign: configuration error: the environment variable ESCROW_CERTS is required but not set\n"
                .to_owned()
        )
    );
    let cases = [
        (
            "ec-p256.crt.pem",
            "certificate 1 (CN=TEST ONLY ec p256): its key is EC, not RSA",
        ),
        (
            "rsa-pss.crt.pem",
            "certificate 1 (CN=TEST ONLY rsa-pss): its key is RSASSA-PSS (restricted to signatures), not RSA",
        ),
        (
            "rsa1024.crt.pem",
            "certificate 1 (CN=TEST ONLY rsa 1024): its RSA key has 1024 bits (2048 to 8192 accepted)",
        ),
        (
            "expired.crt.pem",
            "certificate 1 (CN=TEST ONLY expired): expired at 2001-01-01T00:00:00.000Z",
        ),
        (
            "not-yet-valid.crt.pem",
            "certificate 1 (CN=TEST ONLY not yet valid): not valid before 2100-01-01T00:00:00.000Z",
        ),
        (
            "signing-only.crt.pem",
            "certificate 1 (CN=TEST ONLY signing only): its key usage extension does not allow keyEncipherment",
        ),
        (
            "garbage.pem",
            "certificate 1 is not a readable X.509 certificate: ",
        ),
        (
            "rsa2048.key.pem",
            "PEM block 1 is a private key (PRIVATE KEY): the service must never hold an escrow private key",
        ),
        ("README.md", "holds no PEM certificate"),
        ("absent.crt.pem", "cannot read the file: "),
    ];
    for (fixture, reason) in cases {
        let path = escrow_fixture(fixture);
        let (code, stderr) = start_with_escrow_certs(Some(&path));
        let expected = format!(
            "biosign: configuration error: the environment variable ESCROW_CERTS is invalid: {}: {reason}",
            path.display()
        );
        assert_eq!(code, Some(78), "{fixture}: {stderr}");
        assert!(
            stderr.starts_with(&expected),
            "{fixture}:\n{stderr}\n{expected}"
        );
    }
}

/// The sign fixture with `body` as the request body.
fn sign_event(lambda: &FunctionOnMoto, body: &str) -> String {
    let body = serde_json::to_string(body).expect("a JSON string");
    lambda
        .event("apigw-v2-sign.json")
        .replace("\"{{BODY}}\"", &body)
}

#[tokio::test]
async fn stores_a_signature_once_the_documents_were_previewed() {
    let mut lambda = FunctionOnMoto::start(BINARY).await;
    let signature = Signature::sample(1);
    let event = sign_event(&lambda, &signature.body().to_string());

    let (status, body) = lambda.invoke(&event).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (409, Some("MDOC_006")),
        "{body}"
    );
    assert!(
        lambda.blob_keys().await.is_empty(),
        "a refused signature stores no blob"
    );

    lambda.record_preview().await;
    let without_image = sign_event(&lambda, r#"{"biometric_data":"AAAA"}"#);
    let (status, body) = lambda.invoke(&without_image).await;
    assert_eq!(
        (
            status,
            body["errors"][0]["code"].as_str(),
            body["errors"][0]["details"].as_str()
        ),
        (400, Some("MDOC_002"), Some("signature_image: is required")),
        "{body}"
    );
    assert!(
        lambda.blob_keys().await.is_empty(),
        "an invalid body stores no blob"
    );
    assert_eq!(lambda.report().await.sign.status, StoredStatus::Previewed);

    let (status, body) = lambda.invoke(&event).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let report = lambda.report().await;
    assert_eq!(report.sign.status, StoredStatus::Signed);
    assert!(report.chain.is_valid());
    let summary = report.sign.signature.as_ref().expect("a signature summary");
    assert_eq!(summary.image_sha256, signature.image_sha256());
    assert_eq!(summary.biometric_data_sha256, signature.biometric_sha256());
    let [preview, sign] = report.events.as_slice() else {
        panic!("two events: {:?}", report.events)
    };
    assert_eq!(
        (preview.event_type, sign.event_type),
        (EventType::Preview, EventType::Sign)
    );
    assert_eq!(sign.client_ip.as_deref(), Some("203.0.113.10"));
    assert_eq!(sign.request_id.as_deref(), Some("gw-request-2"));

    // The bucket holds the image as decoded and the biometric data sealed, under the keys the
    // sign records, and nothing else.
    let keys = report.sign.blobs.as_ref().expect("blob keys");
    let mut stored = lambda.blob_keys().await;
    stored.sort();
    let mut expected = vec![keys.biometric_data.clone(), keys.signature_image.clone()];
    expected.sort();
    assert_eq!(stored, expected);
    assert!(
        keys.biometric_data.ends_with("/biometric_data.p7m"),
        "{}",
        keys.biometric_data
    );
    for (key, content_type) in [
        (&keys.biometric_data, "application/pkcs7-mime"),
        (&keys.signature_image, "image/png"),
    ] {
        let head = lambda
            .blobs
            .client()
            .head_object()
            .bucket(lambda.blobs.bucket())
            .key(key)
            .send()
            .await
            .expect("head the object");
        assert_eq!(head.content_type(), Some(content_type), "{key}");
    }
    let image = lambda.blobs.get(&keys.signature_image).await.expect("get");
    assert_eq!(&image.expect("present").bytes[..], &signature.image[..]);
    let envelope = lambda.blobs.get(&keys.biometric_data).await.expect("get");
    let envelope = envelope.expect("present").bytes;
    let opened = openssl_open(&envelope, TEST_ESCROW_KEY, TEST_ESCROW_CERT);
    assert_eq!(opened.as_deref(), Ok(&signature.biometric_data[..]));
    let sealed = sign
        .sealed
        .as_ref()
        .expect("the SIGN event records the seal");
    assert_eq!(
        sealed.biometric_envelope_sha256,
        hex::encode(Sha256::digest(&envelope))
    );
    let fingerprint = openssl_fingerprint(TEST_ESCROW_CERT);
    assert_eq!(sealed.recipient_fingerprints, vec![fingerprint.clone()]);
    // The recipients were logged once, at start-up (three invocations ago).
    assert_eq!(
        lambda.function.output().matches(&fingerprint).count(),
        1,
        "{}",
        lambda.function.output()
    );
}

/// A capture of one sample: well-formed, but no handwritten signature (422).
const ONE_DOT: &[u8] = br#"{"format":"sigdata/1","capture":{"width":600,"height":200,"pointer_type":"pen"},"strokes":[{"t":[0],"x":[10],"y":[12],"p":[0.5]}]}"#;

fn unix_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since_epoch.as_millis()).expect("in range")
}

/// The lines of `output` that are EMF documents: JSON objects with an `_aws` member, each the
/// whole line (as CloudWatch requires).
fn metric_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect()
}

/// With a TSA that fails: a 409 (signed before the preview), a 422 (a capture of one dot), a
/// stored signature whose timestamp is pending, and an identical retry each write exactly one
/// metric line, with the function's name as its only dimension besides the error code. Nothing
/// the function printed holds the token, the biometric data, the image, the fingerprint or the
/// installation id.
#[tokio::test]
async fn each_invocation_writes_one_metric_line_without_secrets() {
    let tsa = LoopbackTsa::start().await;
    tsa.set_mode(TsaMode::HttpError);
    let mut lambda = FunctionOnMoto::start_with_env(
        BINARY,
        [
            ("TSA_URL", tsa.url.clone()),
            ("TSA_CERTS", tsa.ca_pem().display().to_string()),
        ],
    )
    .await;
    let signature = Signature::sample(3);
    let event = sign_event(&lambda, &signature.body().to_string());
    let one_dot = sign_event(
        &lambda,
        &Signature::with_biometric_data(ONE_DOT).body().to_string(),
    );
    let before = unix_millis();

    let (status, _) = lambda.invoke(&event).await;
    assert_eq!(status, 409);
    let (status, _) = lambda.invoke(&one_dot).await;
    assert_eq!(status, 422);
    lambda.record_preview().await;
    let (status, _) = lambda.invoke(&event).await;
    assert_eq!(status, 204);
    assert_eq!(tsa.requests(), 1, "the TSA was asked, and failed");
    let (status, _) = lambda.invoke(&event).await;
    assert_eq!(status, 204, "an identical retry");
    let after = unix_millis();

    let output = lambda.function.output();
    let lines = metric_lines(&output);
    assert_eq!(lines.len(), 4, "one line per invocation:\n{output}");
    // The function's name as Lambda gives it (the harness names it after the binary).
    let function = "submit-sign";
    let by_function = json!([["Function"]]);
    let by_code = json!([["Function", "ErrorCode"]]);
    let expected = [
        // status, error code, refused, conflicts, accepted, pending
        (409, Some("CONFLICT"), 1, 1, 0, 0),
        (422, Some("UNPROCESSABLE_ENTITY"), 1, 0, 0, 0),
        (204, None, 0, 0, 1, 1),
        (204, None, 0, 0, 0, 0),
    ];
    for (line, (status, code, refused, conflicts, accepted, pending)) in lines.iter().zip(expected)
    {
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        let dimensions: Vec<&Value> = directives.iter().map(|d| &d["Dimensions"]).collect();
        if code.is_some() {
            assert_eq!(dimensions, [&by_function, &by_code], "{line}");
        } else {
            assert_eq!(dimensions, [&by_function], "{line}");
        }
        for directive in directives {
            assert_eq!(directive["Namespace"], "Biosign", "{line}");
        }
        let names: Vec<&str> = directives[0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Duration",
                "Refused",
                "Conflicts",
                "Failed",
                "SignsAccepted",
                "TimestampsPending"
            ],
            "{line}"
        );
        let timestamp = line["_aws"]["Timestamp"].as_i64().unwrap();
        assert!((before..=after).contains(&timestamp), "{line}");
        assert_eq!(line["Function"], function, "{line}");
        assert_eq!(line["ErrorCode"].as_str(), code, "{line}");
        assert_eq!(
            (
                line["Status"].as_u64(),
                line["Refused"].as_u64(),
                line["Conflicts"].as_u64(),
                line["Failed"].as_u64(),
                line["SignsAccepted"].as_u64(),
                line["TimestampsPending"].as_u64()
            ),
            (
                Some(status),
                Some(refused),
                Some(conflicts),
                Some(0),
                Some(accepted),
                Some(pending)
            ),
            "{line}"
        );
        assert!(line["Duration"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["RequestId"], "gw-request-2", "{line}");
        assert_eq!(line["SignId"], lambda.sign_id.as_str(), "{line}");
        assert!(line.get("OrgId").is_none(), "{line}");
    }

    let token_signature = lambda.token.rsplit('.').next().unwrap();
    let body = signature.body();
    let biometric = &body["biometric_data"].as_str().unwrap()[..64];
    let image = &body["signature_image"].as_str().unwrap()["data:image/png;base64,".len()..][..64];
    for secret in [
        token_signature,
        biometric,
        image,
        "3f8a1c2e9b7d4f60a1b2c3d4e5f60718",
        "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11",
        // The fixture's x-location (88.52,-123.1), as sent and as stored (degrees × 10^7); its
        // negative longitude cannot pass for a duration or a count.
        "-123.1",
        "-1231000000",
    ] {
        assert!(
            !output.contains(secret),
            "the output holds {secret}:\n{output}"
        );
    }
    let printed: std::collections::HashSet<&[u8]> = output.as_bytes().windows(32).collect();
    assert!(
        !signature
            .biometric_data
            .windows(32)
            .any(|w| printed.contains(w)),
        "the output holds 32 bytes of the biometric data"
    );
}
