//! `biosign sweep-orphans` on both stores: an orphan older than the cutoff goes, every version
//! of it; a referenced blob, a young orphan, a blob whose sign has no record and a key of another
//! layout stay; a dry run changes nothing; a second sweep finds nothing.

use std::collections::BTreeSet;

use biosign::sweep::{SweepOptions, sweep_orphans};
use biosign_e2e::{Aws, Embedded, Signature, TestBlobs, TestEnv, TestSigns};
use biosign_shared::store::{BlobInventory, BlobStore, SignReader, WrittenBlob};
use biosign_shared::time::Timestamp;
use bytes::Bytes;
use sha2::{Digest, Sha256};

async fn put<B: BlobStore>(blobs: &B, key: &str) {
    let bytes = Bytes::from(format!("stray bytes of {key}"));
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    blobs
        .put_new(key, bytes, digest, "application/octet-stream")
        .await
        .expect("put a blob");
}

fn attempt_key(sign_id: &str, file: &str) -> String {
    format!("signs/acme/{sign_id}/{}/{file}", uuid::Uuid::new_v4())
}

async fn keys<B: BlobInventory>(blobs: &B) -> BTreeSet<String> {
    blobs
        .list_versions("signs/")
        .await
        .expect("list versions")
        .into_iter()
        .map(|v| v.key)
        .collect()
}

async fn sweep<S: SignReader, B: BlobInventory>(
    signs: &S,
    blobs: &B,
    cutoff: Timestamp,
    dry_run: bool,
) -> biosign::sweep::SweepReport {
    let options = SweepOptions {
        prefix: "signs/".into(),
        cutoff,
        dry_run,
    };
    sweep_orphans(signs, blobs, &options).await.expect("sweep")
}

async fn only_old_unreferenced_blobs_of_existing_signs_are_removed<S, B>(
    env: &TestEnv<impl TestSigns, impl TestBlobs>,
    signs: &S,
    blobs: &B,
    versioned: bool,
) where
    S: SignReader,
    B: BlobStore + BlobInventory,
{
    let token = env.full_token("acme");
    let signed = env.create_sign("acme", false, "P7D").await;
    let signature = Signature::sample(1);
    env.sign("acme", &signed.sign_id, &token, &signature)
        .await
        .assert_no_content();
    let referenced = env
        .report("acme", &signed.sign_id)
        .await
        .sign
        .blobs
        .expect("signed");
    let pending = env.create_sign("acme", false, "P7D").await;

    let stray_of_signed = attempt_key(&signed.sign_id, "biometric_data.bin");
    let stray_of_pending = attempt_key(&pending.sign_id, "signature_image.png");
    let without_sign = attempt_key(&uuid::Uuid::new_v4().to_string(), "biometric_data.bin");
    let unrecognised = "signs/acme/loose.bin".to_owned();
    for key in [
        &stray_of_signed,
        &stray_of_pending,
        &without_sign,
        &unrecognised,
    ] {
        put(blobs, key).await;
    }
    let mut stray_versions = 1;
    if versioned {
        // A plain delete only hides the object behind a delete marker, and the key can be written
        // again: three versions, which must all go.
        blobs
            .remove(&WrittenBlob {
                key: stray_of_signed.clone(),
                version_id: None,
            })
            .await
            .expect("plain delete");
        put(blobs, &stray_of_signed).await;
        stray_versions = 3;
    }
    // Stores date versions to the second at worst: the young orphan is written a second later.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let young = attempt_key(&pending.sign_id, "biometric_data.bin");
    put(blobs, &young).await;

    let before = blobs.list_versions("signs/").await.unwrap();
    let cutoff = before
        .iter()
        .find(|v| v.key == young)
        .expect("the young orphan is listed")
        .written_at;
    assert!(
        before
            .iter()
            .filter(|v| v.key != young)
            .all(|v| v.written_at < cutoff),
        "the other blobs are older than the young orphan: {before:?}"
    );
    assert_eq!(
        before.iter().filter(|v| v.key == stray_of_signed).count(),
        stray_versions
    );

    let listed = sweep(signs, blobs, cutoff, true).await;
    assert!(listed.dry_run);
    assert_eq!(listed.keys_scanned, 7);
    assert_eq!(listed.versions_scanned, before.len());
    assert_eq!(
        listed.orphan_keys().into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([stray_of_signed.as_str(), stray_of_pending.as_str()])
    );
    let of_signed = listed
        .orphans
        .iter()
        .find(|o| o.key == stray_of_signed)
        .unwrap();
    assert_eq!(of_signed.versions.len(), stray_versions);
    assert_eq!(
        (of_signed.org_id.as_str(), of_signed.sign_id.as_str()),
        ("acme", signed.sign_id.as_str())
    );
    assert!(listed.removed().is_empty(), "a dry run removes nothing");
    assert_eq!(listed.kept.referenced, 2);
    assert_eq!(listed.kept.young, 1);
    assert_eq!(listed.kept.without_sign, vec![without_sign.clone()]);
    assert_eq!(listed.kept.unrecognised, vec![unrecognised.clone()]);
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    assert_eq!(blobs.list_versions("signs/").await.unwrap(), before);

    let swept = sweep(signs, blobs, cutoff, false).await;
    assert_eq!(swept.orphan_keys(), listed.orphan_keys());
    assert_eq!(swept.removed().len(), stray_versions + 1);
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    assert_eq!(
        keys(blobs).await,
        BTreeSet::from([
            referenced.biometric_data.clone(),
            referenced.signature_image.clone(),
            young.clone(),
            without_sign,
            unrecognised,
        ]),
        "every version of each orphan is gone, and nothing else"
    );
    let image = blobs
        .get(&referenced.signature_image)
        .await
        .unwrap()
        .expect("the referenced image is kept");
    assert_eq!(&image.bytes[..], &signature.image[..]);

    let again = sweep(signs, blobs, cutoff, false).await;
    assert!(again.orphans.is_empty(), "{:?}", again.orphans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_the_embedded_store() {
    let env = TestEnv::start(Embedded).await;
    only_old_unreferenced_blobs_of_existing_signs_are_removed(
        &env,
        &env.stores.signs.inner,
        &env.stores.blobs.inner,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_dynamodb_and_s3() {
    let env = TestEnv::start(Aws { kms_key_id: None }).await;
    only_old_unreferenced_blobs_of_existing_signs_are_removed(
        &env,
        &env.stores.signs.inner,
        &env.stores.blobs.inner,
        true,
    )
    .await;
}

/// A store error on a sign keeps its blobs and is reported; the sweep goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_that_cannot_be_read_keeps_its_blobs() {
    struct Unreadable;
    impl SignReader for Unreadable {
        async fn get_sign(
            &self,
            _: &biosign_shared::ids::SignKey,
        ) -> Result<Option<biosign_shared::model::SignRecord>, biosign_shared::store::StoreError>
        {
            Err(biosign_shared::store::StoreError::new(
                "the table is unreachable",
            ))
        }
    }
    let env = TestEnv::start(Embedded).await;
    let store = &env.stores.blobs;
    let sign = env.create_sign("acme", false, "P7D").await;
    let stray = attempt_key(&sign.sign_id, "biometric_data.bin");
    put(&store.inner, &stray).await;
    let report = sweep(
        &Unreadable,
        &store.inner,
        biosign_shared::time::now() + chrono::Duration::seconds(5),
        false,
    )
    .await;
    assert!(report.orphans.is_empty());
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].key, stray);
    assert!(report.errors[0].error.contains("the table is unreachable"));
    assert!(keys(&store.inner).await.contains(&stray));
}
