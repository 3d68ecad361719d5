//! The API over HTTP against `biosign serve`, on the embedded store and on DynamoDB + S3 (moto):
//! every scenario below runs once per store.

use biosign_e2e::{Aws, Embedded, Reply, Signature, TestBlobs, TestEnv, TestSigns, device_headers};
use biosign_shared::testing::{TEST_ESCROW_CERT, TEST_ESCROW_KEY};
use serde_json::{Value, json};

const READ: &str = "biometric_signs:read";
const SIGN: &str = "biometric_signs:sign";

fn headers_without(name: &str) -> Vec<(&'static str, String)> {
    device_headers()
        .into_iter()
        .filter(|(n, _)| *n != name)
        .collect()
}

fn headers_with(name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut headers = headers_without(name);
    headers.push((name, value.to_owned()));
    headers
}

async fn full_flow_pending_previewed_signed<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");

    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let keys: Vec<&str> = got
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "sign_id",
        "org_id",
        "sign_process_id",
        "type",
        "status",
        "signer",
        "documents",
        "preview_documents",
        "created_at",
        "expires_at",
        "previewed_at",
        "signed_at",
        "signature",
        "evidence",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(
        keys_sorted, expected,
        "the response holds exactly the contract's fields"
    );
    assert_eq!(got.body["status"], "PENDING");
    assert_eq!(
        got.body["evidence"],
        Value::Null,
        "no event yet: no receipt"
    );
    assert_eq!(got.body["type"], "BIOMETRIC");
    assert_eq!(got.body["sign_id"], sign.sign_id.as_str());
    assert_eq!(got.body["org_id"], "acme");
    assert_eq!(
        got.body["signer"],
        json!({"alias": "signer_1", "name": "James", "last_name": "Smith", "language": "ES"})
    );
    assert_eq!(got.body["preview_documents"], json!(sign.preview_documents));
    assert_eq!(
        got.body["documents"][0]["sign_fields"],
        json!(["SIGNATURE_CUSTOMER"])
    );
    assert_eq!(got.body["previewed_at"], Value::Null);
    assert_eq!(got.body["signed_at"], Value::Null);
    assert_eq!(got.body["signature"], Value::Null);
    let created_at = got.body["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 24 && created_at.ends_with('Z'),
        "ms precision UTC: {created_at}"
    );

    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.body["status"], "PREVIEWED");
    assert!(got.body["previewed_at"].is_string());

    let signature = Signature::sample(1);
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.body["status"], "SIGNED");
    assert!(got.body["signed_at"].is_string());
    assert_eq!(
        got.body["signature"],
        json!({
            "image_sha256": signature.image_sha256(),
            "biometric_data_sha256": signature.biometric_sha256(),
            "image_format": "png", "image_width": 600, "image_height": 200,
            "biometric": signature.biometric_summary(),
        })
    );
    assert_eq!(got.body["signature"]["biometric"]["format"], "sigdata/1");
    assert_eq!(got.body["signature"]["biometric"]["pointer_type"], "pen");
    assert_eq!(got.body["signature"]["biometric"]["pressure"], true);
    let text = String::from_utf8(got.raw.clone()).unwrap();
    for secret in [
        "signs/",
        "fingerprint",
        "installation",
        "biometric_data\"",
        "5f0c3a52",
    ] {
        assert!(
            !text.contains(secret),
            "GET must not reveal {secret}: {text}"
        );
    }

    // What was stored: the decoded biometric data sealed for the escrow (opened here with the
    // test escrow key; `tests/sealing.rs` has the rest), the exact image, and a verifying
    // evidence chain.
    let report = env.report("acme", &sign.sign_id).await;
    let blobs = report.sign.blobs.clone().expect("blob keys recorded");
    let envelope = env.blob(&blobs.biometric_data).await.bytes;
    assert_eq!(
        biosign_e2e::sealing::openssl_open(&envelope, TEST_ESCROW_KEY, TEST_ESCROW_CERT),
        Ok(signature.biometric_data.clone())
    );
    assert_eq!(
        &env.blob(&blobs.signature_image).await.bytes[..],
        &signature.image[..]
    );
    assert!(report.chain.is_valid(), "{:?}", report.chain);
    assert_eq!(report.events.len(), 2);
    // The receipt names the stored chain head; no TSA here, so no timestamp.
    assert_eq!(
        got.body["evidence"],
        json!({
            "events": 2,
            "chain_sha256": report.sign.last_event_sha256.clone().unwrap(),
            "timestamped_at": null,
        })
    );
    let preview_event = &report.events[0];
    assert_eq!(
        serde_json::to_value(preview_event.event_type).unwrap(),
        "PREVIEW"
    );
    assert_eq!(
        preview_event.installation_id.as_deref(),
        Some("5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11")
    );
    assert_eq!(
        preview_event.fingerprint.as_deref(),
        Some("3f8a1c2e9b7d4f60a1b2c3d4e5f60718")
    );
    assert_eq!(
        preview_event.location.map(|l| (l.lat_e7, l.lon_e7)),
        Some((404_168_000, -37_038_000))
    );
    assert_eq!(preview_event.client_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        preview_event
            .request_id
            .as_ref()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(preview_event.prev_event_sha256, None);
    let sign_event = &report.events[1];
    assert_eq!(serde_json::to_value(sign_event.event_type).unwrap(), "SIGN");
    assert_eq!(
        sign_event.signature.as_ref().unwrap().image_sha256,
        signature.image_sha256()
    );
    assert_eq!(sign_event.prev_event_sha256, Some(preview_event.sha256()));
}

async fn sign_without_preview_documents_needs_no_preview<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(1))
        .await
        .assert_no_content();
    assert_eq!(
        env.get("acme", &sign.sign_id, Some(&token)).await.body["status"],
        "SIGNED"
    );
}

async fn parameter_errors_name_the_culprit<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    let id = sign.sign_id.as_str();
    env.get("acme.corp", id, Some(&token)).await.assert_error(
        400,
        "MDOC_000",
        "PARAMETER_ERROR",
        "org_id:",
    );
    env.get("acme", "not-a-uuid", Some(&token))
        .await
        .assert_error(400, "MDOC_000", "PARAMETER_ERROR", "sign_id:");
    let long_org = "a".repeat(65);
    env.get(&long_org, id, Some(&token)).await.assert_error(
        400,
        "MDOC_000",
        "PARAMETER_ERROR",
        "org_id:",
    );
    for (headers, culprit) in [
        (headers_without("x-installation_id"), "x-installation_id:"),
        (headers_without("x-fingerprint"), "x-fingerprint:"),
        (
            headers_with("x-installation_id", &"i".repeat(129)),
            "x-installation_id:",
        ),
        (
            headers_with("x-fingerprint", &"f".repeat(257)),
            "x-fingerprint:",
        ),
        (headers_with("x-location", "91,0"), "x-location:"),
        (headers_with("x-location", "north"), "x-location:"),
    ] {
        env.preview_with("acme", id, Some(&token), &headers)
            .await
            .assert_error(400, "MDOC_000", "PARAMETER_ERROR", culprit);
        let body = Signature::sample(1).body().to_string().into_bytes();
        env.sign_raw(
            "acme",
            id,
            Some(&token),
            &headers,
            Some("application/json"),
            body,
        )
        .await
        .assert_error(400, "MDOC_000", "PARAMETER_ERROR", culprit);
    }
    // The location header is optional.
    env.preview_with("acme", id, Some(&token), &headers_without("x-location"))
        .await
        .assert_no_content();
    // Upper-case sign ids are the same sign.
    let upper = id.to_uppercase();
    assert_eq!(
        env.get("acme", &upper, Some(&token)).await.body["sign_id"],
        id
    );
    // Nothing was recorded by the rejected requests.
    assert_eq!(env.report("acme", id).await.events.len(), 1);
}

async fn invalid_bodies_are_rejected_with_the_field_named<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let id = sign.sign_id.as_str();
    let headers = device_headers();
    let json_ct = Some("application/json");
    let good = Signature::sample(1);
    let cases: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
        (json_ct, vec![], "body:"),
        (json_ct, b"{not json".to_vec(), "body:"),
        (Some("text/plain"), good.body().to_string().into_bytes(), "Content-Type:"),
        (None, good.body().to_string().into_bytes(), "Content-Type:"),
        (json_ct, json!({"signature_image": good.body()["signature_image"]}).to_string().into_bytes(), "biometric_data:"),
        (json_ct, json!({"biometric_data": "AAAA"}).to_string().into_bytes(), "signature_image:"),
        (json_ct, json!({"biometric_data": "AAAA", "signature_image": good.body()["signature_image"], "x": 1}).to_string().into_bytes(), "body:"),
        (json_ct, json!({"biometric_data": "not base64!", "signature_image": good.body()["signature_image"]}).to_string().into_bytes(), "biometric_data:"),
        (json_ct, json!({"biometric_data": "", "signature_image": good.body()["signature_image"]}).to_string().into_bytes(), "biometric_data:"),
        (json_ct, json!({"biometric_data": good.body()["biometric_data"], "signature_image": "R0lGODlhAQABAAAAACw="}).to_string().into_bytes(), "signature_image: not a PNG or JPEG"),
        (json_ct, json!({"biometric_data": good.body()["biometric_data"], "signature_image": base64_png(5000, 10)}).to_string().into_bytes(), "signature_image: width and height"),
        (json_ct, json!({"biometric_data": "AAAA", "signature_image": good.body()["signature_image"]}).to_string().into_bytes(), "biometric_data: unknown format"),
        (json_ct, json!({"biometric_data": "A".repeat(307_204), "signature_image": good.body()["signature_image"]}).to_string().into_bytes(), "biometric_data: must be at most"),
        (json_ct, vec![b' '; 1024 * 1024 + 1], "body: must be at most"),
    ];
    for (content_type, body, culprit) in cases {
        env.sign_raw("acme", id, Some(&token), &headers, content_type, body)
            .await
            .assert_error(400, "MDOC_002", "INVALID_INPUT", culprit);
    }
    assert!(
        env.blob_keys().await.is_empty(),
        "no blob is written for a rejected request"
    );
    let report = env.report("acme", id).await;
    assert_eq!(
        (report.events.len(), report.sign.version),
        (0, 1),
        "and nothing else changed"
    );
}

fn base64_png(width: u32, height: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(biosign_shared::testing::png_header(width, height))
}

async fn token_matrix_is_refused_with_401<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let other = env.create_sign("acme", true, "P7D").await;
    let id = sign.sign_id.as_str();
    let now = chrono::Utc::now().timestamp();
    let claims = |changes: Value| {
        let mut base = json!({"iss": "biosign-local-dev", "aud": "biosign-api", "exp": now + 300, "nbf": now - 10, "iat": now - 10, "org": "acme", "scope": format!("{READ} {SIGN}")});
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    };
    let stranger = tempfile::tempdir().unwrap();
    let stranger_key = biosign::devkey::DevKey::load_or_create(stranger.path()).unwrap();
    let valid = env.token_with_claims(&claims(json!({})));
    let mut forged_payload: Vec<&str> = valid.split('.').collect();
    let other_payload = env.token_with_claims(&claims(json!({"org": "globex"})));
    forged_payload[1] = other_payload.split('.').nth(1).unwrap();
    let b64url = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64url(&json!({"alg": "none", "typ": "JWT", "kid": env.key.kid()})),
        b64url(&claims(json!({})))
    );
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(env.key.kid().to_owned()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(env.key.jwks_json().as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "Authorization: a Bearer token is required"),
        (
            "malformed",
            Some("not.a.jwt".into()),
            "Authorization: the token is malformed",
        ),
        (
            "expired",
            Some(env.token_with_claims(&claims(json!({"exp": now - 60})))),
            "Authorization: the token has expired",
        ),
        (
            "not yet valid",
            Some(env.token_with_claims(&claims(json!({"nbf": now + 60})))),
            "Authorization: the token is not valid yet",
        ),
        (
            "wrong issuer",
            Some(env.token_with_claims(&claims(json!({"iss": "https://evil.example"})))),
            "Authorization: the token's issuer",
        ),
        (
            "wrong audience",
            Some(env.token_with_claims(&claims(json!({"aud": "another-api"})))),
            "Authorization: the token's audience",
        ),
        (
            "no exp",
            Some(env.token_with_claims(&claims(json!({"exp": null})))),
            "Authorization: the token lacks a required claim",
        ),
        (
            "alg none",
            Some(alg_none),
            "Authorization: the token is malformed",
        ),
        (
            "hmac",
            Some(hmac),
            "Authorization: the token's alg does not match its key",
        ),
        (
            "unknown kid",
            Some(stranger_key.sign(&claims(json!({}))).unwrap()),
            "Authorization: the token's kid is not a trusted key",
        ),
        (
            "forged payload",
            Some(forged_payload.join(".")),
            "Authorization: the token's signature does not verify",
        ),
        (
            "wrong org",
            Some(env.token("globex", &format!("{READ} {SIGN}"), None)),
            "Authorization: the token is not valid for this org_id",
        ),
        (
            "missing scope",
            Some(env.token("acme", "biometric_signs:other", None)),
            "Authorization: the token lacks the scope",
        ),
        (
            "another sign's token",
            Some(env.token("acme", &format!("{READ} {SIGN}"), Some(&other.sign_id))),
            "Authorization: the token is valid for another sign_id",
        ),
    ];
    for (name, token, details) in cases {
        let reply = env.get("acme", id, token.as_deref()).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        reply.assert_error(401, "MDOC_003", "UNAUTHORIZED", details);
        env.preview("acme", id, token.as_deref())
            .await
            .assert_error(401, "MDOC_003", "UNAUTHORIZED", details);
    }
    // Expiry within the 5-second leeway is still accepted; the read scope does not allow signing.
    let lenient = env.token_with_claims(&claims(json!({"exp": now - 2})));
    assert_eq!(env.get("acme", id, Some(&lenient)).await.status, 200);
    let read_only = env.token("acme", READ, None);
    env.preview("acme", id, Some(&read_only))
        .await
        .assert_error(
            401,
            "MDOC_003",
            "UNAUTHORIZED",
            "Authorization: the token lacks the scope biometric_signs:sign",
        );
    let sign_only = env.token("acme", SIGN, None);
    env.get("acme", id, Some(&sign_only)).await.assert_error(
        401,
        "MDOC_003",
        "UNAUTHORIZED",
        "Authorization: the token lacks the scope biometric_signs:read",
    );
    // The signer's own token works for its sign.
    let own = env.token("acme", &format!("{READ} {SIGN}"), Some(&id.to_uppercase()));
    assert_eq!(env.get("acme", id, Some(&own)).await.status, 200);
    assert_eq!(
        env.report("acme", id).await.events.len(),
        0,
        "no refused request left evidence"
    );
}

async fn checks_run_in_the_contract_order<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let id = sign.sign_id.as_str();
    let wrong_org = env.token("globex", &format!("{READ} {SIGN}"), None);
    // Authentication first: no token beats a bad path, header or body.
    env.sign_raw("acme", "bad-id", None, &[], None, vec![])
        .await
        .assert_error(401, "MDOC_003", "UNAUTHORIZED", "Authorization:");
    // Then parameters, headers and body: they beat authorization against the path.
    env.get("acme", "bad-id", Some(&wrong_org))
        .await
        .assert_error(400, "MDOC_000", "PARAMETER_ERROR", "sign_id:");
    env.preview_with(
        "acme",
        id,
        Some(&wrong_org),
        &headers_without("x-fingerprint"),
    )
    .await
    .assert_error(400, "MDOC_000", "PARAMETER_ERROR", "x-fingerprint:");
    env.sign_raw(
        "acme",
        id,
        Some(&wrong_org),
        &device_headers(),
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await
    .assert_error(400, "MDOC_002", "INVALID_INPUT", "biometric_data:");
    // Then authorization, before the sign is even looked up.
    let missing = uuid::Uuid::new_v4().to_string();
    env.get("acme", &missing, Some(&wrong_org))
        .await
        .assert_error(401, "MDOC_003", "UNAUTHORIZED", "Authorization:");
}

async fn missing_signs_and_other_orgs_signs_answer_alike<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let globex = env.full_token("globex");
    let missing = uuid::Uuid::new_v4().to_string();
    let other_org = env.get("globex", &sign.sign_id, Some(&globex)).await;
    let not_there = env.get("globex", &missing, Some(&globex)).await;
    other_org.assert_error(
        404,
        "MDOC_004",
        "RESOURCE_NOT_FOUND",
        "sign_id: no such sign",
    );
    assert_eq!(other_org.body, not_there.body);
    env.preview("globex", &sign.sign_id, Some(&globex))
        .await
        .assert_error(
            404,
            "MDOC_004",
            "RESOURCE_NOT_FOUND",
            "sign_id: no such sign",
        );
    env.sign("globex", &sign.sign_id, &globex, &Signature::sample(1))
        .await
        .assert_error(
            404,
            "MDOC_004",
            "RESOURCE_NOT_FOUND",
            "sign_id: no such sign",
        );
    assert!(env.blob_keys().await.is_empty());
    // Unknown routes are 404 with the same error body shape.
    let reply = env
        .send(env.http.get(format!("{}/v1/orgs/acme/other", env.base_url)))
        .await;
    reply.assert_error(404, "MDOC_004", "RESOURCE_NOT_FOUND", "no such route");
    let reply = env
        .send(env.http.post(env.url("acme", &sign.sign_id, None)))
        .await;
    reply.assert_error(404, "MDOC_004", "RESOURCE_NOT_FOUND", "no such route");
}

async fn state_conflicts_and_gone_signs<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let token = env.full_token("acme");
    // Signing before the required preview: 409, nothing stored.
    let sign = env.create_sign("acme", true, "P7D").await;
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(1))
        .await
        .assert_error(
            409,
            "MDOC_006",
            "CONFLICT",
            "sign_id: the documents must be previewed",
        );
    assert!(env.blob_keys().await.is_empty());
    // Preview after signing: 409.
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(1))
        .await
        .assert_no_content();
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_error(
            409,
            "MDOC_006",
            "CONFLICT",
            "sign_id: the sign is already signed",
        );
    assert_eq!(
        env.report("acme", &sign.sign_id).await.events.len(),
        3,
        "two previews and one sign"
    );

    // Expired and cancelled: GET shows the status; preview and sign are 410.
    let expired = env.create_sign("acme", false, "-PT1S").await;
    assert_gone(
        &env,
        &token,
        &expired.sign_id,
        "EXPIRED",
        "the sign has expired",
        2,
    )
    .await;
    let cancelled = env.create_sign("acme", false, "P7D").await;
    env.cancel_sign("acme", &cancelled.sign_id).await;
    assert_gone(
        &env,
        &token,
        &cancelled.sign_id,
        "CANCELLED",
        "the sign was cancelled",
        3,
    )
    .await;

    // Only the one accepted signature left blobs.
    assert_eq!(env.blob_keys().await.len(), 2);
}

/// A sign that is no longer available: GET shows `status`; preview and sign (with signature
/// `sample`) are 410, naming `why`.
async fn assert_gone<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    token: &str,
    sign_id: &str,
    status: &str,
    why: &str,
    sample: u32,
) {
    assert_eq!(
        env.get("acme", sign_id, Some(token)).await.body["status"],
        status
    );
    let details = format!("sign_id: {why}");
    env.preview("acme", sign_id, Some(token))
        .await
        .assert_error(410, "MDOC_005", "RESOURCE_IS_NO_LONGER_AVAILABLE", &details);
    env.sign("acme", sign_id, token, &Signature::sample(sample))
        .await
        .assert_error(410, "MDOC_005", "RESOURCE_IS_NO_LONGER_AVAILABLE", &details);
}

async fn twenty_concurrent_signs_exactly_one_wins<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let env = std::sync::Arc::new(env);
    let mut tasks = tokio::task::JoinSet::new();
    for seed in 0..20 {
        let (env, id, token) = (
            std::sync::Arc::clone(&env),
            sign.sign_id.clone(),
            token.clone(),
        );
        tasks.spawn(async move {
            let signature = Signature::sample(seed);
            (env.sign("acme", &id, &token, &signature).await, signature)
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (reply, signature): (Reply, Signature) = result.unwrap();
        match reply.status {
            204 => winners.push(signature),
            409 => reply.assert_error(409, "MDOC_006", "CONFLICT", "sign_id:"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 204");
    let winner = &winners[0];
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.body["signature"]["image_sha256"], winner.image_sha256());
    let keys = env.blob_keys().await;
    assert_eq!(keys.len(), 2, "one set of blobs: {keys:?}");
    let report = env.report("acme", &sign.sign_id).await;
    let stored = report.sign.blobs.unwrap();
    assert!(keys.contains(&stored.biometric_data) && keys.contains(&stored.signature_image));
    assert_eq!(
        &env.blob(&stored.signature_image).await.bytes[..],
        &winner.image[..]
    );
    assert_eq!(report.events.len(), 1);
    assert!(report.chain.is_valid());
}

async fn a_hundred_concurrent_previews_all_succeed<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    let env = std::sync::Arc::new(env);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (env, id, token) = (
            std::sync::Arc::clone(&env),
            sign.sign_id.clone(),
            token.clone(),
        );
        tasks.spawn(async move { env.preview("acme", &id, Some(&token)).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().assert_no_content();
    }
    let report = env.report("acme", &sign.sign_id).await;
    assert_eq!(report.events.len(), 100, "one event per preview");
    assert!(
        report
            .events
            .iter()
            .all(|e| e.event_type == biosign_shared::evidence::EventType::Preview)
    );
    assert_eq!(report.sign.event_count, 100);
    assert!(report.chain.is_valid());
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.body["status"], "PREVIEWED");
}

async fn identical_retry_succeeds_and_stores_nothing_new<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(7);
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let before = (
        env.blob_keys().await,
        env.report("acme", &sign.sign_id).await,
    );
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let after = (
        env.blob_keys().await,
        env.report("acme", &sign.sign_id).await,
    );
    assert_eq!(before.0, after.0, "no new blobs");
    assert_eq!(before.1.events, after.1.events, "no new events");
    assert_eq!(before.1.sign, after.1.sign, "sign unchanged");
    // A different signature, or the same one from another installation, is a conflict.
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(8))
        .await
        .assert_error(
            409,
            "MDOC_006",
            "CONFLICT",
            "sign_id: the sign is already signed",
        );
    let other_installation = headers_with("x-installation_id", "another-installation");
    env.sign_raw(
        "acme",
        &sign.sign_id,
        Some(&token),
        &other_installation,
        Some("application/json"),
        signature.body().to_string().into_bytes(),
    )
    .await
    .assert_error(409, "MDOC_006", "CONFLICT", "sign_id:");
    assert_eq!(env.blob_keys().await, before.0);
}

async fn evidence_chain_detects_tampering_and_deletion<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let token = env.full_token("acme");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let sign = env.create_sign("acme", true, "P7D").await;
        for _ in 0..3 {
            env.preview("acme", &sign.sign_id, Some(&token))
                .await
                .assert_no_content();
        }
        env.sign(
            "acme",
            &sign.sign_id,
            &token,
            &Signature::sample(ids.len() as u32),
        )
        .await
        .assert_no_content();
        assert!(env.report("acme", &sign.sign_id).await.chain.is_valid());
        ids.push(sign.sign_id);
    }
    env.tamper_event("acme", &ids[0], 2).await;
    let report = env.report("acme", &ids[0]).await;
    assert!(!report.chain.is_valid(), "a changed event is detected");
    env.delete_event("acme", &ids[1], 2).await;
    assert!(
        !env.report("acme", &ids[1]).await.chain.is_valid(),
        "a removed event is detected"
    );
    env.delete_event("acme", &ids[1], 4).await;
    assert!(!env.report("acme", &ids[1]).await.chain.is_valid());
}

async fn storage_failures_leave_no_stray_blob_and_no_half_updated_sign<
    S: TestSigns,
    B: TestBlobs,
>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let before = env.report("acme", &sign.sign_id).await;

    // The second blob write fails: the first is removed again.
    env.switches.fail_nth_put(2);
    let reply = env
        .sign("acme", &sign.sign_id, &token, &Signature::sample(1))
        .await;
    reply.assert_error(
        500,
        "MDOC_001",
        "INTERNAL_SERVER_ERROR",
        "an unexpected error occurred",
    );
    assert!(
        !reply.body.to_string().contains("injected"),
        "no internals in the body"
    );
    assert!(env.blob_keys().await.is_empty());

    // The metadata write fails after both blobs were written. A failed commit may still be
    // carried out later (DynamoDB can apply it after the client gave up), so its blobs are kept,
    // unreferenced, for `biosign sweep-orphans` (tests/tests/sweep_orphans.rs removes such blobs).
    env.switches
        .fail_next_commit
        .store(true, std::sync::atomic::Ordering::SeqCst);
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(2))
        .await
        .assert_error(500, "MDOC_001", "INTERNAL_SERVER_ERROR", "");
    let kept = env.blob_keys().await;
    assert_eq!(
        kept.len(),
        2,
        "the attempt's two blobs, kept for the sweeper: {kept:?}"
    );

    let after = env.report("acme", &sign.sign_id).await;
    assert_eq!(before.sign, after.sign, "the sign is unchanged");
    assert_eq!(before.events, after.events, "no event was added");

    // And the sign still works afterwards.
    env.sign("acme", &sign.sign_id, &token, &Signature::sample(3))
        .await
        .assert_no_content();
    let referenced = env.report("acme", &sign.sign_id).await.sign.blobs.unwrap();
    let all = env.blob_keys().await;
    assert_eq!(all.len(), 4, "{all:?}");
    for key in &kept {
        assert!(
            *key != referenced.biometric_data && *key != referenced.signature_image,
            "the failed attempt's blob {key} is not referenced"
        );
    }
}

async fn stored_blobs_carry_checksums<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(5);
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let keys = env.report("acme", &sign.sign_id).await.sign.blobs.unwrap();
    assert!(
        keys.biometric_data
            .starts_with(&format!("signs/acme/{}/", sign.sign_id))
    );
    // The biometric data is stored as its envelope: the checksum is the envelope's.
    let envelope = env.blob(&keys.biometric_data).await.bytes;
    assert_ne!(&envelope[..], &signature.biometric_data[..]);
    for (key, bytes) in [
        (&keys.biometric_data, &envelope[..]),
        (&keys.signature_image, &signature.image[..]),
    ] {
        let blob = env.blob(key).await;
        assert_eq!(&blob.bytes[..], bytes);
        let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes));
        assert_eq!(
            blob.checksum_sha256.as_deref(),
            Some(digest.as_str()),
            "{key}"
        );
    }
}

async fn cors_preflight_only_for_configured_origins<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let url = env.url("acme", &uuid::Uuid::new_v4().to_string(), Some("sign"));
    let allowed = env
        .send(
            env.http
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let allow_headers = allowed.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    for header in [
        "authorization",
        "content-type",
        "x-installation_id",
        "x-fingerprint",
        "x-location",
    ] {
        assert!(allow_headers.contains(header), "{allow_headers}");
    }
    let refused = env
        .send(
            env.http
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert!(refused.headers.get("access-control-allow-origin").is_none());
    assert!(
        refused
            .headers
            .get("access-control-allow-headers")
            .is_none()
    );
}

/// Claims have RFC 7519's types: a non-string `iss` (an array holding the trusted issuer
/// included) and an `org`, `scope` or `sign_id` claim that is present but null or not a string
/// make the token invalid. A null `sign_id` must not read as "no claim" and open the whole org.
async fn claims_of_the_wrong_type_are_refused<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let id = sign.sign_id.as_str();
    let now = chrono::Utc::now().timestamp();
    let token = |changes: Value| {
        let mut claims = json!({"iss": "biosign-local-dev", "aud": "biosign-api", "exp": now + 300, "org": "acme", "scope": format!("{READ} {SIGN}")});
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        env.token_with_claims(&claims)
    };
    let cases = [
        (
            json!({"iss": ["evil", "biosign-local-dev"]}),
            "Authorization: the token's iss claim must be a string",
        ),
        (
            json!({"iss": ["biosign-local-dev"]}),
            "Authorization: the token's iss claim must be a string",
        ),
        (
            json!({"sign_id": null}),
            "Authorization: the token's sign_id claim must be a string when present",
        ),
        (
            json!({"sign_id": 7}),
            "Authorization: the token's sign_id claim must be a string when present",
        ),
        (
            json!({"sign_id": [id]}),
            "Authorization: the token's sign_id claim must be a string when present",
        ),
        (
            json!({"org": null}),
            "Authorization: the token's org claim must be a string when present",
        ),
        (
            json!({"org": ["acme"]}),
            "Authorization: the token's org claim must be a string when present",
        ),
        (
            json!({"scope": null}),
            "Authorization: the token's scope claim must be a string when present",
        ),
        (
            json!({"scope": [READ, SIGN]}),
            "Authorization: the token's scope claim must be a string when present",
        ),
    ];
    for (changes, details) in cases {
        let bad = token(changes.clone());
        env.get("acme", id, Some(&bad)).await.assert_error(
            401,
            "MDOC_003",
            "UNAUTHORIZED",
            details,
        );
        env.preview("acme", id, Some(&bad)).await.assert_error(
            401,
            "MDOC_003",
            "UNAUTHORIZED",
            details,
        );
        env.sign("acme", id, &bad, &Signature::sample(1))
            .await
            .assert_error(401, "MDOC_003", "UNAUTHORIZED", details);
    }
    let report = env.report("acme", id).await;
    assert_eq!(
        (report.events.len(), report.sign.version),
        (0, 1),
        "no refused token changed the sign"
    );
    assert!(env.blob_keys().await.is_empty());
    // The same token with well-typed claims is accepted.
    assert_eq!(
        env.get("acme", id, Some(&token(json!({})))).await.status,
        200
    );
}

/// A route matches only its exact path and method: no prefix before `/v1`, no trailing, extra or
/// doubled slashes. Everything else is a 404 with the contract's body, and changes nothing.
async fn only_exact_paths_are_routes<S: TestSigns, B: TestBlobs>(env: TestEnv<S, B>) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let id = sign.sign_id.as_str();
    let token = env.full_token("acme");
    let base = &env.base_url;
    let get_paths = [
        format!("/evil/prefix/v1/orgs/acme/biometric_signs/{id}"),
        format!("/lambda-url/get-sign/v1/orgs/acme/biometric_signs/{id}"),
        format!("/v1/orgs/acme/biometric_signs/{id}/"),
        format!("/v1/orgs/acme/biometric_signs/{id}///"),
        format!("/v1/orgs/acme/biometric_signs//{id}"),
        format!("/v1//orgs/acme/biometric_signs/{id}"),
        format!("//v1/orgs/acme/biometric_signs/{id}"),
        format!("/v1/orgs/acme/biometric_signs/{id}/preview"),
        "/v1/orgs//biometric_signs/x".to_owned(),
        "/".to_owned(),
    ];
    for path in &get_paths {
        env.send(env.http.get(format!("{base}{path}")).bearer_auth(&token))
            .await
            .assert_error(404, "MDOC_004", "RESOURCE_NOT_FOUND", "no such route");
    }
    let post_paths = [
        format!("/evil/prefix/v1/orgs/acme/biometric_signs/{id}/preview"),
        format!("/v1/orgs/acme/biometric_signs/{id}/preview/"),
        format!("/v1/orgs/acme/biometric_signs/{id}//preview"),
        format!("/v1/orgs/acme/biometric_signs/{id}/sign///"),
        format!("/v1/orgs/acme/biometric_signs/{id}"),
    ];
    for path in &post_paths {
        let mut request = env.http.post(format!("{base}{path}")).bearer_auth(&token);
        for (name, value) in device_headers() {
            request = request.header(name, value);
        }
        let request = request
            .header("content-type", "application/json")
            .body(Signature::sample(1).body().to_string());
        env.send(request).await.assert_error(
            404,
            "MDOC_004",
            "RESOURCE_NOT_FOUND",
            "no such route",
        );
    }
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
    ] {
        env.send(
            env.http
                .request(method, env.url("acme", id, None))
                .bearer_auth(&token),
        )
        .await
        .assert_error(404, "MDOC_004", "RESOURCE_NOT_FOUND", "no such route");
    }
    let report = env.report("acme", id).await;
    assert_eq!(
        (report.events.len(), report.sign.version),
        (0, 1),
        "nothing changed"
    );
    assert!(env.blob_keys().await.is_empty());
    // The exact paths still work.
    assert_eq!(env.get("acme", id, Some(&token)).await.status, 200);
    env.preview("acme", id, Some(&token))
        .await
        .assert_no_content();
}

/// Image headers parse as a real decoder's would (the outside review's findings), and a refused
/// image stores nothing.
async fn malformed_image_headers_are_refused_and_nothing_is_stored<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    use biosign_shared::testing::{jpeg_header, png_crc, png_header};
    let sign = env.create_sign("acme", false, "P7D").await;
    let id = sign.sign_id.as_str();
    let token = env.full_token("acme");
    let png_with = |at: usize, value: u8| {
        let mut image = png_header(64, 32);
        image[at] = value;
        let crc = png_crc(&image[12..29]);
        image[29..33].copy_from_slice(&crc.to_be_bytes());
        image
    };
    let mut zero_length_ihdr = png_header(64, 32);
    zero_length_ihdr[8..12].copy_from_slice(&[0, 0, 0, 0]);
    let mut bad_crc = png_header(64, 32);
    bad_crc[30] ^= 0x40;
    let no_idat = png_header(64, 32)[..33].to_vec();
    let jpeg = jpeg_header(64, 32);
    let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    let mut soi_sof = vec![0xff, 0xd8];
    soi_sof.extend_from_slice(&jpeg[sof..sof + 13]);
    let sos = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bit depth 3", png_with(24, 3), "PNG"),
        ("colour type 9", png_with(25, 9), "PNG"),
        ("compression 5", png_with(26, 5), "PNG"),
        ("interlace 7", png_with(28, 7), "PNG"),
        ("IHDR length 0", zero_length_ihdr, "PNG"),
        ("bad CRC", bad_crc, "PNG"),
        ("no IDAT", no_idat, "PNG"),
        ("SOI + SOF only", soi_sof, "JPEG"),
        ("truncated scan header", jpeg[..sos + 7].to_vec(), "JPEG"),
        ("truncated frame header", jpeg[..sof + 9].to_vec(), "JPEG"),
    ];
    for (name, image, format) in cases {
        use base64::Engine as _;
        let body = json!({
            "biometric_data": base64::engine::general_purpose::STANDARD.encode(Signature::sample(1).biometric_data),
            "signature_image": base64::engine::general_purpose::STANDARD.encode(&image),
        });
        let reply = env
            .sign_raw(
                "acme",
                id,
                Some(&token),
                &device_headers(),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(reply.status, 400, "{name}: {}", reply.body);
        reply.assert_error(
            400,
            "MDOC_002",
            "INVALID_INPUT",
            &format!("signature_image: the {format} header is malformed: "),
        );
    }
    assert!(
        env.blob_keys().await.is_empty(),
        "no blob for a refused image"
    );
    let report = env.report("acme", id).await;
    assert_eq!((report.events.len(), report.sign.version), (0, 1));
    // Real images of both formats are accepted.
    env.sign("acme", id, &token, &Signature::sample(1))
        .await
        .assert_no_content();
}

/// The demo body `biosign serve` printed before biometric data had rules: one point of an
/// ad-hoc JSON shape.
const OLD_DEMO_BIOMETRIC_DATA: &[u8] = br#"{"strokes":[[{"x":10,"y":12,"p":0.5,"t":0}]]}"#;

/// The same single dot, as sigdata/1: well-formed, and not a signature.
const ONE_DOT: &[u8] = br#"{"format":"sigdata/1","capture":{"width":600,"height":200,"pointer_type":"pen"},"strokes":[{"t":[0],"x":[10],"y":[12],"p":[0.5]}]}"#;

/// A capture of `samples` samples every 20 ms along a line.
fn line_capture(samples: usize) -> Vec<u8> {
    let column = |f: &dyn Fn(usize) -> usize| {
        (0..samples)
            .map(|i| f(i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"format":"sigdata/1","capture":{{"width":600,"height":200,"pointer_type":"touch"}},"strokes":[{{"t":[{}],"x":[{}],"y":[{}]}}]}}"#,
        column(&|i| i * 20),
        column(&|i| 100 + 3 * i),
        column(&|_| 80)
    )
    .into_bytes()
}

async fn refused_captures_store_nothing_and_add_no_evidence<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    let id = sign.sign_id.as_str();
    env.preview("acme", id, Some(&token))
        .await
        .assert_no_content();
    let before = env.report("acme", id).await;

    let mut unequal = String::from_utf8(line_capture(24)).unwrap();
    unequal = unequal.replacen("\"t\":[0,", "\"t\":[", 1);
    let iso = Signature::iso_sample(3).biometric_data;
    let truncated_iso = iso[..iso.len() - 3].to_vec();
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (
            OLD_DEMO_BIOMETRIC_DATA.to_vec(),
            400,
            "INVALID_INPUT",
            "biometric_data: unknown format (expected sigdata/1 or ISO/IEC 19794-7)",
        ),
        (
            b"\x89PNG\r\n\x1a\n not a capture".to_vec(),
            400,
            "INVALID_INPUT",
            "biometric_data: unknown format (expected sigdata/1 or ISO/IEC 19794-7)",
        ),
        (
            unequal.into_bytes(),
            400,
            "INVALID_INPUT",
            "biometric_data: strokes[0].t: 23 values, x has 24",
        ),
        (truncated_iso, 400, "INVALID_INPUT", "biometric_data: byte "),
        (
            ONE_DOT.to_vec(),
            422,
            "UNPROCESSABLE_ENTITY",
            "biometric_data: 1 sample (at least 20 needed)",
        ),
        (
            line_capture(19),
            422,
            "UNPROCESSABLE_ENTITY",
            "biometric_data: 19 samples (at least 20 needed)",
        ),
    ];
    for (data, status, title, details) in cases {
        env.sign("acme", id, &token, &Signature::with_biometric_data(&data))
            .await
            .assert_error(status, "MDOC_002", title, details);
    }
    assert!(
        env.blob_keys().await.is_empty(),
        "a refused capture stores no blob"
    );
    let after = env.report("acme", id).await;
    assert_eq!(after.sign, before.sign, "the sign is unchanged");
    assert_eq!(after.events, before.events, "no evidence event was added");
    assert_eq!(
        env.get("acme", id, Some(&token)).await.body["signature"],
        Value::Null
    );

    // A capture's quality is part of the body step: it is answered before authorization
    // against the path and before the sign's own state (not found, not previewed, expired).
    let one_dot = Signature::with_biometric_data(ONE_DOT);
    let wrong_org = env.full_token("globex");
    let not_previewed = env.create_sign("acme", true, "P7D").await;
    let expired = env.create_sign("acme", false, "-PT1S").await;
    let missing = uuid::Uuid::new_v4().to_string();
    for (sign_id, token) in [
        (id, &wrong_org),
        (not_previewed.sign_id.as_str(), &token),
        (expired.sign_id.as_str(), &token),
        (missing.as_str(), &token),
    ] {
        env.sign("acme", sign_id, token, &one_dot)
            .await
            .assert_error(
                422,
                "MDOC_002",
                "UNPROCESSABLE_ENTITY",
                "biometric_data: 1 sample",
            );
    }
    assert!(env.blob_keys().await.is_empty());
}

async fn realistic_captures_of_both_formats_are_signed_and_summarised<
    S: TestSigns,
    B: TestBlobs,
>(
    env: TestEnv<S, B>,
) {
    let token = env.full_token("acme");
    let sigdata = Signature::sample(11);
    let iso = Signature::iso_sample(12);
    for (signature, format, pointer_type) in [
        (&sigdata, "sigdata/1", json!("pen")),
        (&iso, "iso19794-7:2007", Value::Null),
    ] {
        let sign = env.create_sign("acme", false, "P7D").await;
        env.sign("acme", &sign.sign_id, &token, signature)
            .await
            .assert_no_content();
        let got = env.get("acme", &sign.sign_id, Some(&token)).await;
        let biometric = &got.body["signature"]["biometric"];
        assert_eq!(biometric, &signature.biometric_summary());
        assert_eq!(biometric["format"], format);
        assert_eq!(biometric["pointer_type"], pointer_type);
        assert_eq!(biometric["pressure"], true);
        assert!(
            biometric["samples"].as_u64().unwrap() > 2_000,
            "{biometric}"
        );
        assert!(biometric["strokes"].as_u64().unwrap() >= 5, "{biometric}");
        let duration = biometric["duration_ms"].as_u64().unwrap();
        assert!((9_000..=10_500).contains(&duration), "{biometric}");
        // The summary is evidence too: the SIGN event carries it.
        let report = env.report("acme", &sign.sign_id).await;
        let event = report.events.last().expect("the SIGN event");
        assert_eq!(
            serde_json::to_value(&event.signature.as_ref().unwrap().biometric).unwrap(),
            *biometric
        );
        assert!(report.chain.is_valid());
    }
    // The same pen signature in both formats summarises alike, but for the format and pointer.
    let as_iso = Signature::iso_sample(11).biometric_summary();
    let as_sigdata = sigdata.biometric_summary();
    for field in ["strokes", "samples", "duration_ms", "pressure"] {
        assert_eq!(as_iso[field], as_sigdata[field], "{field}");
    }
}

macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestEnv::start(Embedded).await).await;
                }
            )*
        }
        mod aws {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestEnv::start(Aws { kms_key_id: None }).await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    full_flow_pending_previewed_signed,
    sign_without_preview_documents_needs_no_preview,
    parameter_errors_name_the_culprit,
    invalid_bodies_are_rejected_with_the_field_named,
    token_matrix_is_refused_with_401,
    checks_run_in_the_contract_order,
    missing_signs_and_other_orgs_signs_answer_alike,
    state_conflicts_and_gone_signs,
    twenty_concurrent_signs_exactly_one_wins,
    a_hundred_concurrent_previews_all_succeed,
    identical_retry_succeeds_and_stores_nothing_new,
    evidence_chain_detects_tampering_and_deletion,
    storage_failures_leave_no_stray_blob_and_no_half_updated_sign,
    stored_blobs_carry_checksums,
    cors_preflight_only_for_configured_origins,
    claims_of_the_wrong_type_are_refused,
    only_exact_paths_are_routes,
    malformed_image_headers_are_refused_and_nothing_is_stored,
    refused_captures_store_nothing_and_add_no_evidence,
    realistic_captures_of_both_formats_are_signed_and_summarised,
);

/// On S3, objects are encrypted: AES256 by default, the configured KMS key otherwise.
#[tokio::test]
async fn s3_objects_are_encrypted_with_aes256_or_the_configured_kms_key() {
    for (kms, expected) in [
        (None, "AES256"),
        (Some("alias/biosign-test".to_owned()), "aws:kms"),
    ] {
        let env = TestEnv::start(Aws { kms_key_id: kms }).await;
        let sign = env.create_sign("acme", false, "P7D").await;
        let token = env.full_token("acme");
        env.sign("acme", &sign.sign_id, &token, &Signature::sample(1))
            .await
            .assert_no_content();
        for key in env.blob_keys().await {
            assert_eq!(
                env.blob(&key).await.encryption.as_deref(),
                Some(expected),
                "{key}"
            );
        }
    }
}
