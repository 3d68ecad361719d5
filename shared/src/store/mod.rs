//! Storage behind traits: one narrow trait per capability, so each function depends on (and is
//! granted IAM permissions for) only what it uses.
//!
//! | trait | used by | production adapter |
//! |---|---|---|
//! | [`SignReader`] | get, preview, sign | [`dynamo::DynamoSignStore`] |
//! | [`SignWriter`] | preview, sign | [`dynamo::DynamoSignStore`] |
//! | [`SignAdmin`] | the `biosign` tool | [`dynamo::DynamoSignStore`] |
//! | [`BlobStore`] | sign | [`s3::S3BlobStore`] |
//! | [`BlobInventory`] | `biosign sweep-orphans` | [`s3::S3BlobStore`] |
//!
//! Adapters do not know the state machine: they store what they are given, conditionally on the
//! version they were told to expect. Every adapter passes the same contract-test suite.

use std::future::Future;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::evidence::EvidenceEvent;
use crate::ids::SignKey;
use crate::model::SignRecord;
use crate::time::Timestamp;

pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
// Test doubles: compiled only into tests and into crates that ask for the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub mod faults;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod s3;

/// A storage failure that is nobody's fault but the storage's (network, throttling, corruption).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A storage failure is the service's, never the client's: a 500 whose cause is only logged.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.0)
    }
}

/// Why a conditional write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The sign is not at the expected version any more (or does not exist): re-read and decide
    /// again.
    #[error("the sign changed since it was read")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One atomic change of a sign: the record that replaces the stored one, and the evidence event
/// appended with it, both or neither, and only if the stored record is still at
/// `expected_version`.
#[derive(Debug, Clone)]
pub struct SignUpdate {
    pub expected_version: u64,
    pub sign: SignRecord,
    pub event: Option<EvidenceEvent>,
}

impl SignUpdate {
    /// A token naming this update and no other (32 hex digits), for a store that applies a
    /// request at most once per token (DynamoDB's `ClientRequestToken`): a retry of an applied
    /// update is then answered as the success it was, not as a failed condition. Every attempt
    /// of a transition is a different update (a new version and event), hence a new token.
    pub fn idempotency_token(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(self.expected_version.to_be_bytes());
        // Serialising a record of strings, numbers and options cannot fail.
        digest.update(serde_json::to_vec(&self.sign).unwrap_or_default());
        if let Some(event) = &self.event {
            digest.update(event.sha256());
        }
        hex::encode(&digest.finalize()[..16])
    }
}

pub trait SignReader: Send + Sync {
    /// The sign, read strongly consistently.
    fn get_sign(
        &self,
        key: &SignKey,
    ) -> impl Future<Output = Result<Option<SignRecord>, StoreError>> + Send;
}

pub trait SignWriter: Send + Sync {
    /// Applies `update` atomically and conditionally (see [`SignUpdate`]).
    fn commit(&self, update: &SignUpdate) -> impl Future<Output = Result<(), CommitError>> + Send;
}

/// What the process service (here: the `biosign` tool) does besides the three endpoints.
pub trait SignAdmin: SignReader + SignWriter {
    /// Stores a new sign; [`CommitError::Conflict`] if one with that key exists.
    fn create_sign(
        &self,
        sign: &SignRecord,
    ) -> impl Future<Output = Result<(), CommitError>> + Send;

    /// Every sign, or every sign of `org`, in no particular order (an admin tool's listing: on
    /// DynamoDB a full table scan).
    fn list_signs(
        &self,
        org: Option<&crate::ids::OrgId>,
    ) -> impl Future<Output = Result<Vec<SignRecord>, StoreError>> + Send;

    /// A sign's evidence events in `seq` order.
    fn list_events(
        &self,
        key: &SignKey,
    ) -> impl Future<Output = Result<Vec<EvidenceEvent>, StoreError>> + Send;
}

/// A stored blob as read back, with what the store recorded about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub bytes: Bytes,
    /// Base64 SHA-256 the store holds for the object (S3's `x-amz-checksum-sha256`).
    pub checksum_sha256: Option<String>,
    /// The server-side encryption the store applied (`aws:kms`, `AES256`), if it reports one.
    pub encryption: Option<String>,
}

/// A blob as written: its key and, in a store that keeps versions, the version created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBlob {
    pub key: String,
    pub version_id: Option<String>,
}

pub trait BlobStore: Send + Sync {
    /// Writes a blob under a key that must not exist yet, with its SHA-256 for the store to
    /// verify. Fails rather than overwrite.
    fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        sha256: [u8; 32],
        content_type: &str,
    ) -> impl Future<Output = Result<WrittenBlob, StoreError>> + Send;

    /// Removes a blob this service wrote, for good: in a versioned store the version written is
    /// deleted, not hidden behind a delete marker. Removing a missing blob is not an error.
    fn remove(&self, blob: &WrittenBlob) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get(&self, key: &str)
    -> impl Future<Output = Result<Option<StoredBlob>, StoreError>> + Send;

    /// Every key under `prefix` of which any version is still stored, sorted (for audits and
    /// tests: a key hidden behind a delete marker is still listed).
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// One stored version of a blob, as an inventory of the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobVersion {
    pub key: String,
    /// `None` in a store without versions.
    pub version_id: Option<String>,
    /// When the store wrote this version.
    pub written_at: Timestamp,
    /// A delete marker of a versioned store: no content, but the key is still listed.
    pub delete_marker: bool,
}

/// What the orphan sweeper needs and no function has: every version of every blob with its age,
/// and the permanent removal of any one version.
pub trait BlobInventory: Send + Sync {
    /// Every version (delete markers included) of every key under `prefix`, sorted by key.
    fn list_versions(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<BlobVersion>, StoreError>> + Send;

    /// Removes this version for good. Removing a missing version is not an error.
    fn remove_version(
        &self,
        version: &BlobVersion,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// For the function that needs no blobs (get, preview).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlobs;

/// For the function that stores signatures: the blob store, and the escrow recipients the
/// biometric data is sealed for before it reaches that store. The sign handler takes only this,
/// so that no configuration can store a signature without sealing it.
#[derive(Debug, Clone)]
pub struct SealingBlobStore<B> {
    pub store: B,
    pub escrow: crate::seal::EscrowRecipients,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::RequestEvidence;
    use crate::ids::{OrgId, SignId};

    fn preview_of(sign: &SignRecord, request_id: &str) -> SignUpdate {
        let evidence = RequestEvidence {
            installation_id: "i".into(),
            fingerprint: "f".into(),
            location: None,
            client_ip: None,
            user_agent: None,
            request_id: request_id.into(),
        };
        let change = crate::state::preview(sign, &evidence, crate::time::now()).unwrap();
        SignUpdate {
            expected_version: sign.version,
            sign: change.sign,
            event: change.event,
        }
    }

    #[test]
    fn an_update_keeps_its_idempotency_token_and_another_attempt_gets_another() {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let sign = SignRecord::new(crate::testing::new_sign(key, crate::time::now()));
        let update = preview_of(&sign, "r1");
        let token = update.idempotency_token();
        assert_eq!(token.len(), 32);
        assert_eq!(update.clone().idempotency_token(), token);
        assert_ne!(preview_of(&sign, "r1").idempotency_token(), token);
        let stale = SignUpdate {
            expected_version: update.expected_version + 1,
            ..update
        };
        assert_ne!(stale.idempotency_token(), token);
    }
}
