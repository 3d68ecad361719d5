//! The real `submit-sign` binary. Started without a required setting, or with escrow
//! certificates it cannot seal for, it exits at once naming it (instead of failing on its first
//! request); run as Lambda runs it, against DynamoDB and S3 in moto, it refuses what it must
//! without storing anything, and stores an accepted signature's image, its sealed biometric data
//! and evidence.

use std::path::Path;
use std::process::Command;

use biosign_e2e::Signature;
use biosign_e2e::lambda::FunctionOnMoto;
use biosign_e2e::lambda::VALID_SETTINGS;
use biosign_e2e::sealing::{openssl_fingerprint, openssl_open};
use biosign_shared::evidence::EventType;
use biosign_shared::model::StoredStatus;
use biosign_shared::store::BlobStore;
use biosign_shared::testing::{TEST_ESCROW_CERT, TEST_ESCROW_KEY, escrow_fixture};
use serde_json::Value;
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
