//! Trusted timestamps after a signature, on both stores, against a TSA on loopback: a granted
//! token becomes a TIMESTAMP event whose stored token OpenSSL accepts for the SIGN event's
//! digest; a TSA that fails in any way still leaves the signer their 204, and no TIMESTAMP.

use biosign::commands::{self, PendingTimestamp};
use biosign_e2e::tsa::{LoopbackTsa, TsaMode, unused_loopback_url};
use biosign_e2e::{Aws, Backend, Embedded, Signature, TestBlobs, TestEnv, TestSigns};
use biosign_shared::evidence::EventType;
use biosign_shared::service::{self, TimestampOutcome};
use biosign_shared::timestamp::{TrustedCerts, TsaClient, timestamp_token_key};

const ORG: &str = "acme";

async fn timestamped_after_the_signature(backend: impl Backend) {
    let tsa = LoopbackTsa::start().await;
    let env = TestEnv::start_with_tsa(backend, &tsa.url, &tsa.ca_pem()).await;
    let sign = env.create_sign(ORG, true, "P7D").await;
    let token = env.full_token(ORG);
    env.preview(ORG, &sign.sign_id, Some(&token))
        .await
        .assert_no_content();
    let signature = Signature::sample(7);
    env.sign(ORG, &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();

    let report = env.report(ORG, &sign.sign_id).await;
    assert!(report.chain.is_valid(), "{:?}", report.chain);
    let types: Vec<_> = report.events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [EventType::Preview, EventType::Sign, EventType::Timestamp]
    );
    let sign_digest = report.events[1].sha256();
    let event = &report.events[2];
    assert_eq!(event.imprint.as_deref(), Some(sign_digest.as_str()));
    assert_eq!(
        event.prev_event_sha256.as_deref(),
        Some(sign_digest.as_str())
    );
    assert_eq!(
        event.tsa_name.as_deref(),
        Some("CN=tsa.test,O=biosign tests")
    );
    assert_eq!(event.installation_id, None, "no request fields");
    assert_eq!(report.sign.timestamped_at, event.gen_time);
    let token_sha256 = event.token_sha256.clone().expect("token_sha256");
    let key = report.sign.key();
    let stored = env.blob(&timestamp_token_key(&key, &token_sha256)).await;
    assert_eq!(hex::encode(sha2_digest(&stored.bytes)), token_sha256);
    tsa.openssl_verify(&stored.bytes, &sign_digest)
        .unwrap_or_else(|e| panic!("openssl refuses the stored token: {e}"));

    // The receipt: three events, the head, the TSA's time.
    let got = env.get(ORG, &sign.sign_id, Some(&token)).await;
    assert_eq!(got.status, 200);
    let evidence = &got.body["evidence"];
    assert_eq!(evidence["events"], 3);
    assert_eq!(
        evidence["chain_sha256"],
        report.sign.last_event_sha256.clone().unwrap().as_str()
    );
    assert_eq!(
        evidence["timestamped_at"],
        biosign_shared::time::format(&event.gen_time.unwrap()).as_str()
    );

    // An identical retry adds nothing and asks the TSA nothing.
    let asked = tsa.requests();
    env.sign(ORG, &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
    assert_eq!(tsa.requests(), asked);
    assert_eq!(env.report(ORG, &sign.sign_id).await.events.len(), 3);
}

async fn timestamp_pending<S: TestSigns, B: TestBlobs>(
    env: &TestEnv<S, B>,
    tsa: &TsaClient,
) -> Vec<PendingTimestamp> {
    commands::timestamp_pending(&env.stores.signs, &env.stores.blobs, tsa, Some(ORG))
        .await
        .expect("timestamp-pending runs")
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

async fn a_failing_tsa_costs_no_204(backend: impl Backend) {
    let tsa = LoopbackTsa::start().await;
    let modes = [
        TsaMode::Down,
        TsaMode::Slow,
        TsaMode::BadStatus,
        TsaMode::WrongNonce,
        TsaMode::WrongImprint,
        TsaMode::UntrustedSigner,
    ];
    let env = TestEnv::start_with_tsa(backend.clone(), &tsa.url, &tsa.ca_pem()).await;
    let token = env.full_token(ORG);
    for mode in modes {
        tsa.set_mode(mode);
        let sign = env.create_sign(ORG, false, "P7D").await;
        let blobs_before = env.blob_keys().await.len();
        let asked = tsa.requests();
        env.sign(ORG, &sign.sign_id, &token, &Signature::sample(1))
            .await
            .assert_no_content();
        if mode != TsaMode::Down {
            // (A connection closed unanswered never reaches the handler's count.)
            assert_eq!(tsa.requests(), asked + 1, "{mode:?}: the TSA was asked");
        }
        let report = env.report(ORG, &sign.sign_id).await;
        assert!(report.chain.is_valid(), "{mode:?}");
        assert_eq!(report.events.len(), 1, "{mode:?}: no TIMESTAMP event");
        assert_eq!(report.sign.timestamped_at, None, "{mode:?}");
        assert_eq!(
            env.blob_keys().await.len(),
            blobs_before + 2,
            "{mode:?}: the signature's two blobs, no token"
        );
        let got = env.get(ORG, &sign.sign_id, Some(&token)).await;
        assert_eq!(got.body["evidence"]["events"], 1, "{mode:?}");
        assert_eq!(
            got.body["evidence"]["timestamped_at"],
            serde_json::Value::Null
        );
    }
    // Later, with the TSA fine again, timestamp-pending timestamps every one of them (the SIGN
    // event's digest as the imprint), and a second run finds nothing left.
    tsa.set_mode(TsaMode::Good);
    let client = TsaClient::new(&tsa.url, TrustedCerts::load(&tsa.ca_pem()).unwrap()).unwrap();
    let pending = timestamp_pending(&env, &client).await;
    assert_eq!(pending.len(), modes.len());
    for done in &pending {
        assert_eq!(done.result, "timestamped", "{done:?}");
        let report = env.report(ORG, &done.sign_id).await;
        assert!(report.chain.is_valid(), "{:?}", report.chain);
        let types: Vec<_> = report.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::Sign, EventType::Timestamp]);
        let sign_digest = report.events[0].sha256();
        let token_sha256 = report.events[1].token_sha256.clone().unwrap();
        let stored = env
            .blob(&timestamp_token_key(&report.sign.key(), &token_sha256))
            .await;
        tsa.openssl_verify(&stored.bytes, &sign_digest)
            .unwrap_or_else(|e| panic!("openssl refuses the token: {e}"));
    }
    assert!(timestamp_pending(&env, &client).await.is_empty());

    // Nothing listening at all.
    let unreachable = TestEnv::start_with_tsa(backend, &unused_loopback_url(), &tsa.ca_pem()).await;
    let sign = unreachable.create_sign(ORG, false, "P7D").await;
    let token = unreachable.full_token(ORG);
    unreachable
        .sign(ORG, &sign.sign_id, &token, &Signature::sample(2))
        .await
        .assert_no_content();
    assert_eq!(unreachable.report(ORG, &sign.sign_id).await.events.len(), 1);
}

/// The timestamp step decides on the record its caller holds (the SIGN's, as committed), without
/// reading it again. A caller holding a record that has moved on since (here: a second attempt
/// with the same record, after the first timestamped the sign) loses the conditional commit,
/// re-reads, finds the sign timestamped, and removes its own token: one TIMESTAMP, one token.
async fn a_held_record_that_moved_on_adds_nothing(backend: impl Backend) {
    let tsa = LoopbackTsa::start().await;
    tsa.set_mode(TsaMode::Down);
    let env = TestEnv::start_with_tsa(backend, &tsa.url, &tsa.ca_pem()).await;
    let sign = env.create_sign(ORG, false, "P7D").await;
    let token = env.full_token(ORG);
    env.sign(ORG, &sign.sign_id, &token, &Signature::sample(3))
        .await
        .assert_no_content();
    let held = env.report(ORG, &sign.sign_id).await.sign;
    let key = held.key();
    tsa.set_mode(TsaMode::Good);
    let client = TsaClient::new(&tsa.url, TrustedCerts::load(&tsa.ca_pem()).unwrap()).unwrap();
    let blobs_before = env.blob_keys().await.len();
    let attempt = || {
        service::timestamp_signature(
            &env.stores.signs,
            &env.stores.blobs,
            &client,
            &key,
            &held,
            tokio::time::Instant::now() + service::TIMESTAMP_BUDGET,
        )
    };
    assert_eq!(attempt().await.unwrap(), TimestampOutcome::Timestamped);
    assert_eq!(
        attempt().await.unwrap(),
        TimestampOutcome::AlreadyTimestamped
    );
    assert_eq!(tsa.requests(), 2, "both attempts asked the TSA");

    let report = env.report(ORG, &sign.sign_id).await;
    assert!(report.chain.is_valid(), "{:?}", report.chain);
    let types: Vec<_> = report.events.iter().map(|e| e.event_type).collect();
    assert_eq!(types, [EventType::Sign, EventType::Timestamp]);
    assert_eq!(report.sign.version, held.version + 1);
    let token_sha256 = report.events[1].token_sha256.clone().unwrap();
    let keys = env.blob_keys().await;
    assert_eq!(keys.len(), blobs_before + 1, "one token kept: {keys:?}");
    assert!(keys.contains(&timestamp_token_key(&key, &token_sha256)));
}

#[tokio::test]
async fn a_held_record_that_moved_on_on_the_embedded_store() {
    a_held_record_that_moved_on_adds_nothing(Embedded).await;
}

#[tokio::test]
async fn a_held_record_that_moved_on_on_dynamodb_and_s3() {
    a_held_record_that_moved_on_adds_nothing(Aws { kms_key_id: None }).await;
}

#[tokio::test]
async fn timestamped_on_the_embedded_store() {
    timestamped_after_the_signature(Embedded).await;
}

#[tokio::test]
async fn timestamped_on_dynamodb_and_s3() {
    timestamped_after_the_signature(Aws { kms_key_id: None }).await;
}

#[tokio::test]
async fn a_failing_tsa_on_the_embedded_store() {
    a_failing_tsa_costs_no_204(Embedded).await;
}

#[tokio::test]
async fn a_failing_tsa_on_dynamodb_and_s3() {
    a_failing_tsa_costs_no_204(Aws { kms_key_id: None }).await;
}
