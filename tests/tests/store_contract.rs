//! Every storage adapter passes the same contract, each test on a fresh store.

use std::sync::Arc;

use biosign_e2e::store_contract as contract;
use biosign_shared::store::embedded::EmbeddedStore;
use biosign_shared::store::memory::MemoryStore;

macro_rules! sign_store_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn created_sign_reads_back_identical() {
                let (store, _dir) = $make.await;
                contract::created_sign_reads_back_identical(&store).await;
            }
            #[tokio::test]
            async fn missing_sign_reads_as_none_even_from_another_org() {
                let (store, _dir) = $make.await;
                contract::missing_sign_reads_as_none_even_from_another_org(&store).await;
            }
            #[tokio::test]
            async fn creating_an_existing_sign_conflicts_and_keeps_the_original() {
                let (store, _dir) = $make.await;
                contract::creating_an_existing_sign_conflicts_and_keeps_the_original(&store).await;
            }
            #[tokio::test]
            async fn commit_at_the_expected_version_replaces_the_sign_and_appends_the_event() {
                let (store, _dir) = $make.await;
                contract::commit_at_the_expected_version_replaces_the_sign_and_appends_the_event(
                    &store,
                )
                .await;
            }
            #[tokio::test]
            async fn commit_at_a_stale_version_conflicts_and_writes_nothing() {
                let (store, _dir) = $make.await;
                contract::commit_at_a_stale_version_conflicts_and_writes_nothing(&store).await;
            }
            #[tokio::test]
            async fn an_existing_event_is_never_overwritten_and_the_sign_stays_unchanged() {
                let (store, _dir) = $make.await;
                contract::an_existing_event_is_never_overwritten_and_the_sign_stays_unchanged(
                    &store,
                )
                .await;
            }
            #[tokio::test]
            async fn commit_on_a_missing_sign_conflicts_and_creates_nothing() {
                let (store, _dir) = $make.await;
                contract::commit_on_a_missing_sign_conflicts_and_creates_nothing(&store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn of_concurrent_commits_at_one_version_exactly_one_wins() {
                let (store, _dir) = $make.await;
                contract::of_concurrent_commits_at_one_version_exactly_one_wins(Arc::new(store))
                    .await;
            }
            #[tokio::test]
            async fn events_list_in_seq_order() {
                let (store, _dir) = $make.await;
                contract::events_list_in_seq_order(&store).await;
            }
            #[tokio::test]
            async fn signed_and_timestamped_events_read_back_exactly_and_signs_list_by_org() {
                let (store, _dir) = $make.await;
                contract::signed_and_timestamped_events_read_back_exactly_and_signs_list_by_org(
                    &store,
                )
                .await;
            }
        }
    };
}

macro_rules! blob_store_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn blobs_read_back_with_their_checksum() {
                let (store, _dir) = $make.await;
                contract::blobs_read_back_with_their_checksum(&store).await;
            }
            #[tokio::test]
            async fn a_blob_is_never_overwritten() {
                let (store, _dir) = $make.await;
                contract::a_blob_is_never_overwritten(&store).await;
            }
            #[tokio::test]
            async fn deleted_blobs_are_gone_and_deleting_twice_is_fine() {
                let (store, _dir) = $make.await;
                contract::deleted_blobs_are_gone_and_deleting_twice_is_fine(&store).await;
            }
        }
    };
}

// Each maker returns a fresh store and what must live as long as the test (the SQLite store's
// directory, removed when the test ends).

async fn memory() -> (MemoryStore, ()) {
    (MemoryStore::new(), ())
}

async fn embedded() -> (EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (EmbeddedStore::open(dir.path()).unwrap(), dir)
}

async fn dynamodb() -> (biosign_shared::store::dynamo::DynamoSignStore, ()) {
    (biosign_e2e::fresh_aws_stores(None).await.0, ())
}

async fn s3() -> (biosign_shared::store::s3::S3BlobStore, ()) {
    (biosign_e2e::fresh_aws_stores(None).await.1, ())
}

/// DynamoDB answering for a table that does not exist.
#[tokio::test]
async fn dynamodb_failures_that_are_not_races_are_store_errors() {
    let (signs, ()) = dynamodb().await;
    let missing = biosign_shared::store::dynamo::DynamoSignStore::new(
        signs.client().clone(),
        format!("{}-missing", signs.table()),
    );
    contract::failures_that_are_not_races_are_store_errors(&missing).await;
}

// What only the embedded store does: its directory's permissions, its schema's migration, and
// the count `serve` uses to seed a demo sign.

#[cfg(unix)]
#[tokio::test]
async fn the_embedded_stores_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let mode = |dir: &std::path::Path| std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    let fresh = parent.path().join("fresh");
    EmbeddedStore::open(&fresh).unwrap();
    assert_eq!(mode(&fresh), 0o700);
    let shared = parent.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    EmbeddedStore::open(&shared).unwrap();
    assert_eq!(
        mode(&shared),
        0o700,
        "an existing directory is narrowed too"
    );
}

#[tokio::test]
async fn an_embedded_database_from_before_blob_write_times_gets_them_as_of_its_opening() {
    use biosign_shared::store::BlobInventory;
    let dir = tempfile::tempdir().unwrap();
    let old = rusqlite::Connection::open(
        dir.path()
            .join(biosign_shared::store::embedded::DATABASE_FILE),
    )
    .unwrap();
    old.execute_batch(
        "CREATE TABLE blobs (key TEXT PRIMARY KEY, bytes BLOB NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL);
         INSERT INTO blobs VALUES ('signs/acme/s/image.png', x'00', 'aa', 'image/png');",
    )
    .unwrap();
    drop(old);
    let before = biosign_shared::time::now() - chrono::Duration::seconds(1);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let versions = store.list_versions("signs/").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].key, "signs/acme/s/image.png");
    assert!(versions[0].written_at >= before, "{versions:?}");
    // Opening it again keeps the time it was given.
    drop(store);
    let again = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(again.list_versions("signs/").await.unwrap(), versions);
}

#[tokio::test]
async fn the_embedded_store_counts_its_signs_and_shows_where_it_is() {
    use biosign_shared::store::SignAdmin;
    let (store, _dir) = embedded().await;
    assert_eq!(store.count_signs().await.unwrap(), 0);
    for org in ["acme", "globex"] {
        store.create_sign(&contract::new_sign(org)).await.unwrap();
    }
    assert_eq!(store.count_signs().await.unwrap(), 2);
    // What a log shows of it: where it is.
    let debug = format!("{store:?}");
    assert!(debug.starts_with("EmbeddedStore {"), "{debug}");
    assert!(
        debug.contains(&store.path().display().to_string()),
        "{debug}"
    );
}

sign_store_suite!(memory_signs, memory());
sign_store_suite!(embedded_signs, embedded());
sign_store_suite!(dynamodb_signs, dynamodb());
blob_store_suite!(memory_blobs, memory());
blob_store_suite!(embedded_blobs, embedded());
blob_store_suite!(s3_blobs, s3());
