//! The real `submit-sign` binary. Started without a required setting, it exits at once naming it
//! (instead of failing on its first request); run as Lambda runs it, against DynamoDB and S3 in
//! moto, it refuses what it must without storing anything, and stores an accepted signature's
//! blobs and evidence.

use biosign_e2e::Signature;
use biosign_e2e::lambda::FunctionOnMoto;
use biosign_shared::evidence::EventType;
use biosign_shared::model::StoredStatus;
use biosign_shared::store::BlobStore;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_submit-sign");

#[test]
fn exits_at_once_naming_a_missing_or_invalid_setting() {
    biosign_shared::testing::assert_fails_fast_without_settings(BINARY, true);
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

    // The bucket holds the decoded bytes, under the keys the sign records, and nothing else.
    let keys = report.sign.blobs.as_ref().expect("blob keys");
    let mut stored = lambda.blob_keys().await;
    stored.sort();
    let mut expected = vec![keys.biometric_data.clone(), keys.signature_image.clone()];
    expected.sort();
    assert_eq!(stored, expected);
    for (key, bytes) in [
        (&keys.biometric_data, &signature.biometric_data),
        (&keys.signature_image, &signature.image),
    ] {
        let blob = lambda.blobs.get(key).await.expect("get").expect("present");
        assert_eq!(&blob.bytes[..], &bytes[..], "{key}");
    }
}
