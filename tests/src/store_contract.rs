//! The storage contract: what every adapter must guarantee, as functions generic over the
//! traits. `tests/store_contract.rs` runs each against the in-memory, embedded and DynamoDB + S3
//! adapters, each time on a fresh store.

use std::sync::Arc;

use base64::Engine as _;
use biosign_shared::evidence::RequestEvidence;
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::SignRecord;
use biosign_shared::state;
use biosign_shared::store::{BlobStore, CommitError, SignAdmin, SignUpdate};
use biosign_shared::testing;
use biosign_shared::time;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A fresh sign of `org`, as `biosign create-sign` makes it.
pub fn new_sign(org: &str) -> SignRecord {
    let key = SignKey::new(OrgId::parse(org).unwrap(), SignId::new_random());
    SignRecord::new(testing::new_sign(key, time::now()))
}

fn evidence(installation: &str) -> RequestEvidence {
    RequestEvidence {
        installation_id: installation.into(),
        fingerprint: "fp".into(),
        location: Some(biosign_shared::evidence::Location::from_degrees(
            40.4168, -3.7038,
        )),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        request_id: "req-1".into(),
    }
}

fn preview_update(sign: &SignRecord, installation: &str) -> SignUpdate {
    let change = state::preview(sign, &evidence(installation), time::now()).unwrap();
    SignUpdate {
        expected_version: sign.version,
        sign: change.sign,
        event: change.event,
    }
}

fn key(sign: &SignRecord) -> SignKey {
    crate::key_of(sign)
}

pub async fn created_sign_reads_back_identical<S: SignAdmin>(store: &S) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap(),
        Some(sign.clone())
    );
    assert!(store.list_events(&key(&sign)).await.unwrap().is_empty());
}

pub async fn missing_sign_reads_as_none_even_from_another_org<S: SignAdmin>(store: &S) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let other_org = SignKey::new(OrgId::parse("globex").unwrap(), key(&sign).sign_id);
    assert_eq!(store.get_sign(&other_org).await.unwrap(), None);
    assert_eq!(
        store
            .get_sign(&SignKey::new(
                OrgId::parse("acme").unwrap(),
                SignId::new_random()
            ))
            .await
            .unwrap(),
        None
    );
}

pub async fn creating_an_existing_sign_conflicts_and_keeps_the_original<S: SignAdmin>(store: &S) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let mut again = sign.clone();
    again.signer.name = "Mallory".into();
    assert!(matches!(
        store.create_sign(&again).await,
        Err(CommitError::Conflict)
    ));
    assert_eq!(
        store
            .get_sign(&key(&sign))
            .await
            .unwrap()
            .unwrap()
            .signer
            .name,
        "Ana"
    );
}

pub async fn commit_at_the_expected_version_replaces_the_sign_and_appends_the_event<
    S: SignAdmin,
>(
    store: &S,
) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let update = preview_update(&sign, "i1");
    store.commit(&update).await.unwrap();
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap(),
        Some(update.sign.clone())
    );
    assert_eq!(
        store.list_events(&key(&sign)).await.unwrap(),
        vec![update.event.clone().unwrap()]
    );
}

/// A store that fails for another reason than a lost race (a missing table, a broken disk):
/// creating and committing are store errors, never conflicts (a conflict is retried as a race).
pub async fn failures_that_are_not_races_are_store_errors<S: SignAdmin>(broken: &S) {
    let sign = new_sign("acme");
    let created = broken.create_sign(&sign).await;
    assert!(matches!(created, Err(CommitError::Store(_))), "{created:?}");
    let committed = broken.commit(&preview_update(&sign, "i1")).await;
    assert!(
        matches!(committed, Err(CommitError::Store(_))),
        "{committed:?}"
    );
}

pub async fn commit_at_a_stale_version_conflicts_and_writes_nothing<S: SignAdmin>(store: &S) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let first = preview_update(&sign, "i1");
    store.commit(&first).await.unwrap();
    let stale = preview_update(&sign, "i2");
    assert!(matches!(
        store.commit(&stale).await,
        Err(CommitError::Conflict)
    ));
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap(),
        Some(first.sign.clone())
    );
    assert_eq!(store.list_events(&key(&sign)).await.unwrap().len(), 1);
}

pub async fn an_existing_event_is_never_overwritten_and_the_sign_stays_unchanged<S: SignAdmin>(
    store: &S,
) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let first = preview_update(&sign, "i1");
    store.commit(&first).await.unwrap();
    // Right version, but an event seq that is taken: the whole update must fail.
    let mut clash = preview_update(&first.sign, "i2");
    clash.event.as_mut().unwrap().seq = 1;
    assert!(matches!(
        store.commit(&clash).await,
        Err(CommitError::Conflict)
    ));
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap(),
        Some(first.sign.clone())
    );
    assert_eq!(
        store.list_events(&key(&sign)).await.unwrap(),
        vec![first.event.clone().unwrap()]
    );
}

pub async fn commit_on_a_missing_sign_conflicts_and_creates_nothing<S: SignAdmin>(store: &S) {
    let sign = new_sign("acme");
    let update = preview_update(&sign, "i1");
    assert!(matches!(
        store.commit(&update).await,
        Err(CommitError::Conflict)
    ));
    assert_eq!(store.get_sign(&key(&sign)).await.unwrap(), None);
    assert!(store.list_events(&key(&sign)).await.unwrap().is_empty());
}

pub async fn of_concurrent_commits_at_one_version_exactly_one_wins<S: SignAdmin + 'static>(
    store: Arc<S>,
) {
    let sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (store, update) = (Arc::clone(&store), preview_update(&sign, &format!("i{i}")));
        tasks.spawn(async move { store.commit(&update).await });
    }
    let mut wins = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(()) => wins += 1,
            Err(CommitError::Conflict) => {}
            Err(CommitError::Store(e)) => panic!("store error: {e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.list_events(&key(&sign)).await.unwrap().len(), 1);
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap().unwrap().version,
        sign.version + 1
    );
}

pub async fn events_list_in_seq_order<S: SignAdmin>(store: &S) {
    let mut sign = new_sign("acme");
    store.create_sign(&sign).await.unwrap();
    for i in 0..12 {
        let update = preview_update(&sign, &format!("i{i}"));
        store.commit(&update).await.unwrap();
        sign = update.sign;
    }
    let events = store.list_events(&key(&sign)).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(biosign_shared::evidence::verify_chain(&sign, &events).is_valid());
}

/// A SIGN and a TIMESTAMP event (request fields absent, token fields present) read back exactly
/// as written, digests included; and signs list by org.
pub async fn signed_and_timestamped_events_read_back_exactly_and_signs_list_by_org<S: SignAdmin>(
    store: &S,
) {
    use biosign_shared::evidence::TimestampEvidence;
    use biosign_shared::model::{BlobKeys, ImageFormat, SignatureSummary};
    use biosign_shared::state::Decision;
    let mut sign = new_sign("acme");
    // Nothing to preview: the sign can be signed at once.
    sign.preview_documents.clear();
    let other = new_sign("globex");
    store.create_sign(&sign).await.unwrap();
    store.create_sign(&other).await.unwrap();
    let now = time::now();
    let summary = SignatureSummary {
        image_sha256: "a".repeat(64),
        biometric_data_sha256: "b".repeat(64),
        image_format: ImageFormat::Png,
        image_width: 10,
        image_height: 10,
        biometric: biosign_shared::capture::BiometricSummary {
            format: biosign_shared::capture::Format::Sigdata1,
            strokes: 1,
            samples: 20,
            duration_ms: 500,
            pressure: false,
            pointer_type: Some(biosign_shared::capture::PointerType::Pen),
        },
    };
    let keys = BlobKeys::for_attempt(&key(&sign), ImageFormat::Png);
    let mut written = Vec::new();
    let mut current = sign.clone();
    for step in 0..2 {
        let decision = if step == 0 {
            state::sign(&current, &summary, None, &keys, &evidence("i"), now).unwrap()
        } else {
            let token = TimestampEvidence {
                token_sha256: "c".repeat(64),
                gen_time: now,
                tsa_name: "CN=tsa.test,O=biosign tests".into(),
                imprint: current.last_event_sha256.clone().unwrap(),
            };
            state::timestamp(&current, &token, now).unwrap()
        };
        let Decision::Apply(change) = decision else {
            panic!("step {step}: expected a change");
        };
        let update = SignUpdate {
            expected_version: current.version,
            sign: change.sign,
            event: change.event,
        };
        store.commit(&update).await.unwrap();
        written.push(update.event.clone().unwrap());
        current = update.sign;
    }
    assert_eq!(
        store.get_sign(&key(&sign)).await.unwrap(),
        Some(current.clone())
    );
    let events = store.list_events(&key(&sign)).await.unwrap();
    assert_eq!(events, written);
    assert_eq!(
        events.iter().map(|e| e.sha256()).collect::<Vec<_>>(),
        written.iter().map(|e| e.sha256()).collect::<Vec<_>>()
    );
    assert!(biosign_shared::evidence::verify_chain(&current, &events).is_valid());

    let ids = |signs: Vec<SignRecord>| {
        let mut ids: Vec<String> = signs.iter().map(|s| s.sign_id.to_string()).collect();
        ids.sort();
        ids
    };
    let acme = OrgId::parse("acme").unwrap();
    assert_eq!(
        ids(store.list_signs(Some(&acme)).await.unwrap()),
        vec![sign.sign_id.to_string()]
    );
    let everything = ids(store.list_signs(None).await.unwrap());
    assert!(everything.contains(&sign.sign_id.to_string()));
    assert!(everything.contains(&other.sign_id.to_string()));
    let listed = store.list_signs(Some(&acme)).await.unwrap();
    assert_eq!(listed, vec![current], "the listed record is the stored one");
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub async fn blobs_read_back_with_their_checksum<B: BlobStore>(blobs: &B) {
    let bytes = Bytes::from_static(b"\x00\x01biometric\xff");
    blobs
        .put_new(
            "signs/acme/s1/a/biometric_data.bin",
            bytes.clone(),
            sha(&bytes),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let stored = blobs
        .get("signs/acme/s1/a/biometric_data.bin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.bytes, bytes);
    assert_eq!(
        stored.checksum_sha256,
        Some(base64::engine::general_purpose::STANDARD.encode(sha(&bytes)))
    );
    assert_eq!(blobs.get("signs/acme/s1/a/missing").await.unwrap(), None);
}

pub async fn a_blob_is_never_overwritten<B: BlobStore>(blobs: &B) {
    let first = Bytes::from_static(b"first");
    blobs
        .put_new(
            "signs/k",
            first.clone(),
            sha(&first),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let second = Bytes::from_static(b"second");
    assert!(
        blobs
            .put_new(
                "signs/k",
                second.clone(),
                sha(&second),
                "application/octet-stream"
            )
            .await
            .is_err()
    );
    assert_eq!(blobs.get("signs/k").await.unwrap().unwrap().bytes, first);
}

pub async fn deleted_blobs_are_gone_and_deleting_twice_is_fine<B: BlobStore>(blobs: &B) {
    let bytes = Bytes::from_static(b"x");
    let a = blobs
        .put_new(
            "signs/a",
            bytes.clone(),
            sha(&bytes),
            "application/octet-stream",
        )
        .await
        .unwrap();
    blobs
        .put_new(
            "signs/b",
            bytes.clone(),
            sha(&bytes),
            "application/octet-stream",
        )
        .await
        .unwrap();
    blobs
        .put_new(
            "other/c",
            bytes.clone(),
            sha(&bytes),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(
        blobs.list("signs/").await.unwrap(),
        vec!["signs/a".to_string(), "signs/b".to_string()]
    );
    blobs.remove(&a).await.unwrap();
    blobs.remove(&a).await.unwrap();
    assert_eq!(blobs.get("signs/a").await.unwrap(), None);
    assert_eq!(
        blobs.list("signs/").await.unwrap(),
        vec!["signs/b".to_string()]
    );
}
