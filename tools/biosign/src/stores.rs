//! The stores the tool works on. `--store` picks the backend in one place (`main`); everything
//! after that is generic over the store traits and holds a [`Stores`] of whichever it is.

use std::path::Path;

use anyhow::Context;
use biosign_shared::aws;
use biosign_shared::config;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::embedded::EmbeddedStore;
use biosign_shared::store::s3::S3BlobStore;

use crate::devkey::DevKey;

/// A sign store and a blob store of one backend.
#[derive(Debug, Clone)]
pub struct Stores<S, B> {
    pub signs: S,
    pub blobs: B,
}

impl Stores<EmbeddedStore, EmbeddedStore> {
    /// The SQLite database in `data_dir`, holding both signs and blobs.
    pub fn embedded(data_dir: &Path) -> anyhow::Result<Self> {
        let store = EmbeddedStore::open(data_dir)?;
        Ok(Self {
            signs: store.clone(),
            blobs: store,
        })
    }
}

impl Stores<DynamoSignStore, S3BlobStore> {
    /// The table and bucket that `lookup` names (TABLE_NAME, BUCKET_NAME, KMS_KEY_ID), through
    /// the AWS SDK's own configuration (AWS_ENDPOINT_URL included, for an emulator).
    pub async fn aws(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let table = config::required(&lookup, config::TABLE_NAME)?;
        let bucket = config::BucketConfig::from_lookup(lookup)?;
        let sdk = aws::load_config().await;
        Ok(Self {
            signs: DynamoSignStore::new(aws::dynamodb(&sdk), table),
            blobs: S3BlobStore::new(aws::s3(&sdk), bucket.bucket_name, bucket.kms_key_id),
        })
    }
}

/// What differs between backends beyond the store traits: preparing the stores (`biosign init`),
/// and whether `serve` should put a demo sign in them.
pub trait Provision {
    /// Creates what the stores need; says what is ready.
    fn provision(
        &self,
        key: &DevKey,
        data_dir: &Path,
    ) -> impl Future<Output = anyhow::Result<String>>;

    /// True for a local store with no sign yet: `serve` then creates a demo sign. A shared
    /// (AWS) store never gets one.
    fn wants_demo_sign(&self) -> impl Future<Output = anyhow::Result<bool>>;
}

impl Provision for Stores<EmbeddedStore, EmbeddedStore> {
    async fn provision(&self, key: &DevKey, data_dir: &Path) -> anyhow::Result<String> {
        Ok(format!(
            "embedded store ready at {}; dev key {} at {}",
            self.signs.path().display(),
            key.kid(),
            DevKey::path(data_dir).display()
        ))
    }

    async fn wants_demo_sign(&self) -> anyhow::Result<bool> {
        Ok(self.signs.count_signs().await? == 0)
    }
}

impl Provision for Stores<DynamoSignStore, S3BlobStore> {
    async fn provision(&self, _key: &DevKey, _data_dir: &Path) -> anyhow::Result<String> {
        self.signs
            .create_table()
            .await
            .context("creating the table")?;
        let region = aws::load_config().await.region().map(|r| r.to_string());
        self.blobs
            .create_bucket(region.as_deref())
            .await
            .context("creating the bucket")?;
        Ok(format!(
            "table {} and bucket {} created",
            self.signs.table(),
            self.blobs.bucket()
        ))
    }

    async fn wants_demo_sign(&self) -> anyhow::Result<bool> {
        Ok(false)
    }
}
