//! Sealing end to end, on the embedded store and on DynamoDB + S3 (moto): after a sign, only an
//! envelope is stored, stock OpenSSL opens it with the escrow key (and with no other) to exactly
//! the data whose digest GET reports, the SIGN event names the envelope and its recipient, and no
//! stored byte anywhere holds the plaintext.

use biosign_e2e::sealing::{self, openssl_fingerprint, openssl_open};
use biosign_e2e::{Aws, Embedded, Signature, TestBlobs, TestEnv, TestSigns};
use biosign_shared::evidence::EventType;
use biosign_shared::testing::{TEST_ESCROW_CERT, TEST_ESCROW_KEY};
use sha2::{Digest, Sha256};

async fn only_the_envelope_is_stored_and_the_escrow_key_opens_it<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let signature = Signature::sample(11);
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let receipt_digest = got.body["signature"]["biometric_data_sha256"]
        .as_str()
        .expect("the receipt's plaintext digest")
        .to_owned();
    assert_eq!(receipt_digest, signature.biometric_sha256());

    // The blob: an envelope, under a .p7m key, with the envelope's content type and checksum.
    let report = env.report("acme", &sign.sign_id).await;
    let keys = report.sign.blobs.clone().expect("blob keys");
    assert!(
        keys.biometric_data.ends_with("/biometric_data.p7m"),
        "{}",
        keys.biometric_data
    );
    assert_eq!(
        sealing::content_type(&env, &keys.biometric_data).await,
        "application/pkcs7-mime"
    );
    assert_eq!(
        sealing::content_type(&env, &keys.signature_image).await,
        "image/png",
        "the image is not sealed"
    );
    let envelope = env.blob(&keys.biometric_data).await;
    let envelope_sha256 = Sha256::digest(&envelope.bytes);
    assert_eq!(
        envelope.checksum_sha256,
        Some(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            envelope_sha256
        ))
    );

    // The escrow holder opens it with stock OpenSSL; the digest is the receipt's.
    let plain = openssl_open(&envelope.bytes, TEST_ESCROW_KEY, TEST_ESCROW_CERT)
        .unwrap_or_else(|e| panic!("openssl cannot open the stored envelope: {e}"));
    assert_eq!(plain, signature.biometric_data);
    assert_eq!(hex::encode(Sha256::digest(&plain)), receipt_digest);
    // A key that is not a recipient does not.
    assert!(
        openssl_open(
            &envelope.bytes,
            "rsa2048-other.key.pem",
            "rsa2048-other.crt.pem"
        )
        .is_err()
    );

    // The SIGN event names the envelope and the certificate it was sealed for; PREVIEW does not.
    assert!(report.chain.is_valid(), "{:?}", report.chain);
    let [preview, sign_event] = report.events.as_slice() else {
        panic!("two events: {:?}", report.events)
    };
    assert_eq!(
        (preview.event_type, sign_event.event_type),
        (EventType::Preview, EventType::Sign)
    );
    assert_eq!(preview.sealed, None);
    let sealed = sign_event.sealed.as_ref().expect("the seal's evidence");
    assert_eq!(
        sealed.biometric_envelope_sha256,
        hex::encode(envelope_sha256)
    );
    assert_eq!(
        sealed.recipient_fingerprints,
        vec![openssl_fingerprint(TEST_ESCROW_CERT)]
    );
    assert_eq!(
        sign_event
            .signature
            .as_ref()
            .map(|s| s.biometric_data_sha256.as_str()),
        Some(receipt_digest.as_str())
    );

    // Nowhere in the store: not the plaintext, not any 32-byte window of it.
    sealing::assert_stored_nowhere(&env, &signature.biometric_data, &signature.image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_holds_only_the_envelope() {
    only_the_envelope_is_stored_and_the_escrow_key_opens_it(TestEnv::start(Embedded).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_and_s3_hold_only_the_envelope() {
    let env = TestEnv::start(Aws { kms_key_id: None }).await;
    only_the_envelope_is_stored_and_the_escrow_key_opens_it(env).await;
}

/// The scan itself: it finds a window of what it looks for anywhere in any chunk, and nothing
/// else.
#[test]
fn the_scan_finds_any_window_and_only_that() {
    let secret: Vec<u8> = (0u8..100).collect();
    let mut stored = vec![0xffu8; 50];
    stored.extend_from_slice(&secret[40..72]);
    stored.extend_from_slice(&[0xfe; 10]);
    let chunks = vec![
        ("clean".to_owned(), vec![0xee; 200]),
        ("dirty".to_owned(), stored),
    ];
    assert_eq!(
        sealing::find_window(&chunks, &secret),
        Some(("dirty".to_owned(), 50))
    );
    let mut almost = secret[40..72].to_vec();
    almost[31] ^= 1;
    let chunks = vec![("almost".to_owned(), almost)];
    assert_eq!(sealing::find_window(&chunks, &secret), None);
}
