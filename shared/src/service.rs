//! The use cases: read the sign, let [`crate::state`] decide, write conditionally, retry on a
//! lost race. Every state change of a sign goes through here.

use crate::ApiError;
use crate::evidence::{EventType, EvidenceEvent, RequestEvidence};
use crate::ids::SignKey;
use crate::model::{BlobKeys, SignRecord};
use crate::request::ValidSignature;
use crate::state::{self, SignDecision};
use crate::store::{
    BlobStore, CommitError, SignReader, SignUpdate, SignWriter, StoreError, WrittenBlob,
};
use crate::time;

/// How often a write that lost a race is re-decided before the client is told to retry. Races
/// are between a handful of requests from one signer, so a few attempts settle any of them.
const MAX_ATTEMPTS: usize = 8;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.0)
    }
}

fn busy() -> ApiError {
    ApiError::Conflict("sign_id: the sign is being changed by another request; retry".into())
}

async fn load<S: SignReader>(store: &S, key: &SignKey) -> Result<SignRecord, ApiError> {
    store
        .get_sign(key)
        .await?
        .ok_or_else(ApiError::sign_not_found)
}

pub async fn get_sign<S: SignReader>(store: &S, key: &SignKey) -> Result<SignRecord, ApiError> {
    load(store, key).await
}

/// Records a preview: an evidence event, and `PENDING` → `PREVIEWED` the first time.
pub async fn record_preview<S: SignReader + SignWriter>(
    store: &S,
    key: &SignKey,
    evidence: &RequestEvidence,
) -> Result<(), ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let sign = load(store, key).await?;
        let now = time::now();
        state::check_preview(&sign, now)?;
        let event = EvidenceEvent::next_for(&sign, EventType::Preview, evidence, None, now);
        let update = SignUpdate {
            expected_version: sign.version,
            sign: state::after_preview(&sign, &event),
            event: Some(event),
        };
        match store.commit(&update).await {
            Ok(()) => return Ok(()),
            Err(CommitError::Conflict) => continue,
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// What a successful signature call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutcome {
    /// The signature was stored and the sign is now `SIGNED`.
    Signed,
    /// The identical signature had already been accepted; nothing new was stored.
    AlreadySigned,
}

/// Stores a signature exactly once: blobs first, then the conditional state change. Whatever
/// makes the attempt fail after the blobs were written, they are removed again.
pub async fn submit_signature<S, B>(
    store: &S,
    blobs: &B,
    key: &SignKey,
    signature: ValidSignature,
    evidence: &RequestEvidence,
) -> Result<SignOutcome, ApiError>
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    let sign = load(store, key).await?;
    // Decide before writing anything, so rejected requests never touch the blob store.
    if state::check_sign(
        &sign,
        &signature.summary,
        &evidence.installation_id,
        time::now(),
    )? == SignDecision::AlreadySigned
    {
        return Ok(SignOutcome::AlreadySigned);
    }
    let keys = BlobKeys::for_attempt(key, signature.summary.image_format);
    let written = write_blobs(blobs, &keys, &signature).await?;
    let result = commit_signature(store, key, sign, &signature, evidence, &keys).await;
    if !matches!(result, Ok(SignOutcome::Signed)) {
        remove_blobs(blobs, &written).await;
    }
    result
}

async fn write_blobs<B: BlobStore>(
    blobs: &B,
    keys: &BlobKeys,
    signature: &ValidSignature,
) -> Result<[WrittenBlob; 2], ApiError> {
    let data = blobs
        .put_new(
            &keys.biometric_data,
            signature.biometric_data.clone(),
            signature.biometric_data_sha256,
            "application/octet-stream",
        )
        .await?;
    let image = blobs
        .put_new(
            &keys.signature_image,
            signature.image.clone(),
            signature.image_sha256,
            signature.summary.image_format.content_type(),
        )
        .await;
    match image {
        Ok(image) => Ok([data, image]),
        Err(e) => {
            remove_blobs(blobs, std::slice::from_ref(&data)).await;
            Err(e.into())
        }
    }
}

/// Best-effort removal of an attempt's blobs. A failure is logged with the keys (which hold no
/// personal data) so that an operator can remove them.
async fn remove_blobs<B: BlobStore>(blobs: &B, written: &[WrittenBlob]) {
    for blob in written {
        let key = &blob.key;
        if let Err(e) = blobs.remove(blob).await {
            tracing::error!(blob_key = %key, error = %e, "could not remove the blob of a failed sign");
        }
    }
}

async fn commit_signature<S: SignReader + SignWriter>(
    store: &S,
    key: &SignKey,
    mut sign: SignRecord,
    signature: &ValidSignature,
    evidence: &RequestEvidence,
    keys: &BlobKeys,
) -> Result<SignOutcome, ApiError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            sign = load(store, key).await?;
        }
        let now = time::now();
        // After a lost race another request may have signed: the same signature is a success
        // (without these blobs), another one a conflict.
        if state::check_sign(&sign, &signature.summary, &evidence.installation_id, now)?
            == SignDecision::AlreadySigned
        {
            return Ok(SignOutcome::AlreadySigned);
        }
        let event = EvidenceEvent::next_for(
            &sign,
            EventType::Sign,
            evidence,
            Some(signature.summary.clone()),
            now,
        );
        let update = SignUpdate {
            expected_version: sign.version,
            sign: state::after_sign(&sign, &event, keys.clone()),
            event: Some(event),
        };
        match store.commit(&update).await {
            Ok(()) => return Ok(SignOutcome::Signed),
            Err(CommitError::Conflict) => continue,
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// Cancels a sign (the process service's action, offered by the `biosign` tool).
pub async fn cancel_sign<S: SignReader + SignWriter>(
    store: &S,
    key: &SignKey,
) -> Result<SignRecord, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let sign = load(store, key).await?;
        let next = state::cancel(&sign, time::now())?;
        let update = SignUpdate {
            expected_version: sign.version,
            sign: next.clone(),
            event: None,
        };
        match store.commit(&update).await {
            Ok(()) => return Ok(next),
            Err(CommitError::Conflict) => continue,
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(busy())
}
