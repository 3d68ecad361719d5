//! Which JWKS keys the authenticator trusts, and for which algorithm: RSA for RS256, EC P-256 for
//! ES256, Ed25519 for EdDSA; every other key (symmetric, other curves) is refused at start-up
//! with a reason, so that a misconfigured JWKS never silently widens what a token may use.
//!
//! The keys in `fixtures/jwks` are test-only, made with OpenSSL 3
//! (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, then `openssl rsa -traditional`, `-algorithm EC -pkeyopt
//! ec_paramgen_curve:P-256|P-384|secp256k1`, `-algorithm ED25519|X25519`); each `*.jwk.json` is the
//! public half of one of them, with its file name as `kid`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign_shared::ApiError;
use biosign_shared::auth::{Authenticator, JwksError};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use serde_json::{Value, json};

/// `authenticate` is async (a JWKS may be fetched); with an inline key set it never waits, so the
/// tests run it to completion on a throw-away current-thread runtime.
trait RunNow: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
            .block_on(self)
    }
}
impl<F: std::future::Future> RunNow for F {}

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "biosign-api";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/jwks/", $name))
    };
}

const RSA_JWK: &str = fixture!("rsa.jwk.json");
const P256_JWK: &str = fixture!("p256.jwk.json");
const P384_JWK: &str = fixture!("p384.jwk.json");
const SECP256K1_JWK: &str = fixture!("secp256k1.jwk.json");
const ED25519_JWK: &str = fixture!("ed25519.jwk.json");
const X25519_JWK: &str = fixture!("x25519.jwk.json");

fn jwk(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture JWK")
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn authenticator(keys: &[Value]) -> Result<Authenticator, JwksError> {
    Authenticator::from_jwks_json(&jwks(keys), ISSUER, AUDIENCE)
}

/// Why the JWKS of `keys` is refused at start-up.
fn refusal(keys: &[Value]) -> String {
    match authenticator(keys) {
        Ok(auth) => panic!("the JWKS should be refused, got {auth:?}"),
        Err(e) => e.to_string(),
    }
}

/// A token for `acme` with both scopes, valid for a minute.
fn token(kid: &str, algorithm: Algorithm, key: &EncodingKey) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "org": "acme", "scope": "biometric_signs:read biometric_signs:sign"});
    let header = Header {
        kid: Some(kid.into()),
        ..Header::new(algorithm)
    };
    jsonwebtoken::encode(&header, &claims, key).expect("encode a token")
}

fn authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    headers
}

/// The DER inside a PEM file (jsonwebtoken reads PEM only with a feature this crate leaves off).
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM base64")
}

/// PKCS#1, as jsonwebtoken takes RSA keys.
fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_der(&pem_der(fixture!("rsa-private.pem")))
}

/// PKCS#8, as jsonwebtoken takes EC and Ed25519 keys.
fn p256_key() -> EncodingKey {
    EncodingKey::from_ec_der(&pem_der(fixture!("p256-private.pem")))
}

fn ed25519_key() -> EncodingKey {
    EncodingKey::from_ed_der(&pem_der(fixture!("ed25519-private.pem")))
}

/// `auth` accepts the token and reads its claims.
#[track_caller]
fn assert_accepts(auth: &Authenticator, token: &str) {
    let claims = auth
        .authenticate(&authorization(&format!("Bearer {token}")))
        .now()
        .unwrap_or_else(|e| panic!("token refused: {e:?}"));
    assert_eq!(claims.org.as_deref(), Some("acme"));
}

#[track_caller]
fn assert_unauthorized(auth: &Authenticator, headers: &HeaderMap, details: &str) {
    match auth.authenticate(headers).now() {
        Err(ApiError::Unauthorized(d)) => assert_eq!(d, details),
        other => panic!("expected UNAUTHORIZED {details:?}, got {other:?}"),
    }
}

#[test]
fn an_rsa_key_verifies_rs256_tokens_and_only_those() {
    let auth = authenticator(&[jwk(RSA_JWK)]).expect("an RSA key is accepted");
    assert_accepts(&auth, &token("rsa", Algorithm::RS256, &rsa_key()));
    // The algorithm comes from the key: the same key under another RSA algorithm is refused.
    assert_unauthorized(
        &auth,
        &authorization(&format!(
            "Bearer {}",
            token("rsa", Algorithm::RS512, &rsa_key())
        )),
        "Authorization: the token's alg does not match its key",
    );
}

#[test]
fn a_p256_key_verifies_es256_tokens() {
    let auth = authenticator(&[jwk(P256_JWK)]).expect("a P-256 key is accepted");
    assert_accepts(&auth, &token("p256", Algorithm::ES256, &p256_key()));
}

#[test]
fn an_ed25519_key_verifies_eddsa_tokens() {
    let auth = authenticator(&[jwk(ED25519_JWK)]).expect("an Ed25519 key is accepted");
    assert_accepts(&auth, &token("ed25519", Algorithm::EdDSA, &ed25519_key()));
}

#[test]
fn one_jwks_may_hold_every_accepted_key_type() {
    let auth = authenticator(&[jwk(RSA_JWK), jwk(P256_JWK), jwk(ED25519_JWK)]).unwrap();
    assert_accepts(&auth, &token("rsa", Algorithm::RS256, &rsa_key()));
    assert_accepts(&auth, &token("p256", Algorithm::ES256, &p256_key()));
    assert_accepts(&auth, &token("ed25519", Algorithm::EdDSA, &ed25519_key()));
    // A token names its key; another key's algorithm under that kid is refused.
    assert_unauthorized(
        &auth,
        &authorization(&format!(
            "Bearer {}",
            token("rsa", Algorithm::ES256, &p256_key())
        )),
        "Authorization: the token's alg does not match its key",
    );
}

#[test]
fn a_symmetric_key_is_refused() {
    let oct =
        json!({"kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"});
    assert_eq!(
        refusal(&[jwk(ED25519_JWK), oct]),
        r#"JWKS key "shared-secret": symmetric keys are refused"#
    );
}

#[test]
fn ec_keys_on_other_curves_are_refused() {
    assert_eq!(
        refusal(&[jwk(P384_JWK)]),
        r#"JWKS key "p384": only RSA, EC P-256 and Ed25519 keys are accepted"#
    );
    // A curve the JOSE library does not know is refused too (as JSON it cannot read).
    refusal(&[jwk(SECP256K1_JWK)]);
}

#[test]
fn octet_key_pairs_other_than_ed25519_are_refused() {
    // X25519 is a key-agreement curve, unknown to the JOSE library as a signing key.
    refusal(&[jwk(X25519_JWK)]);
    // An OKP naming a curve that is not an Edwards curve is not an EdDSA key.
    let mut misnamed = jwk(ED25519_JWK);
    misnamed["crv"] = json!("P-256");
    misnamed["kid"] = json!("misnamed");
    assert_eq!(
        refusal(&[misnamed]),
        r#"JWKS key "misnamed": only RSA, EC P-256 and Ed25519 keys are accepted"#
    );
}

#[test]
fn a_key_declaring_another_algorithm_than_its_type_allows_is_refused() {
    let mut declared = jwk(RSA_JWK);
    declared["alg"] = json!("RS256");
    assert!(authenticator(&[declared.clone()]).is_ok());
    declared["alg"] = json!("RS512");
    assert_eq!(
        refusal(&[declared]),
        r#"JWKS key "rsa": declares alg RS512, but only RS256 fits the key"#
    );
    let mut declared = jwk(P256_JWK);
    declared["alg"] = json!("HS256");
    assert_eq!(
        refusal(&[declared]),
        r#"JWKS key "p256": declares alg HS256, but only ES256 fits the key"#
    );
}

#[test]
fn only_the_bearer_scheme_carries_a_token() {
    let auth = authenticator(&[jwk(ED25519_JWK)]).unwrap();
    let token = token("ed25519", Algorithm::EdDSA, &ed25519_key());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_accepts_header(&auth, &format!("{scheme} {token}"));
    }
    for value in [
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        token.clone(),
    ] {
        assert_unauthorized(
            &auth,
            &authorization(&value),
            "Authorization: must be 'Bearer <JWT>'",
        );
    }
}

#[track_caller]
fn assert_accepts_header(auth: &Authenticator, value: &str) {
    let claims = auth
        .authenticate(&authorization(value))
        .now()
        .unwrap_or_else(|e| panic!("{value:?} refused: {e:?}"));
    assert_eq!(claims.org.as_deref(), Some("acme"));
}
