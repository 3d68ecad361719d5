//! What a sign is: the stored record, its status, and the view the API returns.

use serde::{Deserialize, Serialize};

use crate::capture::BiometricSummary;
use crate::ids::{OrgId, SignId, SignKey};
use crate::time::{self, Timestamp};

/// The status as stored. `EXPIRED` is never stored: it is derived from `expires_at` when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StoredStatus {
    Pending,
    Previewed,
    Signed,
    Cancelled,
}

/// The status a client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignStatus {
    Pending,
    Previewed,
    Signed,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    pub alias: String,
    pub name: String,
    pub last_name: String,
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub name: String,
    pub sign_fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
        }
    }
}

/// What is shown of a signature: digests and image facts, never the data itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureSummary {
    /// Hex SHA-256 of the decoded image bytes.
    pub image_sha256: String,
    /// Hex SHA-256 of the decoded biometric data bytes.
    pub biometric_data_sha256: String,
    pub image_format: ImageFormat,
    pub image_width: u32,
    pub image_height: u32,
    /// Counts of the biometric capture (`biometric-data.md`), never its coordinates.
    pub biometric: BiometricSummary,
}

/// Where a sign's two blobs live in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobKeys {
    pub biometric_data: String,
    pub signature_image: String,
}

impl BlobKeys {
    /// The prefix under which every blob of every sign lives (and which the sign function's IAM
    /// policy is scoped to).
    pub const PREFIX: &'static str = "signs/";

    /// Fresh keys for one sign attempt. The attempt id makes them never reused: a rejected attempt
    /// cannot clobber the blobs of a successful one, even for the same sign.
    pub fn for_attempt(key: &SignKey, format: ImageFormat) -> Self {
        let attempt = uuid::Uuid::new_v4();
        let base = format!("{}{}/{}/{attempt}", Self::PREFIX, key.org_id, key.sign_id);
        Self {
            biometric_data: format!("{base}/biometric_data.bin"),
            signature_image: format!("{base}/signature_image.{}", format.extension()),
        }
    }
}

/// A sign as stored. `version` increases with every write and is what conditional writes compare;
/// `event_count` and `last_event_sha256` are the head of the evidence hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRecord {
    pub sign_id: String,
    pub org_id: String,
    pub sign_process_id: String,
    pub status: StoredStatus,
    pub signer: Signer,
    pub documents: Vec<Document>,
    pub preview_documents: Vec<String>,
    #[serde(with = "time::rfc3339_ms")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339_ms")]
    pub expires_at: Timestamp,
    #[serde(with = "time::rfc3339_ms::option", default)]
    pub previewed_at: Option<Timestamp>,
    #[serde(with = "time::rfc3339_ms::option", default)]
    pub signed_at: Option<Timestamp>,
    #[serde(with = "time::rfc3339_ms::option", default)]
    pub cancelled_at: Option<Timestamp>,
    #[serde(default)]
    pub signature: Option<SignatureSummary>,
    /// The `x-installation_id` of the accepted signature, for recognising an identical retry.
    #[serde(default)]
    pub signed_installation_id: Option<String>,
    #[serde(default)]
    pub blobs: Option<BlobKeys>,
    pub version: u64,
    pub event_count: u64,
    #[serde(default)]
    pub last_event_sha256: Option<String>,
}

/// What the process service supplies when it creates a sign.
#[derive(Debug, Clone)]
pub struct NewSign {
    pub key: SignKey,
    pub sign_process_id: String,
    pub signer: Signer,
    pub documents: Vec<Document>,
    pub preview_documents: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl SignRecord {
    pub fn new(new: NewSign) -> Self {
        Self {
            sign_id: new.key.sign_id.to_string(),
            org_id: new.key.org_id.to_string(),
            sign_process_id: new.sign_process_id,
            status: StoredStatus::Pending,
            signer: new.signer,
            documents: new.documents,
            preview_documents: new.preview_documents,
            created_at: new.created_at,
            expires_at: new.expires_at,
            previewed_at: None,
            signed_at: None,
            cancelled_at: None,
            signature: None,
            signed_installation_id: None,
            blobs: None,
            version: 1,
            event_count: 0,
            last_event_sha256: None,
        }
    }

    /// The key this record is stored under. Records are only ever written from validated keys, so
    /// a record that does not parse back is corrupt.
    pub fn key(&self) -> Option<SignKey> {
        Some(SignKey::new(
            OrgId::parse(&self.org_id).ok()?,
            SignId::parse(&self.sign_id).ok()?,
        ))
    }
}

/// The body of `GET …/biometric_signs/{sign_id}`. Holds no biometric data, image, device
/// evidence or storage key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSignResponse {
    pub sign_id: String,
    pub org_id: String,
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
}

impl GetSignResponse {
    pub fn from_record(record: &SignRecord, now: Timestamp) -> Self {
        Self {
            sign_id: record.sign_id.clone(),
            org_id: record.org_id.clone(),
            sign_process_id: record.sign_process_id.clone(),
            sign_type: "BIOMETRIC".into(),
            status: crate::state::effective_status(record, now),
            signer: record.signer.clone(),
            documents: record.documents.clone(),
            preview_documents: record.preview_documents.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            previewed_at: record.previewed_at,
            signed_at: record.signed_at,
            signature: record.signature.clone(),
        }
    }
}
