//! The use cases. Every change of a sign's state goes through [`transition`]: read the sign, let a
//! rule of [`crate::state`] decide, write the decision conditionally on the version read, and on
//! a lost race read and decide again, within a [`RetryPolicy`].
//!
//! The sign path ([`submit_signature`]) uses the same transition in its two halves
//! ([`Transition::begin`], [`Transition::commit`]) so that its blobs are written between the
//! decision and the commit:
//!
//! read → decide → [`prepare_blobs`] (seal the biometric data) → decide again, with the seal →
//! both uploads at once → conditional commit → (after a committed SIGN, when a TSA is
//! configured: [`timestamp_signature`], within 3 s, never failing the request).

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use sha2::Digest;
use tokio::time::Instant;
use zeroize::Zeroize;

use crate::ApiError;
use crate::evidence::{RequestEvidence, TimestampEvidence};
use crate::ids::SignKey;
use crate::model::{BlobKeys, SignRecord};
use crate::request::ValidSignature;
use crate::seal::{self, EscrowRecipients, SealEvidence};
use crate::state::{self, Change, Decision};
use crate::store::{
    BlobStore, CommitError, SignReader, SignUpdate, SignWriter, StoreError, WrittenBlob,
};
use crate::time::{self, Timestamp};
use crate::timestamp::{self, TsaClient};

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

/// How long a state change that keeps losing races is re-decided, and how its attempts are
/// spread out. Pauses grow exponentially from `first_pause` up to `max_pause`, each drawn at
/// random below that bound ("full jitter"), so that racing requests do not collide again in
/// lockstep; no new attempt starts once `budget` has passed since the first read. The reasoning
/// behind the figures is in docs/design.md ("Races and retries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl RetryPolicy {
    /// Previews must never be refused for racing each other (100 at once all succeed), so they
    /// get most of the function's 10 s timeout.
    pub const PREVIEW: Self = Self {
        budget: Duration::from_secs(5),
        first_pause: Duration::from_millis(5),
        max_pause: Duration::from_millis(250),
    };

    /// A signature loses a race to another signature (re-decided at once: that one won) or to
    /// previews; its budget counts from the first read, uploads included.
    pub const SIGN: Self = Self {
        budget: Duration::from_secs(3),
        ..Self::PREVIEW
    };

    /// The process service's cancel (through the `biosign` tool).
    pub const CANCEL: Self = Self::SIGN;

    /// Appending a TIMESTAMP races only the rare second attempt at the same token; the whole step
    /// is bounded by [`TIMESTAMP_BUDGET`] anyway.
    pub const TIMESTAMP: Self = Self {
        budget: Duration::from_secs(1),
        ..Self::PREVIEW
    };
}

/// The longest the timestamp step after a signature may take, TSA and stores included: the
/// signer's 204 waits for it (`evidence.md`).
pub const TIMESTAMP_BUDGET: Duration = Duration::from_secs(3);

/// The attempts of one transition under its [`RetryPolicy`].
struct Backoff {
    policy: RetryPolicy,
    deadline: Instant,
    retries: u32,
}

impl Backoff {
    fn start(policy: RetryPolicy) -> Self {
        Self {
            policy,
            deadline: Instant::now() + policy.budget,
            retries: 0,
        }
    }

    /// The longest pause before the next attempt: the first pause, doubled after each retry, up
    /// to the policy's maximum (a random fraction of it is taken, so that racers spread out).
    fn ceiling(&self) -> Duration {
        self.policy
            .first_pause
            .saturating_mul(1 << self.retries.min(16))
            .min(self.policy.max_pause)
    }

    /// The pause before the next attempt, or `None` once the budget is spent.
    fn next_pause(&mut self) -> Option<Duration> {
        let left = self.deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        let ceiling = self.ceiling();
        self.retries += 1;
        // A failing random source only makes the pause the full ceiling.
        let fraction = getrandom::u32().map_or(1.0, |r| f64::from(r) / f64::from(u32::MAX));
        Some(ceiling.mul_f64(fraction).min(left))
    }
}

/// What a committed transition did.
#[derive(Debug, Clone, PartialEq)]
// One per request and short-lived: boxing the change would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// The change is stored.
    Applied(Change),
    /// The rule found nothing to change (an identical retry): nothing was stored.
    Unchanged,
}

/// Why a transition did not commit, told apart by what is known of the store afterwards.
#[derive(Debug, PartialEq)]
pub enum TransitionError {
    /// Nothing of this transition is stored: the rule refused, the races outlasted the budget,
    /// or a failed commit was re-read and is provably not applied.
    NotApplied(ApiError),
    /// The commit failed in a way that may have been applied, and the sign could not be re-read
    /// to tell: this transition may or may not be stored.
    OutcomeUnknown(ApiError),
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotApplied(e) | TransitionError::OutcomeUnknown(e) => e,
        }
    }
}

/// A state change under way: the sign was read and the rule decided; [`Transition::commit`]
/// stores the decision, deciding again with the same rule after every lost race.
pub struct Transition<'a, S, R> {
    store: &'a S,
    key: &'a SignKey,
    rule: R,
    backoff: Backoff,
    /// The sign as last read: what the decision is about, and the version the commit expects.
    read: SignRecord,
    decision: Decision,
}

impl<'a, S, R> Transition<'a, S, R>
where
    S: SignReader + SignWriter,
    R: FnMut(&SignRecord, Timestamp) -> Result<Decision, ApiError>,
{
    /// Reads the sign and lets `rule` decide. A refusal is returned here, before anything is
    /// written.
    pub async fn begin(
        store: &'a S,
        key: &'a SignKey,
        policy: RetryPolicy,
        rule: R,
    ) -> Result<Self, ApiError> {
        let sign = load(store, key).await?;
        Self::on(store, key, policy, sign, rule)
    }

    /// As [`Transition::begin`], on a sign the caller holds already (one it has just read or
    /// committed) instead of reading it again: a lost race still re-reads and decides again.
    pub fn on(
        store: &'a S,
        key: &'a SignKey,
        policy: RetryPolicy,
        sign: SignRecord,
        mut rule: R,
    ) -> Result<Self, ApiError> {
        let backoff = Backoff::start(policy);
        let decision = rule(&sign, time::now())?;
        Ok(Self {
            store,
            key,
            rule,
            backoff,
            read: sign,
            decision,
        })
    }

    /// What the rule decided on the latest read.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Lets the rule decide again on the sign as read, without reading it again: for a rule whose
    /// inputs were completed after [`Transition::begin`] (the sign path's seal, made only once the
    /// rule said to go ahead). A refusal now means nothing was written.
    pub fn decide_again(&mut self) -> Result<(), ApiError> {
        self.decision = (self.rule)(&self.read, time::now())?;
        Ok(())
    }

    /// Stores the decision, conditionally on the version it was based on. On a lost race the sign
    /// is read again and the rule decides again (it may now refuse, or find nothing to do). After
    /// any failed commit the re-read also tells whether the commit was applied after all (a
    /// retried request whose first try landed): then it is a success.
    pub async fn commit(mut self) -> Result<Outcome, TransitionError> {
        loop {
            let change = match self.decision {
                Decision::Unchanged => return Ok(Outcome::Unchanged),
                Decision::Apply(change) => change,
            };
            let update = SignUpdate {
                expected_version: self.read.version,
                sign: change.sign,
                event: change.event,
            };
            let applied = |update: SignUpdate| {
                Outcome::Applied(Change {
                    sign: update.sign,
                    event: update.event,
                })
            };
            match self.store.commit(&update).await {
                Ok(()) => return Ok(applied(update)),
                Err(CommitError::Conflict) => {}
                Err(CommitError::Store(error)) => {
                    // Ambiguous: the write may have been applied and only its answer lost.
                    return match self.store.get_sign(self.key).await {
                        Ok(Some(stored)) if stored == update.sign => {
                            tracing::warn!(sign = %self.key, error = %error, "a commit reported an error but was applied");
                            Ok(applied(update))
                        }
                        // Moved past the version this commit was conditional on, without it:
                        // the commit can never land now.
                        Ok(Some(stored)) if stored.version != self.read.version => {
                            Err(TransitionError::NotApplied(error.into()))
                        }
                        // Still at the version read: the commit may yet be carried out (DynamoDB
                        // can apply a transaction after the client gave up on it), so nothing of
                        // this attempt may be removed; an orphan is swept later.
                        Ok(_) => {
                            tracing::warn!(sign = %self.key, error = %error, "a commit failed and is not visible yet: it may still be carried out");
                            Err(TransitionError::OutcomeUnknown(error.into()))
                        }
                        Err(read_error) => {
                            tracing::error!(sign = %self.key, error = %error, read_error = %read_error, "a commit failed and the sign cannot be re-read: its outcome is unknown");
                            Err(TransitionError::OutcomeUnknown(error.into()))
                        }
                    };
                }
            }
            let pause = self.backoff.next_pause();
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            let sign = match self.store.get_sign(self.key).await {
                Ok(Some(sign)) => sign,
                Ok(None) => return Err(TransitionError::NotApplied(ApiError::sign_not_found())),
                Err(e) => return Err(TransitionError::OutcomeUnknown(e.into())),
            };
            if sign == update.sign {
                // The store called it a conflict, but it is this very change (a retry of an
                // applied write meets its own condition).
                return Ok(applied(update));
            }
            if pause.is_none() {
                return Err(TransitionError::NotApplied(busy()));
            }
            self.decision = (self.rule)(&sign, time::now()).map_err(TransitionError::NotApplied)?;
            self.read = sign;
        }
    }
}

/// The one place where a sign changes state: read → `rule` decides → conditional commit → on a
/// lost race read and decide again, within `policy`.
pub async fn transition<S, R>(
    store: &S,
    key: &SignKey,
    policy: RetryPolicy,
    rule: R,
) -> Result<Outcome, ApiError>
where
    S: SignReader + SignWriter,
    R: FnMut(&SignRecord, Timestamp) -> Result<Decision, ApiError>,
{
    Ok(Transition::begin(store, key, policy, rule)
        .await?
        .commit()
        .await?)
}

/// Records a preview: an evidence event, and `PENDING` → `PREVIEWED` the first time.
pub async fn record_preview<S: SignReader + SignWriter>(
    store: &S,
    key: &SignKey,
    evidence: &RequestEvidence,
) -> Result<(), ApiError> {
    transition(store, key, RetryPolicy::PREVIEW, |sign, now| {
        state::preview(sign, evidence, now).map(Decision::from)
    })
    .await?;
    Ok(())
}

/// Cancels a sign (the process service's action, offered by the `biosign` tool).
pub async fn cancel_sign<S: SignReader + SignWriter>(
    store: &S,
    key: &SignKey,
) -> Result<SignRecord, ApiError> {
    let outcome = transition(store, key, RetryPolicy::CANCEL, |sign, now| {
        state::cancel(sign, now).map(Decision::from)
    })
    .await?;
    match outcome {
        Outcome::Applied(change) => Ok(change.sign),
        // `state::cancel` always changes the sign or refuses.
        Outcome::Unchanged => load(store, key).await,
    }
}

/// What a successful signature call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutcome {
    /// The signature was stored and the sign is now `SIGNED` (and timestamped, when a TSA is
    /// configured).
    Signed,
    /// The signature was stored, but the TSA configured could not timestamp it within
    /// [`TIMESTAMP_BUDGET`]: `biosign timestamp-pending` can do it later.
    SignedTimestampPending,
    /// The identical signature had already been accepted; nothing new was stored.
    AlreadySigned,
}

/// One blob as it is to be written.
#[derive(Debug, Clone)]
pub struct BlobUpload {
    pub key: String,
    pub bytes: Bytes,
    /// SHA-256 of `bytes`, for the store to verify.
    pub sha256: [u8; 32],
    pub content_type: &'static str,
}

/// The two blobs of a signature as they are stored, and what the evidence records of the seal.
pub struct PreparedBlobs {
    /// The sealed biometric data, then the image.
    pub uploads: [BlobUpload; 2],
    pub sealed: SealEvidence,
}

/// Seals the biometric data for `escrow` and drops the plaintext: from here on only the envelope
/// exists (`biometric-data.md`, "Sealing"). The image is stored as decoded.
pub fn prepare_blobs(
    keys: &BlobKeys,
    escrow: &EscrowRecipients,
    signature: ValidSignature,
) -> Result<PreparedBlobs, ApiError> {
    let ValidSignature {
        biometric_data,
        image,
        image_sha256,
        summary,
        ..
    } = signature;
    let sealed = escrow.seal(&biometric_data);
    wipe(biometric_data);
    let sealed = sealed?;
    Ok(PreparedBlobs {
        sealed: escrow.evidence(&sealed),
        uploads: [
            BlobUpload {
                key: keys.biometric_data.clone(),
                bytes: sealed.der,
                sha256: sealed.sha256,
                content_type: seal::CONTENT_TYPE,
            },
            BlobUpload {
                key: keys.signature_image.clone(),
                bytes: image,
                sha256: image_sha256,
                content_type: summary.image_format.content_type(),
            },
        ],
    })
}

/// Overwrites the plaintext before its memory is freed, when this is its only owner (it is, as
/// decoded from the request; a shared buffer is only dropped).
fn wipe(plaintext: Bytes) {
    if let Ok(mut owned) = plaintext.try_into_mut() {
        owned.as_mut().zeroize();
    }
}

/// Stores a signature exactly once: decide, seal the biometric data, write both blobs, then
/// commit the state change conditionally. An attempt's blobs are removed again whenever the
/// stored sign provably does not reference them; when that cannot be known they are kept (and
/// logged) for `sweep-orphans`.
///
/// With a TSA, a signature this call stored is then timestamped ([`timestamp_signature`], at
/// most [`TIMESTAMP_BUDGET`]); whatever happens there, the signature's outcome stands.
#[allow(clippy::too_many_arguments)]
pub async fn submit_signature<S, B>(
    store: &S,
    blobs: &B,
    escrow: &EscrowRecipients,
    tsa: Option<&TsaClient>,
    key: &SignKey,
    signature: ValidSignature,
    evidence: &RequestEvidence,
) -> Result<SignOutcome, ApiError>
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    let keys = BlobKeys::for_attempt(key, signature.summary.image_format);
    let summary = signature.summary.clone();
    // Set once the data is sealed; every decision after that (retries of the commit included)
    // records this one envelope.
    let sealed = OnceLock::new();
    // Decided before anything is sealed or written, so refused requests never touch the blob
    // store, and identical retries seal nothing.
    let mut transition = Transition::begin(store, key, RetryPolicy::SIGN, |sign, now| {
        state::sign(sign, &summary, sealed.get(), &keys, evidence, now)
    })
    .await?;
    if matches!(transition.decision(), Decision::Unchanged) {
        return Ok(SignOutcome::AlreadySigned);
    }
    let prepared = prepare_blobs(&keys, escrow, signature)?;
    // Nothing else sets it: the rule only reads it.
    let _ = sealed.set(prepared.sealed);
    transition.decide_again()?;
    let written = upload_blobs(blobs, prepared.uploads).await?;
    match transition.commit().await {
        Ok(Outcome::Applied(change)) => {
            if let Some(tsa) = tsa {
                let deadline = Instant::now() + TIMESTAMP_BUDGET;
                if let Err(error) =
                    timestamp_signature(store, blobs, tsa, key, &change.sign, deadline).await
                {
                    tracing::warn!(sign = %key, error = %error, "the signature was not timestamped; biosign timestamp-pending can do it later");
                    return Ok(SignOutcome::SignedTimestampPending);
                }
            }
            Ok(SignOutcome::Signed)
        }
        // Another request stored the identical signature first, with its own blobs.
        Ok(Outcome::Unchanged) => {
            remove_blobs(blobs, &written).await;
            Ok(SignOutcome::AlreadySigned)
        }
        Err(TransitionError::NotApplied(e)) => {
            remove_blobs(blobs, &written).await;
            Err(e)
        }
        Err(TransitionError::OutcomeUnknown(e)) => {
            for blob in &written {
                tracing::error!(sign = %key, blob_key = %blob.key, "the sign's outcome is unknown: blob kept for sweep-orphans");
            }
            Err(e)
        }
    }
}

/// Why a signature was not timestamped (logged, never answered to a client).
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    #[error("{0}")]
    Tsa(#[from] timestamp::TsaError),
    #[error("the timestamp step took over {} ms", TIMESTAMP_BUDGET.as_millis())]
    OutOfTime,
    #[error("the sign's chain head is not a SHA-256 digest")]
    NoHead,
    #[error("storing the token: {0}")]
    Store(#[from] StoreError),
    #[error("appending the TIMESTAMP event: {0}")]
    Commit(ApiError),
}

/// Timestamps the signature of `signed` (the sign as its SIGN committed, or as read with that
/// SIGN as its chain head): asks `tsa` for a token over the chain head, stores the token under
/// [`timestamp::timestamp_token_key`], and appends the TIMESTAMP event through a transition
/// ([`state::timestamp`]). Gives up at `deadline`. A stored token that no event references is
/// removed again, unless the commit's outcome is unknown (then it is kept and logged, like a
/// signature's blobs).
pub async fn timestamp_signature<S, B>(
    store: &S,
    blobs: &B,
    tsa: &TsaClient,
    key: &SignKey,
    signed: &SignRecord,
    deadline: Instant,
) -> Result<TimestampOutcome, TimestampError>
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    let imprint_hex = signed
        .last_event_sha256
        .clone()
        .ok_or(TimestampError::NoHead)?;
    let imprint: [u8; 32] = hex::decode(&imprint_hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TimestampError::NoHead)?;
    let token = tokio::time::timeout_at(deadline, tsa.request(imprint))
        .await
        .map_err(|_| TimestampError::OutOfTime)??;
    let token_sha256: [u8; 32] = sha2::Sha256::digest(&token.der).into();
    let token_sha256_hex = hex::encode(token_sha256);
    let blob_key = timestamp::timestamp_token_key(key, &token_sha256_hex);
    let written = tokio::time::timeout_at(
        deadline,
        blobs.put_new(
            &blob_key,
            token.der.clone(),
            token_sha256,
            timestamp::TOKEN_CONTENT_TYPE,
        ),
    )
    .await
    .map_err(|_| TimestampError::OutOfTime)??;
    let facts = TimestampEvidence {
        token_sha256: token_sha256_hex,
        gen_time: token.gen_time,
        tsa_name: token.tsa_name,
        imprint: imprint_hex,
    };
    let committed = tokio::time::timeout_at(deadline, async {
        // Decided on the sign as the caller holds it (after a SIGN: as just committed), not read
        // again: one round trip less on the signer's wait. Had it changed meanwhile, the commit
        // loses the race and re-reads.
        Transition::on(
            store,
            key,
            RetryPolicy::TIMESTAMP,
            signed.clone(),
            |sign, now| state::timestamp(sign, &facts, now),
        )
        .map_err(TransitionError::NotApplied)?
        .commit()
        .await
    })
    .await;
    match committed {
        Ok(Ok(Outcome::Applied(_))) => Ok(TimestampOutcome::Timestamped),
        Ok(Ok(Outcome::Unchanged)) => {
            remove_blobs(blobs, std::slice::from_ref(&written)).await;
            Ok(TimestampOutcome::AlreadyTimestamped)
        }
        Ok(Err(TransitionError::NotApplied(e))) => {
            remove_blobs(blobs, std::slice::from_ref(&written)).await;
            Err(TimestampError::Commit(e))
        }
        Ok(Err(TransitionError::OutcomeUnknown(e))) => {
            tracing::error!(sign = %key, blob_key = %written.key, "the TIMESTAMP event's outcome is unknown: token kept for sweep-orphans");
            Err(TimestampError::Commit(e))
        }
        Err(_) => {
            // Cut off mid-commit: the write may still land, so the token stays.
            tracing::error!(sign = %key, blob_key = %written.key, "the TIMESTAMP commit ran out of time: token kept for sweep-orphans");
            Err(TimestampError::OutOfTime)
        }
    }
}

/// What [`timestamp_signature`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampOutcome {
    Timestamped,
    /// Another attempt timestamped the sign first; this token was removed.
    AlreadyTimestamped,
}

/// Writes both blobs at once. If one fails, the other is removed again.
async fn upload_blobs<B: BlobStore>(
    blobs: &B,
    [data, image]: [BlobUpload; 2],
) -> Result<[WrittenBlob; 2], ApiError> {
    let (data, image) = tokio::join!(upload(blobs, data), upload(blobs, image));
    match (data, image) {
        (Ok(data), Ok(image)) => Ok([data, image]),
        (Ok(written), Err(e)) | (Err(e), Ok(written)) => {
            remove_blobs(blobs, std::slice::from_ref(&written)).await;
            Err(e.into())
        }
        (Err(e), Err(_)) => Err(e.into()),
    }
}

async fn upload<B: BlobStore>(blobs: &B, blob: BlobUpload) -> Result<WrittenBlob, StoreError> {
    let result = blobs
        .put_new(&blob.key, blob.bytes, blob.sha256, blob.content_type)
        .await;
    if let Err(e) = &result {
        // A write whose answer was lost may have been stored: no record references it.
        tracing::warn!(blob_key = %blob.key, error = %e, "a blob write failed; if it was stored, sweep-orphans removes it");
    }
    result
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::evidence::{EventType, verify_chain};
    use crate::ids::{OrgId, SignId};
    use crate::model::{ImageFormat, NewSign, SignatureSummary, StoredStatus};
    use crate::store::faults::Faulty;
    use crate::store::memory::MemoryStore;
    use crate::store::{SignAdmin, StoredBlob};

    type Store = Faulty<MemoryStore>;

    async fn store_with_sign(preview_documents: Vec<String>) -> (Store, SignKey) {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let store = Faulty::new(MemoryStore::new());
        let sign = SignRecord::new(NewSign {
            preview_documents,
            ..crate::testing::new_sign(key.clone(), time::now())
        });
        store.create_sign(&sign).await.unwrap();
        (store, key)
    }

    fn evidence(installation_id: &str) -> RequestEvidence {
        RequestEvidence {
            installation_id: installation_id.into(),
            fingerprint: "fp".into(),
            location: None,
            client_ip: Some("203.0.113.9".into()),
            user_agent: None,
            request_id: "r".into(),
        }
    }

    fn signature(seed: u8) -> ValidSignature {
        let image = Bytes::from(crate::testing::png_header(10, 10));
        let data = Bytes::from(vec![seed; 64]);
        let (image_sha256, biometric_data_sha256): ([u8; 32], [u8; 32]) =
            (Sha256::digest(&image).into(), Sha256::digest(&data).into());
        ValidSignature {
            summary: SignatureSummary {
                image_sha256: hex::encode(image_sha256),
                biometric_data_sha256: hex::encode(biometric_data_sha256),
                image_format: ImageFormat::Png,
                image_width: 10,
                image_height: 10,
                biometric: crate::capture::BiometricSummary {
                    format: crate::capture::Format::Sigdata1,
                    strokes: 1,
                    samples: 20,
                    duration_ms: 500,
                    pressure: false,
                    pointer_type: Some(crate::capture::PointerType::Pen),
                },
            },
            biometric_data: data,
            image,
            biometric_data_sha256,
            image_sha256,
        }
    }

    async fn sign_once(store: &Store, key: &SignKey, seed: u8) -> Result<SignOutcome, ApiError> {
        submit_signature(
            store,
            store,
            &crate::testing::test_escrow(),
            None,
            key,
            signature(seed),
            &evidence("inst-1"),
        )
        .await
    }

    async fn blob_keys(store: &Store) -> Vec<String> {
        store.list("").await.unwrap()
    }

    async fn stored(store: &Store, key: &SignKey) -> SignRecord {
        store.get_sign(key).await.unwrap().unwrap()
    }

    /// A store that lets other tasks run between a read and a commit, as a network would.
    struct Racy(MemoryStore);

    impl SignReader for Racy {
        async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
            tokio::task::yield_now().await;
            self.0.get_sign(key).await
        }
    }

    impl SignWriter for Racy {
        async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
            tokio::task::yield_now().await;
            self.0.commit(update).await
        }
    }

    /// One preview's transition on `key`, begun and committed under `policy`.
    async fn preview_transition<S: SignReader + SignWriter>(
        store: &S,
        key: &SignKey,
        policy: RetryPolicy,
    ) -> Result<Outcome, TransitionError> {
        Transition::begin(store, key, policy, |sign, now| {
            state::preview(sign, &evidence("inst-1"), now).map(Decision::from)
        })
        .await
        .expect("a preview is allowed")
        .commit()
        .await
    }

    /// A commit that fails while another request moves the sign past the version it was based on
    /// can never land: it is not applied (its blobs may go at once), rather than of unknown
    /// outcome (blobs kept for the sweeper).
    #[tokio::test]
    async fn a_failed_commit_overtaken_by_another_change_is_not_applied() {
        /// Lets a racing preview land first, then loses the commit's answer.
        struct Overtaken(MemoryStore);
        impl SignReader for Overtaken {
            async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
                self.0.get_sign(key).await
            }
        }
        impl SignWriter for Overtaken {
            async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
                let current = self.0.get_sign(&update.sign.key()).await.unwrap().unwrap();
                let racing = state::preview(&current, &evidence("inst-2"), time::now()).unwrap();
                self.0
                    .commit(&SignUpdate {
                        expected_version: current.version,
                        sign: racing.sign,
                        event: racing.event,
                    })
                    .await
                    .unwrap();
                Err(CommitError::Store(StoreError::new("connection reset")))
            }
        }
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let store = Overtaken(MemoryStore::new());
        let sign = SignRecord::new(crate::testing::new_sign(key.clone(), time::now()));
        store.0.create_sign(&sign).await.unwrap();
        let outcome = preview_transition(&store, &key, RetryPolicy::PREVIEW).await;
        assert!(
            matches!(
                outcome,
                Err(TransitionError::NotApplied(ApiError::Internal(_)))
            ),
            "{outcome:?}"
        );
        let stored = store.0.get_sign(&key).await.unwrap().unwrap();
        assert_eq!(
            stored.version,
            sign.version + 1,
            "only the racing preview landed"
        );
    }

    #[tokio::test]
    async fn pauses_double_from_the_first_up_to_the_maximum_and_stop_with_the_budget() {
        let mut backoff = Backoff::start(RetryPolicy::PREVIEW);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(backoff.ceiling());
            let pause = backoff.next_pause().expect("within the budget");
            assert!(pause <= *ceilings.last().unwrap());
        }
        assert_eq!(
            ceilings,
            [5, 10, 20, 40, 80, 160, 250, 250].map(Duration::from_millis),
            "5 ms doubling, at most 250 ms"
        );
        let spent = RetryPolicy {
            budget: Duration::ZERO,
            ..RetryPolicy::PREVIEW
        };
        assert_eq!(Backoff::start(spent).next_pause(), None, "no budget left");
    }

    /// A transition that keeps losing its race gives up once its budget is spent, not before;
    /// and the TIMESTAMP policy's budget fits the step it serves.
    #[tokio::test]
    async fn a_transition_that_keeps_losing_gives_up_when_its_budget_is_spent() {
        /// A store on which every commit loses a race, and nothing changes.
        struct AlwaysLosing(MemoryStore, std::sync::atomic::AtomicUsize);
        impl SignReader for AlwaysLosing {
            async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
                self.0.get_sign(key).await
            }
        }
        impl SignWriter for AlwaysLosing {
            async fn commit(&self, _: &SignUpdate) -> Result<(), CommitError> {
                self.1.fetch_add(1, Ordering::SeqCst);
                Err(CommitError::Conflict)
            }
        }
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let store = AlwaysLosing(MemoryStore::new(), Default::default());
        let sign = SignRecord::new(crate::testing::new_sign(key.clone(), time::now()));
        store.0.create_sign(&sign).await.unwrap();
        let policy = RetryPolicy {
            budget: Duration::from_millis(200),
            first_pause: Duration::from_millis(1),
            max_pause: Duration::from_millis(20),
        };
        let started = Instant::now();
        let outcome = preview_transition(&store, &key, policy).await;
        assert!(
            matches!(
                outcome,
                Err(TransitionError::NotApplied(ApiError::Conflict(_)))
            ),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() >= policy.budget,
            "{:?}",
            started.elapsed()
        );
        assert!(store.1.load(Ordering::SeqCst) > 1, "it retried");

        // The TIMESTAMP step is bounded as a whole by TIMESTAMP_BUDGET: its transition's own
        // budget must leave the TSA and the token's upload their share of it.
        assert!(RetryPolicy::TIMESTAMP.budget < TIMESTAMP_BUDGET);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hundred_racing_previews_all_succeed_with_one_event_each() {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let store = Arc::new(Racy(MemoryStore::new()));
        let sign = SignRecord::new(crate::testing::new_sign(key.clone(), time::now()));
        store.0.create_sign(&sign).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let (store, key) = (Arc::clone(&store), key.clone());
            tasks.spawn(async move {
                record_preview(&*store, &key, &evidence(&format!("inst-{i}"))).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), Ok(()));
        }
        let sign = store.0.get_sign(&key).await.unwrap().unwrap();
        let events = store.0.list_events(&key).await.unwrap();
        assert_eq!(
            (sign.status, sign.event_count),
            (StoredStatus::Previewed, 100)
        );
        assert_eq!(events.len(), 100);
        assert!(events.iter().all(|e| e.event_type == EventType::Preview));
        assert!(verify_chain(&sign, &events).is_valid());
    }

    /// The SIGN event of a signed sign.
    async fn sign_event(store: &Store, key: &SignKey) -> crate::evidence::EvidenceEvent {
        let events = store.list_events(key).await.unwrap();
        let sign = events
            .into_iter()
            .rev()
            .find(|e| e.event_type == EventType::Sign);
        sign.expect("a SIGN event")
    }

    #[tokio::test]
    async fn only_the_envelope_is_stored_and_the_sign_event_names_it_and_its_recipients() {
        let (store, key) = store_with_sign(vec![]).await;
        assert_eq!(sign_once(&store, &key, 7).await, Ok(SignOutcome::Signed));
        let sign = stored(&store, &key).await;
        let keys = sign.blobs.clone().unwrap();
        assert!(
            keys.biometric_data.ends_with("/biometric_data.p7m"),
            "{keys:?}"
        );
        let envelope = store.get(&keys.biometric_data).await.unwrap().unwrap();
        let plaintext = signature(7).biometric_data;
        assert_ne!(envelope.bytes, plaintext);
        let window = &plaintext[..32];
        assert!(
            !envelope.bytes.windows(32).any(|w| w == window),
            "the envelope holds plaintext"
        );
        let envelope_sha256 = Sha256::digest(&envelope.bytes);
        assert_eq!(
            envelope.checksum_sha256,
            Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                envelope_sha256
            )),
            "the store verified the envelope's digest"
        );
        let event = sign_event(&store, &key).await;
        assert_eq!(
            event.sealed,
            Some(SealEvidence {
                biometric_envelope_sha256: hex::encode(envelope_sha256),
                recipient_fingerprints: crate::testing::test_escrow().fingerprints(),
            })
        );
        // The signature's digest stays the plaintext's.
        assert_eq!(
            sign.signature.unwrap().biometric_data_sha256,
            hex::encode(Sha256::digest(&plaintext))
        );
        assert!(
            verify_chain(
                &stored(&store, &key).await,
                &store.list_events(&key).await.unwrap()
            )
            .is_valid()
        );
    }

    #[tokio::test]
    async fn a_lost_race_is_decided_again_with_the_one_envelope_already_uploaded() {
        /// Lets a preview of the same sign commit just before the first commit of the signature.
        struct PreviewFirst {
            inner: Store,
            raced: std::sync::atomic::AtomicBool,
        }
        impl SignReader for PreviewFirst {
            async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
                self.inner.get_sign(key).await
            }
        }
        impl SignWriter for PreviewFirst {
            async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
                if !self.raced.swap(true, Ordering::SeqCst) {
                    let key = update.sign.key();
                    record_preview(&self.inner, &key, &evidence("other"))
                        .await
                        .map_err(|e| StoreError::new(e.details()))?;
                }
                self.inner.commit(update).await
            }
        }
        let (inner, key) = store_with_sign(vec![]).await;
        let store = PreviewFirst {
            inner,
            raced: Default::default(),
        };
        let escrow = crate::testing::test_escrow();
        let outcome = submit_signature(
            &store,
            &store.inner,
            &escrow,
            None,
            &key,
            signature(3),
            &evidence("inst-1"),
        )
        .await;
        assert_eq!(outcome, Ok(SignOutcome::Signed));
        let store = store.inner;
        let sign = stored(&store, &key).await;
        assert_eq!((sign.status, sign.event_count), (StoredStatus::Signed, 2));
        // Sealed and uploaded once: the retry's event names the envelope that was stored.
        assert_eq!(blob_keys(&store).await.len(), 2);
        let envelope = store
            .get(&sign.blobs.unwrap().biometric_data)
            .await
            .unwrap()
            .unwrap();
        let event = sign_event(&store, &key).await;
        assert_eq!(event.seq, 2);
        assert_eq!(
            event.sealed.unwrap().biometric_envelope_sha256,
            hex::encode(Sha256::digest(&envelope.bytes))
        );
    }

    #[tokio::test]
    async fn refused_signatures_never_touch_the_blob_store() {
        let (store, key) = store_with_sign(vec!["d".into()]).await;
        assert!(matches!(
            sign_once(&store, &key, 1).await,
            Err(ApiError::Conflict(_))
        ));
        assert!(blob_keys(&store).await.is_empty());
    }

    #[tokio::test]
    async fn both_uploads_run_concurrently() {
        /// A blob store whose writes each wait until two writes are in flight: sequential
        /// uploads would never get past the first.
        struct BothAtOnce {
            inner: MemoryStore,
            barrier: tokio::sync::Barrier,
        }
        impl BlobStore for BothAtOnce {
            async fn put_new(
                &self,
                key: &str,
                bytes: Bytes,
                sha256: [u8; 32],
                content_type: &str,
            ) -> Result<WrittenBlob, StoreError> {
                self.barrier.wait().await;
                self.inner.put_new(key, bytes, sha256, content_type).await
            }
            async fn remove(&self, blob: &WrittenBlob) -> Result<(), StoreError> {
                self.inner.remove(blob).await
            }
            async fn get(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
                self.inner.get(key).await
            }
            async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
                self.inner.list(prefix).await
            }
        }
        let (store, key) = store_with_sign(vec![]).await;
        let blobs = BothAtOnce {
            inner: MemoryStore::new(),
            barrier: tokio::sync::Barrier::new(2),
        };
        let evidence = evidence("i");
        let escrow = crate::testing::test_escrow();
        let submitted =
            submit_signature(&store, &blobs, &escrow, None, &key, signature(1), &evidence);
        let outcome = tokio::time::timeout(Duration::from_secs(30), submitted).await;
        assert_eq!(
            outcome.expect("the uploads wait for each other"),
            Ok(SignOutcome::Signed)
        );
        assert_eq!(blobs.list("").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_commit_applied_whose_answer_is_lost_is_a_success_and_keeps_the_blobs() {
        for name in ["a store error", "a conflict"] {
            let (store, key) = store_with_sign(vec![]).await;
            let switches = &store.switches;
            let switch = match name {
                "a store error" => &switches.lose_next_commit_answer,
                _ => &switches.report_next_commit_as_conflict,
            };
            switch.store(true, Ordering::SeqCst);
            assert_eq!(
                sign_once(&store, &key, 1).await,
                Ok(SignOutcome::Signed),
                "{name}"
            );
            let sign = stored(&store, &key).await;
            assert_eq!(sign.status, StoredStatus::Signed, "{name}");
            let referenced = sign.blobs.unwrap();
            let mut expected = vec![referenced.biometric_data, referenced.signature_image];
            expected.sort();
            assert_eq!(
                blob_keys(&store).await,
                expected,
                "{name}: the blobs are kept"
            );
            for blob in &expected {
                assert!(store.get(blob).await.unwrap().is_some());
            }
            // The identical retry still succeeds and stores nothing new.
            assert_eq!(
                sign_once(&store, &key, 1).await,
                Ok(SignOutcome::AlreadySigned)
            );
            assert_eq!(blob_keys(&store).await, expected);
        }
    }

    #[tokio::test]
    async fn a_failed_commit_not_visible_yet_keeps_the_blobs_for_the_sweeper() {
        // The re-read shows the sign still at the version read: the commit may yet be carried
        // out (DynamoDB can apply a transaction after the client gave up), so nothing it would
        // reference may be removed.
        let (store, key) = store_with_sign(vec![]).await;
        let before = stored(&store, &key).await;
        store
            .switches
            .fail_next_commit
            .store(true, Ordering::SeqCst);
        assert!(matches!(
            sign_once(&store, &key, 1).await,
            Err(ApiError::Internal(_))
        ));
        assert_eq!(blob_keys(&store).await.len(), 2, "kept, not deleted");
        assert_eq!(stored(&store, &key).await, before);
        assert!(store.list_events(&key).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_commit_that_cannot_be_re_read_keeps_the_blobs_for_the_sweeper() {
        let (store, key) = store_with_sign(vec![]).await;
        let before = stored(&store, &key).await;
        store
            .switches
            .fail_next_commit
            .store(true, Ordering::SeqCst);
        // Read 1 is the decision's, read 2 the re-read after the failed commit.
        store.switches.fail_nth_read(2);
        assert!(matches!(
            sign_once(&store, &key, 1).await,
            Err(ApiError::Internal(_))
        ));
        assert_eq!(blob_keys(&store).await.len(), 2, "kept, not deleted");
        assert_eq!(stored(&store, &key).await, before);
    }

    #[tokio::test]
    async fn a_preview_applied_whose_answer_is_lost_is_a_success() {
        let (store, key) = store_with_sign(vec!["d".into()]).await;
        store
            .switches
            .lose_next_commit_answer
            .store(true, Ordering::SeqCst);
        assert_eq!(record_preview(&store, &key, &evidence("i")).await, Ok(()));
        assert_eq!(store.list_events(&key).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_racing_identical_signature_wins_and_this_attempt_removes_its_blobs() {
        let (store, key) = store_with_sign(vec![]).await;
        let keys = BlobKeys::for_attempt(&key, ImageFormat::Png);
        let ours = signature(1);
        let summary = ours.summary.clone();
        let evidence = evidence("inst-1");
        let transition = Transition::begin(&store, &key, RetryPolicy::SIGN, |sign, now| {
            state::sign(sign, &summary, None, &keys, &evidence, now)
        })
        .await
        .unwrap();
        // Another request with the identical signature commits first.
        assert_eq!(sign_once(&store, &key, 1).await, Ok(SignOutcome::Signed));
        assert_eq!(transition.commit().await, Ok(Outcome::Unchanged));
    }

    #[test]
    fn retry_pauses_grow_within_their_bounds_and_stop_with_the_budget() {
        let policy = RetryPolicy {
            budget: Duration::from_secs(60),
            first_pause: Duration::from_millis(10),
            max_pause: Duration::from_millis(100),
        };
        let mut backoff = Backoff::start(policy);
        for ceiling in [10, 20, 40, 80, 100, 100, 100] {
            let pause = backoff.next_pause().unwrap();
            assert!(
                pause <= Duration::from_millis(ceiling),
                "{pause:?} > {ceiling} ms"
            );
        }
        let mut spent = Backoff::start(RetryPolicy {
            budget: Duration::ZERO,
            ..policy
        });
        assert_eq!(spent.next_pause(), None);
    }
}
