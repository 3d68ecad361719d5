//! The real `preview-sign` binary. Started without a required setting, it exits at once naming it
//! (instead of failing on its first request); run as Lambda runs it, against DynamoDB in moto, it
//! records a preview with the evidence the gateway vouches for.

use biosign_e2e::lambda::FunctionOnMoto;
use biosign_shared::evidence::EventType;
use biosign_shared::model::StoredStatus;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_preview-sign");

#[test]
fn exits_at_once_naming_a_missing_or_invalid_setting() {
    biosign_e2e::lambda::assert_fails_fast_without_settings(BINARY, false);
}

#[tokio::test]
async fn records_a_preview_with_the_gateways_evidence() {
    let mut lambda = FunctionOnMoto::start(BINARY).await;
    let event = lambda.event("apigw-v2-preview.json");

    let without_fingerprint = event.replace("\"x-fingerprint\"", "\"x-not-fingerprint\"");
    let (status, body) = lambda.invoke(&without_fingerprint).await;
    assert_eq!(
        (
            status,
            body["errors"][0]["code"].as_str(),
            body["errors"][0]["details"].as_str()
        ),
        (
            400,
            Some("MDOC_000"),
            Some("x-fingerprint: header is required")
        ),
        "{body}"
    );
    let report = lambda.report().await;
    assert_eq!(report.sign.status, StoredStatus::Pending);
    assert!(report.events.is_empty(), "{:?}", report.events);

    let (status, body) = lambda.invoke(&event).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let report = lambda.report().await;
    assert_eq!(report.sign.status, StoredStatus::Previewed);
    assert!(report.chain.is_valid());
    let [preview] = report.events.as_slice() else {
        panic!("one event: {:?}", report.events)
    };
    assert_eq!(preview.event_type, EventType::Preview);
    assert_eq!(
        preview.fingerprint.as_deref(),
        Some("3f8a1c2e9b7d4f60a1b2c3d4e5f60718")
    );
    // The caller's address and the request id come from the gateway's request context, not
    // from the client's `x-forwarded-for`.
    assert_eq!(preview.client_ip.as_deref(), Some("203.0.113.10"));
    assert_eq!(preview.request_id.as_deref(), Some("gw-request-1"));
}
