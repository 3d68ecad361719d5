//! The rules where a wrong line costs the most, each pinned by a scenario that fails when the rule
//! is broken (found by mutation testing, see `scripts/mutants`): a signed sign keeps its one
//! signature, racing identical signs all succeed and store one, only `Bearer` carries a token, the
//! body limit is exact, error wording is pinned, every kind of evidence tampering is told apart,
//! and a write prepared before a cancel cannot land after it. Every scenario runs on the embedded
//! store and on DynamoDB + S3 (moto).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use biosign_e2e::{Aws, Embedded, Signature, TestBlobs, TestEnv, TestSigns, device_headers};
use biosign_shared::evidence::{ChainCheck, RequestEvidence};
use biosign_shared::ids::SignKey;
use biosign_shared::model::{SignRecord, StoredStatus};
use biosign_shared::service;
use biosign_shared::store::{
    BlobStore, CommitError, SignReader, SignUpdate, SignWriter, StoreError,
};

const DEVICE_INSTALLATION: &str = "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11";

/// What the store holds for a sign and its blobs, to prove that a request changed nothing.
async fn snapshot<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    sign_id: &str,
) -> (Vec<String>, String) {
    let report = env.report("acme", sign_id).await;
    let stored = serde_json::to_string(&(&report.sign, &report.events)).unwrap();
    (env.blob_keys().await, stored)
}

// ---- A signed sign keeps its one signature -----------------------------------------------------

/// After a success, only the very same signature from the same installation is a retry: a
/// signature that shares the image or the biometric data but not both is another signature.
async fn a_different_signature_after_success_is_a_conflict<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let accepted = Signature::sample(1);
    env.sign("acme", &sign.sign_id, &token, &accepted)
        .await
        .assert_no_content();
    let before = snapshot(&env, &sign.sign_id).await;

    let other = Signature::sample(2);
    let same_image = Signature {
        biometric_data: other.biometric_data.clone(),
        image: accepted.image.clone(),
    };
    let same_biometric_data = Signature {
        biometric_data: accepted.biometric_data.clone(),
        image: other.image.clone(),
    };
    for (what, signature) in [
        ("same image, other biometric data", &same_image),
        ("same biometric data, other image", &same_biometric_data),
        ("another signature", &other),
    ] {
        let reply = env.sign("acme", &sign.sign_id, &token, signature).await;
        assert_eq!(reply.status, 409, "{what}: {}", reply.body);
        reply.assert_error(
            409,
            "MDOC_006",
            "CONFLICT",
            "sign_id: the sign is already signed with another signature",
        );
    }
    // The accepted signature, from another installation of the app.
    let mut headers = device_headers();
    headers.retain(|(name, _)| *name != "x-installation_id");
    headers.push(("x-installation_id", "another-installation".into()));
    env.sign_raw(
        "acme",
        &sign.sign_id,
        Some(&token),
        &headers,
        Some("application/json"),
        accepted.body().to_string().into_bytes(),
    )
    .await
    .assert_error(
        409,
        "MDOC_006",
        "CONFLICT",
        "sign_id: the sign is already signed with another signature",
    );

    assert_eq!(
        snapshot(&env, &sign.sign_id).await,
        before,
        "no blob, event or change of the sign for a refused signature"
    );
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(
        got.body["signature"]["biometric_data_sha256"],
        accepted.biometric_sha256()
    );
    assert_eq!(
        got.body["signature"]["image_sha256"],
        accepted.image_sha256()
    );
}

// ---- Racing identical signs --------------------------------------------------------------------

/// Holds the first `size` commits until all of them have arrived, so that every one of them was
/// decided on the sign as it was before any of them landed: a race, every time. (A bound on the
/// wait keeps a broken build from hanging the run; it is not part of what is asserted.)
struct CommitGate<S> {
    inner: S,
    size: usize,
    arrivals: Arc<AtomicUsize>,
    barrier: Arc<tokio::sync::Barrier>,
}

impl<S: SignReader> SignReader for CommitGate<S> {
    async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
        self.inner.get_sign(key).await
    }
}

impl<S: SignWriter> SignWriter for CommitGate<S> {
    async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
        if self.arrivals.fetch_add(1, Ordering::SeqCst) < self.size {
            let _ = tokio::time::timeout(Duration::from_secs(60), self.barrier.wait()).await;
        }
        self.inner.commit(update).await
    }
}

/// Signs through the service itself, as one Lambda instance would: `biosign serve` queues the
/// requests of one sign in its process (`handlers`), so racing over HTTP would never reach the
/// store at once; separate instances do, and that is the race this test reproduces.
async fn sign_as_an_instance<S, B>(
    signs: &S,
    blobs: &B,
    key: &SignKey,
    signature: &Signature,
) -> Result<service::SignOutcome, biosign_shared::ApiError>
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    let body = signature.body().to_string();
    let valid = biosign_shared::request::parse_sign_body(Some("application/json"), body.as_bytes())
        .expect("a valid sample signature");
    let evidence = RequestEvidence {
        installation_id: DEVICE_INSTALLATION.into(),
        fingerprint: "3f8a1c2e9b7d4f60a1b2c3d4e5f60718".into(),
        location: None,
        client_ip: Some("203.0.113.9".into()),
        user_agent: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let escrow = biosign_shared::testing::test_escrow();
    service::submit_signature(signs, blobs, &escrow, None, key, valid, &evidence).await
}

async fn race<S, B>(
    signs: Arc<S>,
    blobs: Arc<B>,
    key: &SignKey,
    signature: &Signature,
) -> Vec<service::SignOutcome>
where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (signs, blobs, key, signature) = (
            Arc::clone(&signs),
            Arc::clone(&blobs),
            key.clone(),
            signature.clone(),
        );
        racers.spawn(async move { sign_as_an_instance(&*signs, &*blobs, &key, &signature).await });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = racers.join_next().await {
        outcomes.push(
            outcome
                .unwrap()
                .expect("every identical racer succeeds (a 204)"),
        );
    }
    outcomes
}

const RACERS: usize = 8;

async fn identical_racing_signs_all_succeed_and_store_one_signature<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let key = sign.key();
    let arrivals = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    fn gate<S>(
        inner: S,
        arrivals: &Arc<AtomicUsize>,
        barrier: &Arc<tokio::sync::Barrier>,
    ) -> CommitGate<S> {
        CommitGate {
            inner,
            size: RACERS,
            arrivals: Arc::clone(arrivals),
            barrier: Arc::clone(barrier),
        }
    }
    let signature = Signature::sample(3);
    let outcomes = race(
        Arc::new(gate(env.stores.signs.clone(), &arrivals, &barrier)),
        Arc::new(env.stores.blobs.clone()),
        &key,
        &signature,
    )
    .await;
    assert!(
        arrivals.load(Ordering::SeqCst) >= RACERS,
        "every request reached its write having read the unsigned sign"
    );
    let signed = outcomes
        .iter()
        .filter(|o| **o == service::SignOutcome::Signed)
        .count();
    assert_eq!(
        signed, 1,
        "exactly one racer stored its signature: {outcomes:?}"
    );

    let report = env.report("acme", &sign.sign_id).await;
    assert_eq!(report.sign.status, StoredStatus::Signed);
    assert_eq!(
        report.events.len(),
        1,
        "one SIGN event: {:?}",
        report.events
    );
    assert_eq!(
        serde_json::to_value(report.events[0].event_type).unwrap(),
        "SIGN"
    );
    assert_eq!(
        report.events[0].installation_id.as_deref(),
        Some(DEVICE_INSTALLATION)
    );
    assert!(report.chain.is_valid(), "{:?}", report.chain);
    let keys = env.blob_keys().await;
    assert_eq!(
        keys.len(),
        2,
        "one signature's blobs, the losers' removed: {keys:?}"
    );
    let stored = report.sign.blobs.expect("blob keys recorded");
    assert_eq!(
        &env.blob(&stored.signature_image).await.bytes[..],
        &signature.image[..]
    );
    // The biometric data is stored sealed: the object is the envelope the SIGN event names.
    let envelope = env.blob(&stored.biometric_data).await.bytes;
    let sealed = report.events[0]
        .sealed
        .as_ref()
        .expect("the SIGN event names its envelope");
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&envelope)),
        sealed.biometric_envelope_sha256
    );
}

// ---- Only the Bearer scheme carries a token ----------------------------------------------------

async fn a_valid_token_under_another_scheme_is_refused<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    for scheme in ["Basic", "Token", "JWT"] {
        let authorization = format!("{scheme} {token}");
        env.send(
            env.http
                .get(env.url("acme", &sign.sign_id, None))
                .header("authorization", &authorization),
        )
        .await
        .assert_error(
            401,
            "MDOC_003",
            "UNAUTHORIZED",
            "Authorization: must be 'Bearer <JWT>'",
        );
        let mut request = env
            .http
            .post(env.url("acme", &sign.sign_id, Some("preview")))
            .header("authorization", &authorization);
        for (name, value) in device_headers() {
            request = request.header(name, value);
        }
        env.send(request).await.assert_error(
            401,
            "MDOC_003",
            "UNAUTHORIZED",
            "Authorization: must be 'Bearer <JWT>'",
        );
    }
    // The scheme is case-insensitive (RFC 9110), and the same token under it works.
    let reply = env
        .send(
            env.http
                .get(env.url("acme", &sign.sign_id, None))
                .header("authorization", format!("bearer {token}")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        env.report("acme", &sign.sign_id).await.events.len(),
        0,
        "no refused preview left evidence"
    );
}

// ---- The body limit is exact -------------------------------------------------------------------

/// `signature`'s JSON body padded with trailing whitespace (valid JSON) to exactly `size` bytes.
fn padded_body(signature: &Signature, size: usize) -> Vec<u8> {
    let mut body = signature.body().to_string().into_bytes();
    assert!(body.len() < size);
    body.resize(size, b' ');
    body
}

async fn a_body_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_not<
    S: TestSigns,
    B: TestBlobs,
>(
    env: TestEnv<S, B>,
) {
    const MIB: usize = 1024 * 1024;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(4);
    let json = Some("application/json");
    let too_big = padded_body(&signature, MIB + 1);
    env.sign_raw(
        "acme",
        &sign.sign_id,
        Some(&token),
        &device_headers(),
        json,
        too_big,
    )
    .await
    .assert_error(
        400,
        "MDOC_002",
        "INVALID_INPUT",
        "body: must be at most 1048576 bytes",
    );
    assert!(env.blob_keys().await.is_empty());

    let at_limit = padded_body(&signature, MIB);
    assert_eq!(at_limit.len(), MIB);
    env.sign_raw(
        "acme",
        &sign.sign_id,
        Some(&token),
        &device_headers(),
        json,
        at_limit,
    )
    .await
    .assert_no_content();
    let got = env.get("acme", &sign.sign_id, Some(&token)).await;
    assert_eq!(got.body["status"], "SIGNED");
    assert_eq!(
        got.body["signature"]["image_sha256"],
        signature.image_sha256()
    );
}

// ---- Error wording -----------------------------------------------------------------------------

/// A JSON error names the field and says what is wrong, without serde's "at line L column C"
/// (meaningless to a client that serialised an object), whether the body spans one line or many.
async fn json_errors_name_the_field_without_a_position<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let image = Signature::sample(1).body()["signature_image"].clone();
    let image = image.as_str().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            "{\n  \"biometric_data\": \"AAAA\",\n  \"signature_image\": 12\n}\n".to_owned(),
            "signature_image: invalid type: integer `12`, expected a string",
        ),
        (
            format!("{{\"biometric_data\": true, \"signature_image\": \"{image}\"}}"),
            "biometric_data: invalid type: boolean `true`, expected a string",
        ),
        (
            format!("{{\n\"biometric_data\": [\"AAAA\"],\n\"signature_image\": \"{image}\"\n}}"),
            "biometric_data: invalid type: sequence, expected a string",
        ),
        (
            "{\n  \"biometric_data\": \"AAAA\",\n  \"signature_image\": \"x\",\n  \"extra\": 1\n}"
                .to_owned(),
            "body: unknown field `extra`, expected `biometric_data` or `signature_image`",
        ),
        (
            "{\n  \"biometric_data\": \"AAAA\",\n".to_owned(),
            "body: EOF while parsing a value",
        ),
        ("{not json".to_owned(), "body: key must be a string"),
    ];
    for (body, details) in cases {
        let reply = env
            .sign_raw(
                "acme",
                &sign.sign_id,
                Some(&token),
                &device_headers(),
                Some("application/json"),
                body.clone().into_bytes(),
            )
            .await;
        reply.assert_error(400, "MDOC_002", "INVALID_INPUT", details);
        assert_eq!(
            reply.body["errors"][0]["details"], details,
            "the whole details for {body:?}"
        );
    }
    assert!(env.blob_keys().await.is_empty());
}

// ---- Evidence tampering ------------------------------------------------------------------------

/// Sets a field of a stored event behind the service's back.
async fn set_event_field<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    sign_id: &str,
    seq: u64,
    field: &str,
    value: &str,
) {
    env.stores
        .signs
        .inner
        .set_event_field("acme", sign_id, seq, field, value)
        .await;
}

enum Tampering {
    Change(u64),
    Remove(u64),
    /// The event claims to belong to another sign (as if copied from one).
    AnotherSign(u64),
    AnotherOrg(u64),
}

/// Each kind of tampering the chain check tells apart, on a sign with three events (two previews
/// and the signature), and the reason it reports.
async fn every_kind_of_evidence_tampering_is_told_apart<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let token = env.full_token("acme");
    let cases = [
        (
            Tampering::Change(1),
            "event 2 does not link to its predecessor: event 1 was changed",
        ),
        (
            Tampering::Change(2),
            "event 3 does not link to its predecessor: event 2 was changed",
        ),
        (Tampering::Change(3), "the last event (event 3) was changed"),
        (Tampering::Remove(1), "event 1 is missing"),
        (Tampering::Remove(2), "event 2 is missing"),
        (
            Tampering::Remove(3),
            "the sign records 3 events but 2 are stored",
        ),
        (Tampering::AnotherSign(1), "event 1 belongs to another sign"),
        (Tampering::AnotherOrg(3), "event 3 belongs to another sign"),
    ];
    let other_sign = uuid::Uuid::new_v4().to_string();
    for (seed, (tampering, reason)) in cases.into_iter().enumerate() {
        let sign = env.create_sign("acme", true, "P7D").await;
        let id = sign.sign_id.as_str();
        for _ in 0..2 {
            env.preview("acme", id, Some(&token))
                .await
                .assert_no_content();
        }
        env.sign("acme", id, &token, &Signature::sample(seed as u32))
            .await
            .assert_no_content();
        assert_eq!(
            env.report("acme", id).await.chain,
            ChainCheck::Valid { events: 3 }
        );
        match tampering {
            Tampering::Change(seq) => env.tamper_event("acme", id, seq).await,
            Tampering::Remove(seq) => env.delete_event("acme", id, seq).await,
            Tampering::AnotherSign(seq) => {
                set_event_field(&env, id, seq, "sign_id", &other_sign).await
            }
            Tampering::AnotherOrg(seq) => set_event_field(&env, id, seq, "org_id", "globex").await,
        }
        assert_eq!(
            env.report("acme", id).await.chain,
            ChainCheck::Broken {
                reason: reason.into()
            }
        );
    }
}

// ---- Cancel and writes in flight ---------------------------------------------------------------

async fn commit<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    update: &SignUpdate,
) -> Result<(), CommitError> {
    env.stores.signs.commit(update).await
}

async fn read<S: TestSigns, B: TestBlobs>(env: &TestEnv<S, B>, sign: &SignRecord) -> SignRecord {
    let key = biosign_e2e::key_of(sign);
    env.stores
        .signs
        .get_sign(&key)
        .await
        .unwrap()
        .expect("the sign exists")
}

/// What a request that read `sign` would write to preview it: the next version, `PREVIEWED`.
fn stale_preview(sign: &SignRecord) -> SignUpdate {
    let mut next = sign.clone();
    next.version = sign.version + 1;
    next.status = StoredStatus::Previewed;
    SignUpdate {
        expected_version: sign.version,
        sign: next,
        event: None,
    }
}

/// A write decided on the sign as it was before a cancel (just before, or one change earlier)
/// cannot land after it: the cancel moved the version past every version read before it.
async fn a_write_prepared_before_a_cancel_cannot_land_after_it<S: TestSigns, B: TestBlobs>(
    env: TestEnv<S, B>,
) {
    let sign = env.create_sign("acme", true, "P7D").await;
    let token = env.full_token("acme");
    let before_preview = read(&env, &sign).await;
    env.preview("acme", &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let before_cancel = read(&env, &sign).await;
    assert_eq!(before_cancel.status, StoredStatus::Previewed);
    env.cancel_sign("acme", &sign.sign_id).await;
    let cancelled = env.report("acme", &sign.sign_id).await;
    assert_eq!(cancelled.sign.status, StoredStatus::Cancelled);

    for (when, stale) in [
        ("read just before the cancel", &before_cancel),
        ("read before the preview", &before_preview),
    ] {
        let result = commit(&env, &stale_preview(stale)).await;
        assert!(
            matches!(result, Err(CommitError::Conflict)),
            "a write {when} must conflict, got {result:?}"
        );
    }
    let after = env.report("acme", &sign.sign_id).await;
    assert_eq!(after.sign, cancelled.sign, "the sign stays cancelled");
    assert_eq!(after.events, cancelled.events);
    assert_eq!(
        env.get("acme", &sign.sign_id, Some(&token)).await.body["status"],
        "CANCELLED"
    );
}

macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestEnv::start(Embedded).await).await;
                }
            )*
        }
        mod aws {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestEnv::start(Aws { kms_key_id: None }).await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_different_signature_after_success_is_a_conflict,
    identical_racing_signs_all_succeed_and_store_one_signature,
    a_valid_token_under_another_scheme_is_refused,
    a_body_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_not,
    json_errors_name_the_field_without_a_position,
    every_kind_of_evidence_tampering_is_told_apart,
    a_write_prepared_before_a_cancel_cannot_land_after_it,
);
