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
                contract::created_sign_reads_back_identical(&$make.await).await;
            }
            #[tokio::test]
            async fn missing_sign_reads_as_none_even_from_another_org() {
                contract::missing_sign_reads_as_none_even_from_another_org(&$make.await).await;
            }
            #[tokio::test]
            async fn creating_an_existing_sign_conflicts_and_keeps_the_original() {
                contract::creating_an_existing_sign_conflicts_and_keeps_the_original(&$make.await)
                    .await;
            }
            #[tokio::test]
            async fn commit_at_the_expected_version_replaces_the_sign_and_appends_the_event() {
                contract::commit_at_the_expected_version_replaces_the_sign_and_appends_the_event(
                    &$make.await,
                )
                .await;
            }
            #[tokio::test]
            async fn commit_at_a_stale_version_conflicts_and_writes_nothing() {
                contract::commit_at_a_stale_version_conflicts_and_writes_nothing(&$make.await)
                    .await;
            }
            #[tokio::test]
            async fn an_existing_event_is_never_overwritten_and_the_sign_stays_unchanged() {
                contract::an_existing_event_is_never_overwritten_and_the_sign_stays_unchanged(
                    &$make.await,
                )
                .await;
            }
            #[tokio::test]
            async fn commit_on_a_missing_sign_conflicts_and_creates_nothing() {
                contract::commit_on_a_missing_sign_conflicts_and_creates_nothing(&$make.await)
                    .await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn of_concurrent_commits_at_one_version_exactly_one_wins() {
                contract::of_concurrent_commits_at_one_version_exactly_one_wins(Arc::new(
                    $make.await,
                ))
                .await;
            }
            #[tokio::test]
            async fn events_list_in_seq_order() {
                contract::events_list_in_seq_order(&$make.await).await;
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
                contract::blobs_read_back_with_their_checksum(&$make.await).await;
            }
            #[tokio::test]
            async fn a_blob_is_never_overwritten() {
                contract::a_blob_is_never_overwritten(&$make.await).await;
            }
            #[tokio::test]
            async fn deleted_blobs_are_gone_and_deleting_twice_is_fine() {
                contract::deleted_blobs_are_gone_and_deleting_twice_is_fine(&$make.await).await;
            }
        }
    };
}

async fn memory() -> MemoryStore {
    MemoryStore::new()
}

/// A fresh SQLite store; its directory lives as long as the test process (cleaned by the OS).
async fn embedded() -> EmbeddedStore {
    let dir = tempfile::tempdir().unwrap().keep();
    EmbeddedStore::open(&dir).unwrap()
}

async fn dynamodb() -> biosign_shared::store::dynamo::DynamoSignStore {
    biosign_e2e::fresh_aws_stores(None).await.0
}

async fn s3() -> biosign_shared::store::s3::S3BlobStore {
    biosign_e2e::fresh_aws_stores(None).await.1
}

sign_store_suite!(memory_signs, memory());
sign_store_suite!(embedded_signs, embedded());
sign_store_suite!(dynamodb_signs, dynamodb());
blob_store_suite!(memory_blobs, memory());
blob_store_suite!(embedded_blobs, embedded());
blob_store_suite!(s3_blobs, s3());
