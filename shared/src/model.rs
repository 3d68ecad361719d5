//! What a sign is: the stored record and its status. The API's view of it is in `response.rs`.

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
            // Only ever the sealed envelope (`seal`): the key says so.
            biometric_data: format!("{base}/biometric_data.{}", crate::seal::FILE_EXTENSION),
            signature_image: format!("{base}/signature_image.{}", format.extension()),
        }
    }
}

/// A sign as stored. `version` increases with every write and is what conditional writes compare;
/// `event_count` and `last_event_sha256` are the head of the evidence hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRecord {
    pub sign_id: SignId,
    pub org_id: OrgId,
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
    /// The `genTime` of the signature's trusted timestamp, once its TIMESTAMP event is stored.
    #[serde(with = "time::rfc3339_ms::option", default)]
    pub timestamped_at: Option<Timestamp>,
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
            sign_id: new.key.sign_id,
            org_id: new.key.org_id,
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
            timestamped_at: None,
        }
    }

    /// The key this record is stored under.
    pub fn key(&self) -> SignKey {
        SignKey::new(self.org_id.clone(), self.sign_id.clone())
    }

    /// The status a client sees at `now`: `EXPIRED` once `expires_at` has passed on a sign that
    /// is neither signed nor cancelled.
    pub fn status_at(&self, now: Timestamp) -> SignStatus {
        match self.status {
            StoredStatus::Signed => SignStatus::Signed,
            StoredStatus::Cancelled => SignStatus::Cancelled,
            _ if now >= self.expires_at => SignStatus::Expired,
            StoredStatus::Pending => SignStatus::Pending,
            StoredStatus::Previewed => SignStatus::Previewed,
        }
    }
}
