//! The one error type of the API and its one mapping to HTTP (the contract's error table). The
//! response carrying it is written by the `response` module.

use serde::Serialize;

/// Every way a request can fail. Each variant carries the `details` shown to the client, except
/// [`ApiError::Internal`], whose message is logged and never sent.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("{0}")]
    Parameter(String),
    #[error("{0}")]
    InvalidInput(String),
    /// Well-formed biometric data that cannot be a handwritten signature (a quality rule).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// One row of the contract's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    pub status: u16,
    pub code: &'static str,
    pub title: &'static str,
}

impl ErrorKind {
    pub const PARAMETER_ERROR: Self = Self::new(400, "MDOC_000", "PARAMETER_ERROR");
    pub const INTERNAL_SERVER_ERROR: Self = Self::new(500, "MDOC_001", "INTERNAL_SERVER_ERROR");
    pub const INVALID_INPUT: Self = Self::new(400, "MDOC_002", "INVALID_INPUT");
    pub const UNPROCESSABLE_ENTITY: Self = Self::new(422, "MDOC_002", "UNPROCESSABLE_ENTITY");
    pub const UNAUTHORIZED: Self = Self::new(401, "MDOC_003", "UNAUTHORIZED");
    pub const RESOURCE_NOT_FOUND: Self = Self::new(404, "MDOC_004", "RESOURCE_NOT_FOUND");
    pub const NO_LONGER_AVAILABLE: Self =
        Self::new(410, "MDOC_005", "RESOURCE_IS_NO_LONGER_AVAILABLE");
    pub const CONFLICT: Self = Self::new(409, "MDOC_006", "CONFLICT");

    /// Every row, for documentation and tests.
    pub const ALL: [Self; 8] = [
        Self::PARAMETER_ERROR,
        Self::INTERNAL_SERVER_ERROR,
        Self::INVALID_INPUT,
        Self::UNPROCESSABLE_ENTITY,
        Self::UNAUTHORIZED,
        Self::RESOURCE_NOT_FOUND,
        Self::NO_LONGER_AVAILABLE,
        Self::CONFLICT,
    ];

    const fn new(status: u16, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
        }
    }
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Parameter(_) => ErrorKind::PARAMETER_ERROR,
            Self::InvalidInput(_) => ErrorKind::INVALID_INPUT,
            Self::Unprocessable(_) => ErrorKind::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => ErrorKind::UNAUTHORIZED,
            Self::NotFound(_) => ErrorKind::RESOURCE_NOT_FOUND,
            Self::Conflict(_) => ErrorKind::CONFLICT,
            Self::Gone(_) => ErrorKind::NO_LONGER_AVAILABLE,
            Self::Internal(_) => ErrorKind::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told. Internal causes stay in the logs.
    pub fn details(&self) -> &str {
        match self {
            Self::Parameter(d)
            | Self::InvalidInput(d)
            | Self::Unprocessable(d)
            | Self::Unauthorized(d)
            | Self::NotFound(d)
            | Self::Conflict(d)
            | Self::Gone(d) => d,
            Self::Internal(_) => "an unexpected error occurred; it has been logged",
        }
    }

    /// The one answer to a path that is no route of the API, wherever it is given.
    pub fn unknown_route() -> Self {
        Self::NotFound("no such route".into())
    }

    pub fn sign_not_found() -> Self {
        // One message for "missing" and "belongs to another org", so they cannot be told apart.
        Self::NotFound("sign_id: no such sign in this organization".into())
    }
}

/// Where the `ref` of an error points: a base URL plus the code's anchor.
#[derive(Debug, Clone)]
pub struct ErrorDocs {
    base_url: String,
}

impl ErrorDocs {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
        }
    }

    pub fn reference(&self, kind: ErrorKind) -> String {
        format!("{}#{}", self.base_url, kind.code.to_ascii_lowercase())
    }

    /// The `ErrorsResponse` body for `error` (its status is `error.kind().status`).
    pub fn body(&self, error: &ApiError) -> ErrorsResponse {
        let kind = error.kind();
        ErrorsResponse {
            errors: vec![ErrorItem {
                code: kind.code,
                title: kind.title,
                reference: self.reference(kind),
                details: error.details().to_owned(),
            }],
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorsResponse {
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Serialize)]
pub struct ErrorItem {
    pub code: &'static str,
    pub title: &'static str,
    #[serde(rename = "ref")]
    pub reference: String,
    pub details: String,
}

/// serde_json's message without its "at line 1 column 5" tail: a position means nothing to a
/// client that serialised an object, nor inside a base64 field. (serde_json adds the tail only
/// when it knows the line, `line() > 0`.)
pub(crate) fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_contract_row() {
        let cases = [
            (
                ApiError::Parameter("x".into()),
                400,
                "MDOC_000",
                "PARAMETER_ERROR",
            ),
            (
                ApiError::InvalidInput("x".into()),
                400,
                "MDOC_002",
                "INVALID_INPUT",
            ),
            (
                ApiError::Unprocessable("x".into()),
                422,
                "MDOC_002",
                "UNPROCESSABLE_ENTITY",
            ),
            (
                ApiError::Unauthorized("x".into()),
                401,
                "MDOC_003",
                "UNAUTHORIZED",
            ),
            (
                ApiError::NotFound("x".into()),
                404,
                "MDOC_004",
                "RESOURCE_NOT_FOUND",
            ),
            (ApiError::Conflict("x".into()), 409, "MDOC_006", "CONFLICT"),
            (
                ApiError::Gone("x".into()),
                410,
                "MDOC_005",
                "RESOURCE_IS_NO_LONGER_AVAILABLE",
            ),
            (
                ApiError::Internal("x".into()),
                500,
                "MDOC_001",
                "INTERNAL_SERVER_ERROR",
            ),
        ];
        for (error, status, code, title) in cases {
            let kind = error.kind();
            assert_eq!((kind.status, kind.code, kind.title), (status, code, title));
        }
    }
}
