//! Configuration, read once at cold start. A missing or invalid setting stops the process at
//! once with a message naming the variable.

use crate::auth::Authenticator;
use crate::error::ErrorDocs;
use crate::jwks::RemoteJwksOptions;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const BUCKET_NAME: &str = "BUCKET_NAME";
pub const KMS_KEY_ID: &str = "KMS_KEY_ID";
pub const JWT_JWKS: &str = "JWT_JWKS";
pub const JWT_JWKS_URL: &str = "JWT_JWKS_URL";
pub const JWT_ISSUER: &str = "JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
pub const ERROR_DOCS_URL: &str = "ERROR_DOCS_URL";

/// Where error `ref`s point when `ERROR_DOCS_URL` is not set (a reserved example domain: a
/// deployment sets the URL where it publishes `docs/errors.md`).
pub const DEFAULT_ERROR_DOCS_URL: &str = "https://docs.biosign.example/errors";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// What every function reads from its environment.
#[derive(Debug)]
pub struct FunctionConfig {
    pub table_name: String,
    pub auth: Authenticator,
    pub docs: ErrorDocs,
}

/// What the sign function also reads: where the blobs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub bucket_name: String,
    /// Without one, blobs are encrypted with S3-managed keys (`AES256`).
    pub kms_key_id: Option<String>,
}

/// Reads `name` through `lookup`; an empty value counts as unset.
pub fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

pub fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, name).ok_or(ConfigError::Missing(name))
}

// --- Token verification: JWT_JWKS or JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE ---

/// The authenticator from `JWT_ISSUER`, `JWT_AUDIENCE` and exactly one key source: `JWT_JWKS`
/// (the set inline, parsed now) or `JWT_JWKS_URL` (the issuer's set, fetched when first needed:
/// never at start-up, which would slow every cold start).
pub fn authenticator(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Authenticator, ConfigError> {
    let issuer = required(lookup, JWT_ISSUER)?;
    let audience = required(lookup, JWT_AUDIENCE)?;
    let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
    match (optional(lookup, JWT_JWKS), optional(lookup, JWT_JWKS_URL)) {
        (Some(_), Some(_)) => Err(invalid(
            JWT_JWKS_URL,
            format!("set either {JWT_JWKS} or {JWT_JWKS_URL}, not both"),
        )),
        (Some(jwks), None) => Authenticator::from_jwks_json(&jwks, &issuer, &audience)
            .map_err(|e| invalid(JWT_JWKS, e.to_string())),
        (None, Some(url)) => Authenticator::from_jwks_url(
            url.trim(),
            RemoteJwksOptions::default(),
            &issuer,
            &audience,
        )
        .map_err(|e| invalid(JWT_JWKS_URL, e.to_string())),
        (None, None) => Err(ConfigError::Missing("JWT_JWKS (or JWT_JWKS_URL)")),
    }
}

// --- end of token verification ---

pub fn error_docs(lookup: &impl Fn(&str) -> Option<String>) -> ErrorDocs {
    ErrorDocs::new(
        optional(lookup, ERROR_DOCS_URL).unwrap_or_else(|| DEFAULT_ERROR_DOCS_URL.into()),
    )
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl FunctionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_var)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(&lookup, TABLE_NAME)?,
            auth: authenticator(&lookup)?,
            docs: error_docs(&lookup),
        })
    }
}

impl BucketConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_var)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket_name: required(&lookup, BUCKET_NAME)?,
            kms_key_id: optional(&lookup, KMS_KEY_ID),
        })
    }
}

// ---- Escrow: the certificates the biometric data is sealed for (see `seal`) ----------------

/// The path of a PEM file holding the escrow certificates. On Lambda the file comes with the
/// deployment (a layer mounted under `/opt`): PEM certificates do not fit in Lambda's 4 KB of
/// environment variables, and reading them from a service at cold start would cost a call.
pub const ESCROW_CERTS: &str = "ESCROW_CERTS";

/// The escrow recipients from the file `ESCROW_CERTS` names, checked against `now`. Required:
/// a function that stores biometric data must never run without someone to seal it for.
pub fn escrow_recipients(
    lookup: &impl Fn(&str) -> Option<String>,
    now: crate::time::Timestamp,
) -> Result<crate::seal::EscrowRecipients, ConfigError> {
    let path = required(lookup, ESCROW_CERTS)?;
    crate::seal::EscrowRecipients::load(std::path::Path::new(&path), now).map_err(|e| {
        ConfigError::Invalid {
            name: ESCROW_CERTS,
            reason: e.to_string(),
        }
    })
}

/// [`escrow_recipients`] from the process environment, now: for the sign function's `main`.
pub fn escrow_recipients_from_env() -> Result<crate::seal::EscrowRecipients, ConfigError> {
    escrow_recipients(&env_var, crate::time::now())
}

/// For a function's `main`: the value, or a message naming the setting and an immediate exit.
pub fn or_exit<T>(result: Result<T, ConfigError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            eprintln!("biosign: configuration error: {e}");
            std::process::exit(78) // EX_CONFIG
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn names_the_missing_variable() {
        let full = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("JWT_JWKS", JWKS),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ];
        assert!(FunctionConfig::from_lookup(env(&full)).is_ok());
        assert_eq!(
            BucketConfig::from_lookup(env(&full)).unwrap(),
            BucketConfig {
                bucket_name: "b".into(),
                kms_key_id: None
            }
        );
        for missing in [
            "TABLE_NAME",
            "BUCKET_NAME",
            "JWT_JWKS",
            "JWT_ISSUER",
            "JWT_AUDIENCE",
        ] {
            let pairs: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = FunctionConfig::from_lookup(env(&pairs))
                .and(BucketConfig::from_lookup(env(&pairs)).map(|_| ()))
                .unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        let no_bucket: Vec<_> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != "BUCKET_NAME")
            .collect();
        assert!(FunctionConfig::from_lookup(env(&no_bucket)).is_ok());
    }

    #[test]
    fn takes_a_jwks_url_instead_of_an_inline_set_but_not_both() {
        let base = [
            ("TABLE_NAME", "t"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            FunctionConfig::from_lookup(env(&pairs))
        };
        assert!(with(&[("JWT_JWKS_URL", "https://idp.example/jwks.json")]).is_ok());
        assert!(with(&[("JWT_JWKS_URL", "http://127.0.0.1:8080/jwks.json")]).is_ok());
        for (extra, culprit) in [
            (
                vec![("JWT_JWKS_URL", "http://idp.example/jwks.json")],
                "JWT_JWKS_URL",
            ),
            (vec![("JWT_JWKS_URL", "not a url")], "JWT_JWKS_URL"),
            (
                vec![
                    ("JWT_JWKS", JWKS),
                    ("JWT_JWKS_URL", "https://idp.example/jwks.json"),
                ],
                "not both",
            ),
            (vec![], "JWT_JWKS (or JWT_JWKS_URL)"),
        ] {
            let err = with(&extra).unwrap_err().to_string();
            assert!(err.contains(culprit), "{extra:?}: {err}");
        }
    }

    #[test]
    fn refuses_symmetric_keys_and_garbage_jwks() {
        let base = [
            ("TABLE_NAME", "t"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ];
        for jwks in [
            r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
            "not json",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        ] {
            let mut pairs = base.to_vec();
            pairs.push(("JWT_JWKS", jwks));
            let err = FunctionConfig::from_lookup(env(&pairs)).unwrap_err();
            assert!(err.to_string().contains("JWT_JWKS"), "{err}");
        }
    }
}
