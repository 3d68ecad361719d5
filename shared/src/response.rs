//! What the API answers: the view of a sign (`GetSignResponse`), the error body of an
//! [`ApiError`], and the JSON and empty responses that carry them.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::error::{ErrorDocs, ErrorKind};
use crate::ids::{OrgId, SignId};
use crate::model::{Document, SignRecord, SignStatus, SignatureSummary, Signer};
use crate::time::{self, Timestamp};

/// The body of `GET …/biometric_signs/{sign_id}`. Holds no biometric data, image, device
/// evidence or storage key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSignResponse {
    pub sign_id: SignId,
    pub org_id: OrgId,
    pub sign_process_id: String,
    #[serde(rename = "type")]
    pub sign_type: String,
    pub status: SignStatus,
    pub signer: Signer,
    pub documents: Vec<Document>,
    pub preview_documents: Vec<String>,
    #[serde(with = "time::rfc3339_ms")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339_ms")]
    pub expires_at: Timestamp,
    #[serde(with = "time::rfc3339_ms::option")]
    pub previewed_at: Option<Timestamp>,
    #[serde(with = "time::rfc3339_ms::option")]
    pub signed_at: Option<Timestamp>,
    pub signature: Option<SignatureSummary>,
    /// The receipt of the evidence chain; `None` (JSON `null`) while the sign has no event.
    pub evidence: Option<EvidenceReceipt>,
}

/// What a signer may keep to show later which chain was current when they looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReceipt {
    /// Every event, TIMESTAMP included.
    pub events: u64,
    /// The chain head: the last event's digest.
    pub chain_sha256: String,
    /// The TSA's `genTime` of the signature's timestamp, if it has one.
    #[serde(with = "time::rfc3339_ms::option")]
    pub timestamped_at: Option<Timestamp>,
}

impl EvidenceReceipt {
    pub fn of(record: &SignRecord) -> Option<Self> {
        let head = record.last_event_sha256.clone()?;
        (record.event_count > 0).then_some(Self {
            events: record.event_count,
            chain_sha256: head,
            timestamped_at: record.timestamped_at,
        })
    }
}

impl GetSignResponse {
    pub fn from_record(record: &SignRecord, now: Timestamp) -> Self {
        Self {
            sign_id: record.sign_id.clone(),
            org_id: record.org_id.clone(),
            sign_process_id: record.sign_process_id.clone(),
            sign_type: "BIOMETRIC".into(),
            status: record.status_at(now),
            signer: record.signer.clone(),
            documents: record.documents.clone(),
            preview_documents: record.preview_documents.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            previewed_at: record.previewed_at,
            signed_at: record.signed_at,
            signature: record.signature.clone(),
            evidence: EvidenceReceipt::of(record),
        }
    }
}

impl ErrorDocs {
    /// The `ErrorsResponse` for `error`, with its status.
    pub fn response(&self, error: &ApiError) -> Response<Body> {
        json_response(error.kind().status, &self.body(error))
    }
}

/// A JSON response. Serialising our own types cannot fail; if it ever did, the client still gets a
/// well-formed 500 body rather than a crashed invocation.
pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        Err(_) => (
            ErrorKind::INTERNAL_SERVER_ERROR.status,
            unrendered_error_body(),
        ),
    };
    let mut response = Response::new(Body::Binary(bytes));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The 500 body for when a body could not be rendered, from the error table (with no `ref`:
/// this is the path where nothing else can be trusted).
fn unrendered_error_body() -> Vec<u8> {
    let kind = ErrorKind::INTERNAL_SERVER_ERROR;
    let details = ApiError::Internal(String::new()).details().to_owned();
    serde_json::json!({"errors": [{
        "code": kind.code, "title": kind.title, "ref": "", "details": details}]})
    .to_string()
    .into_bytes()
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_title_ref_and_details() {
        let docs = ErrorDocs::new("https://docs.example/errors");
        let response = docs.response(&ApiError::InvalidInput("signature_image: bad".into()));
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors": [{
                "code": "MDOC_002", "title": "INVALID_INPUT",
                "ref": "https://docs.example/errors#mdoc_002",
                "details": "signature_image: bad"}]})
        );
    }

    #[test]
    fn internal_errors_reveal_nothing() {
        let docs = ErrorDocs::new("r");
        let response = docs.response(&ApiError::Internal("dynamodb table foo: throttled".into()));
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains("dynamodb"), "{text}");
        assert_eq!(response.status(), 500);
    }

    #[test]
    fn the_fallback_body_is_the_tables_internal_error() {
        let body: serde_json::Value = serde_json::from_slice(&unrendered_error_body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors": [{
                "code": "MDOC_001", "title": "INTERNAL_SERVER_ERROR", "ref": "",
                "details": "an unexpected error occurred; it has been logged"}]})
        );
    }
}
