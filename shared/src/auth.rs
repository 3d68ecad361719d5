//! Authentication (a JWT verified against a configured JWKS, asymmetric algorithms only) and
//! authorization from its claims (`org`, `scope`, optional `sign_id`).

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::{HeaderMap, header::AUTHORIZATION};
use serde::Deserialize;

use crate::ApiError;
use crate::ids::SignKey;

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

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not valid JSON Web Key Set JSON: {0}")]
    Json(String),
    #[error("JWKS key {index} has no \"kid\"; every key needs one")]
    MissingKid { index: usize },
    #[error("JWKS key {kid:?}: {reason}")]
    UnsupportedKey { kid: String, reason: String },
    #[error("the JWKS holds no keys")]
    Empty,
}

/// Verifies tokens. Keys are parsed once, at cold start.
pub struct Authenticator {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The claims this service reads. Standard claims are checked by the validation itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub sign_id: Option<String>,
}

impl Authenticator {
    pub fn from_jwks_json(jwks: &str, issuer: &str, audience: &str) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| JwksError::Json(e.to_string()))?;
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or(JwksError::MissingKid { index })?;
            let unsupported = |reason: &str| JwksError::UnsupportedKey {
                kid: kid.clone(),
                reason: reason.into(),
            };
            // The algorithm comes from the key, never from the token: a token cannot pick HMAC
            // (or anything else) for a key meant for RS256.
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Algorithm::EdDSA
                }
                AlgorithmParameters::OctetKey(_) => {
                    return Err(unsupported("symmetric keys are refused"));
                }
                _ => {
                    return Err(unsupported(
                        "only RSA, EC P-256 and Ed25519 keys are accepted",
                    ));
                }
            };
            if let Some(declared) = jwk.common.key_algorithm {
                let declared = format!("{declared:?}");
                if declared != format!("{algorithm:?}") {
                    return Err(unsupported(&format!(
                        "declares alg {declared}, but only {algorithm:?} fits the key"
                    )));
                }
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| unsupported(&e.to_string()))?;
            keys.insert(kid, (algorithm, key));
        }
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Checks the bearer token: a known `kid`, the key's algorithm, a valid signature, and
    /// `exp`, `nbf`, `iss`, `aud` within [`LEEWAY_SECONDS`].
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Claims, ApiError> {
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
        let (algorithm, key) = self
            .keys
            .get(kid)
            .ok_or_else(|| unauthorized("the token's kid is not a trusted key"))?;
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
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            unauthorized(match e.kind() {
                K::ExpiredSignature => "the token has expired",
                K::ImmatureSignature => "the token is not valid yet (nbf)",
                K::InvalidIssuer => "the token's issuer is not trusted",
                K::InvalidAudience => "the token's audience is not this API",
                K::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss, aud)",
                K::InvalidSignature => "the token's signature does not verify",
                _ => "the token is invalid",
            })
        })?;
        Ok(data.claims)
    }
}

impl Claims {
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
