//! Validated identifiers. Both also become parts of storage keys, so nothing outside their
//! alphabets may get through: they are checked when parsed from a path and again when
//! deserialised from a stored record or event. Both read as `&str` (`Deref`), never mutably.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ApiError;

/// Deserialises through `parse`, so a stored id outside its alphabet is a corrupt item, not an id.
macro_rules! deserialize_by_parsing {
    ($id:ty) => {
        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                <$id>::parse(&raw).map_err(|e| serde::de::Error::custom(e.details()))
            }
        }

        impl Deref for $id {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An organization id: 1–64 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

deserialize_by_parsing!(OrgId);

impl OrgId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !valid_chars {
            return Err(ApiError::Parameter(
                "org_id: must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sign id: a UUID in any case, kept in its lower-case hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SignId(String);

deserialize_by_parsing!(SignId);

impl SignId {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        // Only the hyphenated 36-character form: the braced, URN and simple forms that the uuid
        // crate also accepts are not what the contract's clients send.
        if raw.len() != 36 {
            return Err(Self::invalid());
        }
        // uuid's Display is the lower-case hyphenated form.
        uuid::Uuid::try_parse(raw)
            .map(|id| Self(id.to_string()))
            .map_err(|_| Self::invalid())
    }

    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn invalid() -> ApiError {
        ApiError::Parameter("sign_id: must be a UUID (8-4-4-4-12 hex digits)".into())
    }
}

impl fmt::Display for SignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The storage identity of one sign: the organization it belongs to and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignKey {
    pub org_id: OrgId,
    pub sign_id: SignId,
}

impl SignKey {
    pub fn new(org_id: OrgId, sign_id: SignId) -> Self {
        Self { org_id, sign_id }
    }
}

impl fmt::Display for SignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org_id, self.sign_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_when_deserialised() {
        let org: OrgId = serde_json::from_str(r#""acme_1""#).unwrap();
        assert_eq!(&*org, "acme_1");
        assert!(serde_json::from_str::<OrgId>(r#""acme/x""#).is_err());
        let id: SignId = serde_json::from_str(r#""0B0C6A8E-3F1E-4A57-9D3B-2F2F3C1A9E10""#).unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10""#
        );
        assert!(serde_json::from_str::<SignId>(r#""not-a-uuid""#).is_err());
    }

    #[test]
    fn org_id_boundaries() {
        assert!(OrgId::parse("a").is_ok());
        assert!(OrgId::parse(&"a".repeat(64)).is_ok());
        assert!(OrgId::parse("Acme_corp-01").is_ok());
        for bad in [
            "",
            &"a".repeat(65),
            "acme corp",
            "acme/x",
            "acme#1",
            "ácme",
            "a.b",
            "%41",
        ] {
            let err = OrgId::parse(bad).unwrap_err();
            assert!(
                matches!(&err, ApiError::Parameter(d) if d.starts_with("org_id")),
                "{bad}"
            );
        }
    }

    #[test]
    fn sign_id_accepts_any_case_and_stores_lower_case() {
        let id = SignId::parse("0B0C6A8E-3F1E-4A57-9D3B-2F2F3C1A9E10").unwrap();
        assert_eq!(id.to_string(), "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10");
    }

    #[test]
    fn sign_id_rejects_non_uuids() {
        for bad in [
            "",
            "not-a-uuid",
            "0b0c6a8e3f1e4a579d3b2f2f3c1a9e10",
            "{0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10}",
            "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e1g",
            "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e100",
        ] {
            let err = SignId::parse(bad).unwrap_err();
            assert!(
                matches!(&err, ApiError::Parameter(d) if d.starts_with("sign_id")),
                "{bad}"
            );
        }
    }
}
