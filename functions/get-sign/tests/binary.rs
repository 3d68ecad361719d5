//! The real `get-sign` binary. Started without a required setting, it exits at once naming it
//! (instead of failing on its first request); run as Lambda runs it, against DynamoDB in moto, it
//! answers API Gateway events and function-URL events alike.

use biosign_e2e::lambda::FunctionOnMoto;

const BINARY: &str = env!("CARGO_BIN_EXE_get-sign");

#[test]
fn exits_at_once_naming_a_missing_or_invalid_setting() {
    biosign_e2e::lambda::assert_fails_fast_without_settings(BINARY, false);
}

#[tokio::test]
async fn answers_gateway_and_function_url_events_from_the_table() {
    let mut lambda = FunctionOnMoto::start(BINARY).await;

    let event = lambda.event("apigw-v2-get.json");
    let (status, body) = lambda.invoke(&event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sign_id"], lambda.sign_id.as_str());
    assert_eq!(body["status"], "PENDING");

    // Function-URL emulation: no path parameters, so the path itself is read.
    let event = lambda.event("function-url-get.json");
    let (status, body) = lambda.invoke(&event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sign_id"], lambda.sign_id.as_str());

    let event = lambda.event_with_token("apigw-v2-get.json", "not-a-token");
    let (status, body) = lambda.invoke(&event).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (401, Some("MDOC_003")),
        "{body}"
    );

    let other = uuid::Uuid::new_v4().to_string();
    let event = lambda
        .event("apigw-v2-get.json")
        .replace(&lambda.sign_id, &other);
    let (status, body) = lambda.invoke(&event).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (404, Some("MDOC_004")),
        "{body}"
    );
}
