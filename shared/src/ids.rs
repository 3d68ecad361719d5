//! Validated identifiers from the path. Both also become parts of storage keys, so nothing outside
//! their alphabets may get through.

use std::fmt;

use crate::ApiError;

/// An organization id: 1–64 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignId(uuid::Uuid);

impl SignId {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        // Only the hyphenated 36-character form: the braced, URN and simple forms that the uuid
        // crate also accepts are not what the contract's clients send.
        if raw.len() != 36 {
            return Err(Self::invalid());
        }
        uuid::Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| Self::invalid())
    }

    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    fn invalid() -> ApiError {
        ApiError::Parameter("sign_id: must be a UUID (8-4-4-4-12 hex digits)".into())
    }
}

impl fmt::Display for SignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // uuid's Display is the lower-case hyphenated form.
        fmt::Display::fmt(&self.0, f)
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
