//! The service on DynamoDB + S3 with a [`FaultProxy`] on the wire: `biosign serve`'s API, built
//! as `biosign serve --store aws` builds it against AWS (the production SDK configuration, with
//! AWS's timeouts and retries, not an emulator's), with its endpoint at the proxy; the test's own
//! view of the stores ([`TestEnv::stores`]) goes straight to moto.

use std::sync::Arc;

use biosign::devkey::DevKey;
use biosign::server;
use biosign::stores::Stores;
use biosign::sweep::{self, SweepOptions, SweepReport};
use biosign_shared::aws;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::faults::{FaultSwitches, Faulty};
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobInventory, BlobVersion};
use biosign_shared::timestamp::TsaClient;

use crate::AwsEnv;
use crate::fault_proxy::FaultProxy;
use crate::harness::serve_api;

/// Set by `scripts/test` to a moto of the wire tests' own, so that the rest of the suite's load
/// does not slow the calls the proxy times; without it, the shared moto is used.
pub const WIRE_MOTO_URL_VAR: &str = "BIOSIGN_TEST_WIRE_MOTO_URL";

/// The moto the wire tests use.
pub fn wire_moto_url() -> String {
    std::env::var(WIRE_MOTO_URL_VAR).unwrap_or_else(|_| crate::moto_url())
}

/// A table and a bucket in moto, shared by scenarios that run side by side on signs of their
/// own organizations.
#[derive(Clone)]
pub struct AwsStores {
    pub signs: DynamoSignStore,
    pub blobs: S3BlobStore,
}

impl AwsStores {
    /// A fresh table and bucket in [`wire_moto_url`]'s moto.
    pub async fn fresh() -> Self {
        Self::fresh_with_kms(None).await
    }

    /// As [`AwsStores::fresh`], objects written with the KMS key `kms_key_id` (SSE-KMS with an
    /// S3 Bucket Key, as deployed), or with SSE-S3 without one.
    pub async fn fresh_with_kms(kms_key_id: Option<&str>) -> Self {
        let sdk = aws::load_config_at(&wire_moto_url()).await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let signs = DynamoSignStore::new(aws::dynamodb(&sdk), format!("biosign-wire-{id}"));
        signs.create_table().await.expect("create table in moto");
        let blobs = S3BlobStore::new(
            aws::s3(&sdk),
            format!("biosign-wire-{}", &id[..24]),
            kms_key_id.map(str::to_owned),
        );
        blobs
            .create_bucket(Some("us-east-1"))
            .await
            .expect("create bucket in moto");
        Self { signs, blobs }
    }

    /// Every stored version under `prefix`, delete markers included.
    pub async fn versions(&self, prefix: &str) -> Vec<BlobVersion> {
        self.blobs
            .list_versions(prefix)
            .await
            .expect("list blob versions")
    }

    /// `biosign sweep-orphans` on `prefix`, counting every blob as old.
    pub async fn sweep(&self, prefix: &str, dry_run: bool) -> SweepReport {
        let options = SweepOptions {
            prefix: prefix.to_owned(),
            cutoff: biosign_shared::time::now() + chrono::Duration::seconds(5),
            dry_run,
        };
        sweep::sweep_orphans(&self.signs, &self.blobs, &options)
            .await
            .expect("sweep")
    }
}

impl AwsEnv {
    /// A server whose DynamoDB and S3 clients reach `aws`'s table and bucket through `proxy`.
    pub async fn start_behind_proxy(proxy: &FaultProxy, aws: &AwsStores) -> Self {
        Self::start_behind_proxy_with_tsa(proxy, aws, None).await
    }

    /// As [`AwsEnv::start_behind_proxy`], with accepted signatures timestamped by `tsa` (the
    /// TSA is reached directly, not through the proxy).
    pub async fn start_behind_proxy_with_tsa(
        proxy: &FaultProxy,
        aws: &AwsStores,
        tsa: Option<TsaClient>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(data_dir.path()).expect("dev key");
        let switches = Arc::new(FaultSwitches::default());
        let sdk = aws::load_config_at(&proxy.url()).await;
        let served_signs = DynamoSignStore::new(
            aws::dynamodb_with(&sdk, aws::DYNAMODB_LIMITS),
            aws.signs.table(),
        );
        let served_blobs = S3BlobStore::new(
            aws::s3_with(&sdk, aws::S3_LIMITS),
            aws.blobs.bucket(),
            aws.blobs.kms_key_id().map(str::to_owned),
        );
        let (base_url, stop) = serve_api(
            served_signs,
            served_blobs,
            &key,
            tsa,
            server::ServerLimits::default(),
        )
        .await;
        Self {
            base_url,
            http: reqwest::Client::new(),
            key,
            stores: Stores {
                signs: Faulty {
                    inner: aws.signs.clone(),
                    switches: Arc::clone(&switches),
                },
                blobs: Faulty {
                    inner: aws.blobs.clone(),
                    switches: Arc::clone(&switches),
                },
            },
            switches,
            data_dir,
            _stop: stop,
        }
    }
}
