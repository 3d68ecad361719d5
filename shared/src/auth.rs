//! Authentication (a JWT verified against the issuer's JWKS, asymmetric algorithms only) and
//! authorization from its claims (`org`, `scope`, optional `sign_id`). Where the keys come from
//! (inline, or the issuer's URL with a cache) is [`crate::jwks`].

use std::sync::Arc;

use jsonwebtoken::Validation;
use lambda_http::http::{HeaderMap, header::AUTHORIZATION};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::ids::SignKey;
pub use crate::jwks::JwksError;
use crate::jwks::{KeyLookupError, KeySet, RemoteJwks, RemoteJwksOptions};

/// Clock skew tolerated on `exp` and `nbf`, in seconds (the contract's maximum).
pub const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Sign,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "biometric_signs:read",
            Self::Sign => "biometric_signs:sign",
        }
    }
}

/// Where the verification keys come from.
#[derive(Debug)]
enum Keys {
    /// Parsed once, at cold start (`JWT_JWKS`).
    Inline(Arc<KeySet>),
    /// Fetched from the issuer when first needed, then cached (`JWT_JWKS_URL`).
    Remote(Box<RemoteJwks>),
}

/// Verifies tokens.
#[derive(Debug)]
pub struct Authenticator {
    keys: Keys,
    issuer: String,
    audience: String,
}

/// The claims this service reads, with the types RFC 7519 and the contract give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub org: Option<String>,
    pub scope: Option<String>,
    pub sign_id: Option<String>,
}

impl Authenticator {
    pub fn from_jwks_json(jwks: &str, issuer: &str, audience: &str) -> Result<Self, JwksError> {
        Ok(Self::new(
            Keys::Inline(Arc::new(KeySet::parse_strict(jwks)?)),
            issuer,
            audience,
        ))
    }

    /// Keys fetched from `url` when first needed (nothing is fetched here).
    pub fn from_jwks_url(
        url: &str,
        options: RemoteJwksOptions,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, JwksError> {
        Ok(Self::from_remote(
            RemoteJwks::new(url, options)?,
            issuer,
            audience,
        ))
    }

    pub fn from_remote(remote: RemoteJwks, issuer: &str, audience: &str) -> Self {
        Self::new(Keys::Remote(Box::new(remote)), issuer, audience)
    }

    fn new(keys: Keys, issuer: &str, audience: &str) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Checks the bearer token: a known `kid`, the key's algorithm, a valid signature,
    /// `exp`, `nbf`, `iss`, `aud` within [`LEEWAY_SECONDS`], and the types of the claims read.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Claims, ApiError> {
        let unauthorized = |d: &str| ApiError::Unauthorized(format!("Authorization: {d}"));
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| unauthorized("a Bearer token is required"))?;
        if values.next().is_some() {
            return Err(unauthorized("must be given once"));
        }
        let value = value
            .to_str()
            .map_err(|_| unauthorized("must be 'Bearer <JWT>'"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthorized("must be 'Bearer <JWT>'")),
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is malformed or uses an unsupported alg"))?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| unauthorized("the token has no kid"))?;
        let unknown_kid = || unauthorized("the token's kid is not a trusted key");
        let set = match &self.keys {
            Keys::Inline(set) => Arc::clone(set),
            Keys::Remote(remote) => remote.key_set_for(kid).await.map_err(|e| match e {
                KeyLookupError::UnknownKid => unknown_kid(),
                KeyLookupError::NoKeySet => {
                    unauthorized("the issuer's keys cannot be fetched; try again later")
                }
            })?,
        };
        let (algorithm, key) = set.get(kid).ok_or_else(unknown_kid)?;
        if header.alg != *algorithm {
            return Err(unauthorized("the token's alg does not match its key"));
        }
        let mut validation = Validation::new(*algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                unauthorized(match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet (nbf)",
                    K::InvalidIssuer => "the token's issuer is not trusted",
                    K::InvalidAudience => "the token's audience is not this API",
                    K::MissingRequiredClaim(_) => {
                        "the token lacks a required claim (exp, iss, aud)"
                    }
                    K::InvalidSignature => "the token's signature does not verify",
                    K::InvalidClaimFormat(_) => "the token's exp or nbf is not a number",
                    _ => "the token is invalid",
                })
            })?;
        Claims::from_payload(&data.claims).map_err(|d| unauthorized(&d))
    }
}

impl Claims {
    /// The claims read, each checked for its type. The library has checked `iss` against the
    /// trusted issuer, but it also accepts an array holding it (`["evil", "<issuer>"]`): RFC 7519
    /// makes `iss` a string. A claim this service reads that is present but null or not a string
    /// is an invalid token, never "no claim" (a null `sign_id` must not open the whole org).
    fn from_payload(payload: &Map<String, Value>) -> Result<Self, String> {
        if !matches!(payload.get("iss"), Some(Value::String(_))) {
            return Err("the token's iss claim must be a string".into());
        }
        let text = |name: &str| match payload.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!(
                "the token's {name} claim must be a string when present"
            )),
        };
        Ok(Self {
            org: text("org")?,
            scope: text("scope")?,
            sign_id: text("sign_id")?,
        })
    }

    /// Authorization against the path: the token's `org`, `scope` and optional `sign_id`.
    pub fn authorize(&self, scope: Scope, key: &SignKey) -> Result<(), ApiError> {
        let denied = |d: &str| ApiError::Unauthorized(format!("Authorization: {d}"));
        if self.org.as_deref() != Some(key.org_id.as_str()) {
            return Err(denied("the token is not valid for this org_id"));
        }
        let has_scope = self
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|s| s == scope.as_str()));
        if !has_scope {
            return Err(denied(&format!(
                "the token lacks the scope {}",
                scope.as_str()
            )));
        }
        if let Some(sign_id) = &self.sign_id {
            if !sign_id.eq_ignore_ascii_case(&key.sign_id.to_string()) {
                return Err(denied("the token is valid for another sign_id"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use lambda_http::http::HeaderValue;

    const SEED: [u8; 32] = [3; 32];

    fn authenticator() -> Authenticator {
        let x = URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&SEED).verifying_key().to_bytes());
        let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"{x}"}}]}}"#);
        Authenticator::from_jwks_json(&jwks, "https://idp.test", "biosign-api").unwrap()
    }

    /// A token with the valid base claims, each of `changes` set (`Value::Null` included: a
    /// present null is what is being tested).
    fn bearer(changes: Value) -> HeaderMap {
        let now = chrono::Utc::now().timestamp();
        let mut claims = serde_json::json!({"iss": "https://idp.test", "aud": "biosign-api", "exp": now + 60, "org": "acme", "scope": "biometric_signs:read"});
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let der = SigningKey::from_bytes(&SEED).to_pkcs8_der().unwrap();
        let header = Header {
            kid: Some("k".into()),
            ..Header::new(Algorithm::EdDSA)
        };
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers
    }

    async fn refusal(changes: Value) -> String {
        match authenticator().authenticate(&bearer(changes)).await {
            Err(ApiError::Unauthorized(d)) => d,
            other => panic!("expected a 401, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn claims_must_have_their_rfc_7519_types() {
        let ok = authenticator()
            .authenticate(&bearer(
                serde_json::json!({"sign_id": "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10"}),
            ))
            .await
            .unwrap();
        assert_eq!(ok.org.as_deref(), Some("acme"));
        assert_eq!(
            ok.sign_id.as_deref(),
            Some("0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10")
        );
        assert_eq!(
            refusal(serde_json::json!({"iss": ["evil", "https://idp.test"]})).await,
            "Authorization: the token's iss claim must be a string"
        );
        assert_eq!(
            refusal(serde_json::json!({"iss": ["https://idp.test"]})).await,
            "Authorization: the token's iss claim must be a string"
        );
        for iss in [
            serde_json::json!(5),
            Value::Null,
            serde_json::json!({"a": 1}),
        ] {
            assert!(
                refusal(serde_json::json!({ "iss": iss }))
                    .await
                    .starts_with("Authorization: the token"),
                "{iss}"
            );
        }
        for name in ["org", "scope", "sign_id"] {
            for value in [
                Value::Null,
                serde_json::json!(7),
                serde_json::json!(["acme"]),
                serde_json::json!(true),
                serde_json::json!({}),
            ] {
                assert_eq!(
                    refusal(serde_json::json!({ name: value })).await,
                    format!(
                        "Authorization: the token's {name} claim must be a string when present"
                    ),
                    "{name}: {value}"
                );
            }
        }
        assert_eq!(
            refusal(serde_json::json!({"nbf": "yesterday"})).await,
            "Authorization: the token's exp or nbf is not a number"
        );
        assert_eq!(
            refusal(serde_json::json!({"exp": "tomorrow"})).await,
            "Authorization: the token lacks a required claim (exp, iss, aud)"
        );
    }

    #[tokio::test]
    async fn each_refused_check_is_named() {
        let now = chrono::Utc::now().timestamp();
        let hour_ago = now - 3600;
        let in_an_hour = now + 3600;
        for (changes, reason) in [
            (
                serde_json::json!({"exp": hour_ago}),
                "the token has expired",
            ),
            (
                serde_json::json!({"nbf": in_an_hour}),
                "the token is not valid yet (nbf)",
            ),
            (
                serde_json::json!({"iss": "https://evil.test"}),
                "the token's issuer is not trusted",
            ),
            (
                serde_json::json!({"aud": "another-api"}),
                "the token's audience is not this API",
            ),
        ] {
            assert_eq!(
                refusal(changes.clone()).await,
                format!("Authorization: {reason}"),
                "{changes}"
            );
        }
        // One character of the signature changed: the claims are fine, the signature is not.
        let mut headers = bearer(serde_json::json!({}));
        let mut token = headers[AUTHORIZATION].to_str().unwrap().to_owned();
        let inside = token.len() - 10; // within the signature, clear of base64's padding bits
        let flipped = if token.as_bytes()[inside] == b'A' {
            "B"
        } else {
            "A"
        };
        token.replace_range(inside..=inside, flipped);
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&token).unwrap());
        match authenticator().authenticate(&headers).await {
            Err(ApiError::Unauthorized(d)) => {
                assert_eq!(d, "Authorization: the token's signature does not verify")
            }
            other => panic!("expected a 401, got {other:?}"),
        }
    }

    #[test]
    fn absent_optional_claims_are_none_and_a_sign_id_claim_limits_to_its_sign() {
        let payload = |v: Value| v.as_object().unwrap().clone();
        let claims = Claims::from_payload(&payload(serde_json::json!({"iss": "i"}))).unwrap();
        assert_eq!(
            claims,
            Claims {
                org: None,
                scope: None,
                sign_id: None
            }
        );
        let key = SignKey::new(
            crate::ids::OrgId::parse("acme").unwrap(),
            crate::ids::SignId::parse("0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10").unwrap(),
        );
        let own = Claims {
            org: Some("acme".into()),
            scope: Some("biometric_signs:read".into()),
            sign_id: Some("0B0C6A8E-3F1E-4A57-9D3B-2F2F3C1A9E10".into()),
        };
        assert_eq!(own.authorize(Scope::Read, &key), Ok(()));
        let other = Claims {
            sign_id: Some("11111111-3f1e-4a57-9d3b-2f2f3c1a9e10".into()),
            ..own
        };
        assert!(other.authorize(Scope::Read, &key).is_err());
    }
}
