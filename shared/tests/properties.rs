//! Properties over arbitrary input, with bounded case counts (the whole file runs in seconds):
//! the image reader, the body parser, and the handlers fed arbitrary path parameters and device
//! headers never panic and never answer 5xx, and every refusal is a 400 (or the 422 of a quality
//! rule) whose `details` names the field or header at fault.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use biosign_shared::ApiError;
use biosign_shared::auth::Authenticator;
use biosign_shared::error::ErrorDocs;
use biosign_shared::handlers::{self, Api};
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::image::read_header;
use biosign_shared::model::SignRecord;
use biosign_shared::request::{DeviceHeaders, parse_sign_body};
use biosign_shared::route::match_path;
use biosign_shared::store::SignAdmin;
use biosign_shared::store::memory::MemoryStore;
use biosign_shared::testing::{self, jpeg_header, png_header};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::{Body, RequestExt};
use proptest::prelude::*;

/// 256 cases per property, or `PROPTEST_CASES` for a deeper run by hand.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A refusal must be a 400 (or a capture's 422) naming one of `fields` first.
fn assert_names_a_field(error: &ApiError, fields: &[&str]) -> Result<(), TestCaseError> {
    let status = error.kind().status;
    prop_assert!(status == 400 || status == 422, "status {status}: {error:?}");
    let details = error.details();
    prop_assert!(
        fields.iter().any(|f| details.starts_with(&format!("{f}:"))),
        "details {details:?} name none of {fields:?}"
    );
    Ok(())
}

/// A real image of either format, then some of its bytes changed and maybe cut short.
fn mutated_image() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        1u16..40,
        1u16..40,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(png, w, h, changes, cut)| {
            let mut image = if png {
                png_header(w.into(), h.into())
            } else {
                jpeg_header(w, h)
            };
            for (at, byte) in changes {
                let at = at.index(image.len());
                image[at] = byte;
            }
            if let Some(cut) = cut {
                image.truncate(cut.index(image.len() + 1));
            }
            image
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_image_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_header(&bytes);
    }

    #[test]
    fn the_image_reader_never_panics_on_near_images(image in mutated_image()) {
        if let Ok(header) = read_header(&image) {
            let png = image.starts_with(b"\x89PNG\r\n\x1a\n");
            prop_assert_eq!(header.format == biosign_shared::model::ImageFormat::Png, png);
        }
    }

    #[test]
    fn a_refused_image_is_a_400_naming_signature_image(image in mutated_image(), prefix in any::<bool>()) {
        let text = match (prefix, image.first()) {
            (true, Some(0x89)) => format!("data:image/png;base64,{}", STANDARD.encode(&image)),
            (true, _) => format!("data:image/jpeg;base64,{}", STANDARD.encode(&image)),
            (false, _) => STANDARD.encode(&image),
        };
        let body = serde_json::json!({"biometric_data": "AAAA", "signature_image": text}).to_string();
        if let Err(error) = parse_sign_body(Some("application/json"), body.as_bytes()) {
            assert_names_a_field(&error, &["signature_image", "biometric_data"])?;
        }
    }

    #[test]
    fn any_body_is_parsed_or_refused_by_field(
        content_type in proptest::option::of("[ -~]{0,40}"),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            "\\PC{0,200}".prop_map(String::into_bytes),
            // JSON objects with the two fields holding arbitrary JSON values.
            (any::<Option<String>>(), any::<Option<i64>>(), any::<bool>()).prop_map(|(s, n, extra)| {
                let mut body = serde_json::json!({"biometric_data": s, "signature_image": n});
                if extra { body["other"] = serde_json::json!(1); }
                body.to_string().into_bytes()
            }),
        ],
    ) {
        if let Err(error) = parse_sign_body(content_type.as_deref(), &body) {
            assert_names_a_field(&error, &["body", "Content-Type", "biometric_data", "signature_image"])?;
        }
    }

    #[test]
    fn device_headers_are_accepted_or_refused_by_name(
        values in proptest::collection::vec(
            (prop::sample::select(vec!["x-installation_id", "X-Fingerprint", "x-location", "user-agent"]),
             proptest::collection::vec(any::<u8>(), 0..300)),
            0..6,
        ),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(HeaderName::from_static(name_lower(name)), value);
            }
        }
        if let Err(error) = DeviceHeaders::from_headers(&headers) {
            assert_names_a_field(&error, &["x-installation_id", "x-fingerprint", "x-location"])?;
        }
    }

    #[test]
    fn route_matching_never_panics_and_wants_exact_segments(path in "(/|[a-z0-9_-]{1,12}|v1|orgs|biometric_signs|preview|sign){0,10}") {
        if let Some(m) = match_path(&path) {
            prop_assert!(!m.org_id.is_empty() && !m.sign_id.is_empty());
            prop_assert!(!m.org_id.contains('/') && !m.sign_id.contains('/'));
            prop_assert!(path.starts_with("/v1/orgs/") && !path.ends_with('/') && !path.contains("//"));
        }
    }
}

fn name_lower(name: &'static str) -> &'static str {
    match name {
        "X-Fingerprint" => "x-fingerprint",
        other => other,
    }
}

// --- The handlers, fed arbitrary path parameters and headers -------------------------------

const SEED: [u8; 32] = [9; 32];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    api: Api<MemoryStore>,
    key: SignKey,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let x = URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&SEED).verifying_key().to_bytes());
    let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"p","x":"{x}"}}]}}"#);
    let store = MemoryStore::new();
    let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
    let sign = SignRecord::new(testing::new_sign(key.clone(), biosign_shared::time::now()));
    runtime.block_on(store.create_sign(&sign)).unwrap();
    let der = SigningKey::from_bytes(&SEED).to_pkcs8_der().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"iss": "https://idp.test", "aud": "biosign-api", "exp": now + 3600, "org": "acme", "scope": "biometric_signs:read biometric_signs:sign"});
    let header = Header {
        kid: Some("p".into()),
        ..Header::new(Algorithm::EdDSA)
    };
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    Fixture {
        runtime,
        api: Api {
            signs: store,
            blobs: Default::default(),
            auth: Authenticator::from_jwks_json(&jwks, "https://idp.test", "biosign-api").unwrap(),
            docs: ErrorDocs::new("https://docs.test/errors"),
            tsa: None,
        },
        key,
        token,
    }
});

/// Path parameters as the gateway would pass them: anything between two slashes, or the real
/// ones.
fn path_parameter(real: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(real),
        "[^/]{0,70}",
        "[0-9a-fA-F-]{30,40}",
        "[A-Za-z0-9_-]{60,70}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: config().cases / 2, ..config() })]

    #[test]
    fn previews_with_arbitrary_parameters_and_headers_never_fail_the_server(
        org_id in path_parameter("acme".into()),
        sign_id in path_parameter(FIXTURE.key.sign_id.to_string()),
        headers in proptest::collection::vec(
            (prop::sample::select(vec!["x-installation_id", "x-fingerprint", "x-location"]),
             proptest::collection::vec(any::<u8>(), 0..160)),
            0..5,
        ),
    ) {
        let fixture = &*FIXTURE;
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/orgs/x/biometric_signs/y/preview")
            .header("authorization", format!("Bearer {}", fixture.token));
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                builder = builder.header(name, value);
            }
        }
        let request = builder
            .body(Body::Empty)
            .unwrap()
            .with_path_parameters(HashMap::from([
                ("org_id".to_owned(), org_id.clone()),
                ("sign_id".to_owned(), sign_id.clone()),
            ]));
        let response = fixture.runtime.block_on(handlers::preview(&fixture.api, request));
        let status = response.status().as_u16();
        prop_assert!(status < 500, "{status} for {org_id:?} {sign_id:?}");
        if status >= 400 {
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            let details = body["errors"][0]["details"].as_str().unwrap_or_default().to_owned();
            match status {
                400 => prop_assert!(
                    ["org_id:", "sign_id:", "x-installation_id:", "x-fingerprint:", "x-location:"]
                        .iter()
                        .any(|f| details.starts_with(f)),
                    "{details:?}"
                ),
                404 => prop_assert!(org_id != "acme" || sign_id.to_lowercase() != fixture.key.sign_id.to_string(), "{details:?}"),
                other => prop_assert!(false, "unexpected {other}: {details:?}"),
            }
        }
    }
}
