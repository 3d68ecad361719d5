//! The handlers fed real API Gateway HTTP API (payload 2.0) events, as the Lambda runtime delivers
//! them: path parameters and the caller's address come from the gateway, never from client headers;
//! under function-URL emulation (no path parameters) the path itself is read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use biosign_shared::auth::Authenticator;
use biosign_shared::error::ErrorDocs;
use biosign_shared::handlers::{self, Api};
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::SignRecord;
use biosign_shared::store::memory::MemoryStore;
use biosign_shared::store::{SignAdmin, SignReader};
use biosign_shared::testing;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SEED: [u8; 32] = [7; 32];

fn authenticator() -> Authenticator {
    let x = URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&SEED).verifying_key().to_bytes());
    let jwks =
        format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"test-key","x":"{x}"}}]}}"#);
    Authenticator::from_jwks_json(&jwks, "https://idp.test", "biosign-api").unwrap()
}

fn token() -> String {
    // jsonwebtoken takes the key as PKCS#8 DER (RFC 8410).
    let der = SigningKey::from_bytes(&SEED).to_pkcs8_der().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"iss": "https://idp.test", "aud": "biosign-api", "exp": now + 60, "org": "acme", "scope": "biometric_signs:read biometric_signs:sign"});
    let header = Header {
        kid: Some("test-key".into()),
        ..Header::new(Algorithm::EdDSA)
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

async fn api_with_sign() -> (Api<MemoryStore>, SignKey) {
    let store = MemoryStore::new();
    let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
    let sign = SignRecord::new(testing::new_sign(key.clone(), biosign_shared::time::now()));
    store.create_sign(&sign).await.unwrap();
    let api = Api {
        signs: store,
        blobs: Default::default(),
        auth: authenticator(),
        docs: ErrorDocs::new("https://docs.test/errors"),
        tsa: None,
    };
    (api, key)
}

fn event(fixture: &str, key: &SignKey) -> lambda_http::Request {
    let json = fixture
        .replace("{{SIGN_ID}}", &key.sign_id.to_string())
        .replace("{{TOKEN}}", &token());
    lambda_http::request::from_str(&json).expect("a valid API Gateway v2 event")
}

#[tokio::test]
async fn preview_records_the_gateway_source_ip_and_request_id_not_client_headers() {
    let (api, key) = api_with_sign().await;
    let response = handlers::preview(
        &api,
        event(include_str!("fixtures/apigw-v2-preview.json"), &key),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    let events = api.signs.list_events(&key).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(
        event.client_ip.as_deref(),
        Some("203.0.113.10"),
        "from requestContext.http.sourceIp, not X-Forwarded-For"
    );
    assert_eq!(event.request_id.as_deref(), Some("gw-request-1"));
    assert_eq!(
        event.user_agent.as_deref(),
        Some("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")
    );
    assert_eq!(
        event.location.map(|l| (l.lat_e7, l.lon_e7)),
        Some((885_200_000, -1_231_000_000))
    );
    let sign = api.signs.get_sign(&key).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(sign.status).unwrap(), "PREVIEWED");
}

#[tokio::test]
async fn function_url_events_without_path_parameters_are_routed_from_the_path() {
    let (api, key) = api_with_sign().await;
    let response = handlers::get_sign(
        &api,
        event(include_str!("fixtures/function-url-get.json"), &key),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["sign_id"], key.sign_id.to_string());
    assert_eq!(body["status"], "PENDING");

    // The same event sent to the wrong function is an unknown route.
    let response = handlers::preview(
        &api,
        event(include_str!("fixtures/function-url-get.json"), &key),
    )
    .await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["errors"][0]["code"], "MDOC_004");
}

/// An event for the `$default` route (or a function URL): no path parameters, so the handler
/// matches the raw path and method itself.
fn unrouted_event(key: &SignKey, method: &str, path: &str) -> lambda_http::Request {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/function-url-get.json")).unwrap();
    let path = path.replace("{{SIGN_ID}}", &key.sign_id.to_string());
    json["rawPath"] = path.clone().into();
    json["requestContext"]["http"]["path"] = path.into();
    json["requestContext"]["http"]["method"] = method.into();
    let text = json.to_string().replace("{{TOKEN}}", &token());
    lambda_http::request::from_str(&text).expect("a valid API Gateway v2 event")
}

#[tokio::test]
async fn without_path_parameters_only_the_exact_path_and_method_are_routed() {
    let (api, key) = api_with_sign().await;
    let exact = "/v1/orgs/acme/biometric_signs/{{SIGN_ID}}";
    let response = handlers::get_sign(&api, unrouted_event(&key, "GET", exact)).await;
    assert_eq!(response.status(), 200);
    for (method, path) in [
        (
            "GET",
            "/evil/prefix/v1/orgs/acme/biometric_signs/{{SIGN_ID}}",
        ),
        (
            "GET",
            "/lambda-url/get-sign/v1/orgs/acme/biometric_signs/{{SIGN_ID}}",
        ),
        ("GET", "/v1/orgs/acme/biometric_signs/{{SIGN_ID}}/"),
        ("GET", "/v1/orgs/acme/biometric_signs/{{SIGN_ID}}///"),
        ("GET", "/v1/orgs/acme//biometric_signs/{{SIGN_ID}}"),
        ("GET", "/v1/orgs/acme/biometric_signs/{{SIGN_ID}}/preview"),
        ("DELETE", exact),
        ("POST", exact),
        ("HEAD", exact),
        ("GET", "/"),
    ] {
        let response = handlers::get_sign(&api, unrouted_event(&key, method, path)).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["errors"][0]["code"], "MDOC_004", "{method} {path}");
        assert_eq!(body["errors"][0]["details"], "no such route");
    }
    // Nothing was changed by any of them.
    assert!(api.signs.list_events(&key).await.unwrap().is_empty());
}
