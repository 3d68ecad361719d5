//! S3 adapter for the decoded biometric data and signature image.
//!
//! Every object is written once, under a key that is never reused (`If-None-Match: *` makes S3
//! refuse an overwrite), with its SHA-256 for S3 to verify, and encrypted at rest: with the
//! configured KMS key (`aws:kms`), or S3-managed keys (`AES256`) when none is configured.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use base64::Engine as _;
use bytes::Bytes;

use super::{BlobInventory, BlobStore, BlobVersion, StoreError, StoredBlob, WrittenBlob};
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    kms_key_id: Option<String>,
}

fn sdk_error<E: std::error::Error + 'static>(operation: &str, e: E) -> StoreError {
    StoreError::new(format!("s3 {operation}: {}", DisplayErrorContext(e)))
}

fn timestamp(
    operation: &str,
    value: Option<&aws_sdk_s3::primitives::DateTime>,
) -> Result<Timestamp, StoreError> {
    value
        .and_then(|t| Timestamp::from_timestamp(t.secs(), t.subsec_nanos()))
        .ok_or_else(|| StoreError::new(format!("s3 {operation}: a version without LastModified")))
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::new(e.to_string()))
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>, kms_key_id: Option<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            kms_key_id,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The KMS key objects are written with (an S3 Bucket Key on); `None`: SSE-S3 (AES256).
    pub fn kms_key_id(&self) -> Option<&str> {
        self.kms_key_id.as_deref()
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket as `template.yaml` declares it (public access blocked, owner-enforced
    /// ownership, versioning, default encryption), for `biosign init`.
    pub async fn create_bucket(&self, region: Option<&str>) -> Result<(), StoreError> {
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        if let Some(region) = region.filter(|r| *r != "us-east-1") {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(region.into())
                    .build(),
            );
        }
        create
            .send()
            .await
            .map_err(|e| sdk_error("CreateBucket", e))?;
        self.client
            .put_public_access_block()
            .bucket(&self.bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .block_public_policy(true)
                    .ignore_public_acls(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("PutPublicAccessBlock", e))?;
        self.client
            .put_bucket_ownership_controls()
            .bucket(&self.bucket)
            .ownership_controls(built(
                OwnershipControls::builder()
                    .rules(built(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build(),
                    )?)
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| sdk_error("PutBucketOwnershipControls", e))?;
        self.client
            .put_bucket_versioning()
            .bucket(&self.bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("PutBucketVersioning", e))?;
        let default = match &self.kms_key_id {
            Some(key) => ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(key),
            None => {
                ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256)
            }
        };
        self.client
            .put_bucket_encryption()
            .bucket(&self.bucket)
            .server_side_encryption_configuration(built(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(built(default.build())?)
                            .bucket_key_enabled(true)
                            .build(),
                    )
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| sdk_error("PutBucketEncryption", e))?;
        Ok(())
    }
}

impl BlobStore for S3BlobStore {
    async fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        sha256: [u8; 32],
        content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            // Given explicitly, the digest is sent as x-amz-checksum-sha256 and S3 rejects a body
            // that does not match it (and keeps it for later reads).
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(sha256))
            .if_none_match("*")
            .body(ByteStream::from(bytes));
        request = match &self.kms_key_id {
            Some(kms) => request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms)
                .bucket_key_enabled(true),
            None => request.server_side_encryption(ServerSideEncryption::Aes256),
        };
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error("PutObject", e))?;
        Ok(WrittenBlob {
            key: key.to_owned(),
            version_id: output.version_id,
        })
    }

    async fn remove(&self, blob: &WrittenBlob) -> Result<(), StoreError> {
        // With the version id, S3 deletes that version permanently; without one (an unversioned
        // bucket) the plain delete removes the object.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&blob.key)
            .set_version_id(blob.version_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("DeleteObject", e))
    }

    async fn get(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(sdk_error("GetObject", e)),
        };
        let checksum_sha256 = output.checksum_sha256.clone();
        let encryption = output
            .server_side_encryption
            .as_ref()
            .map(|s| s.as_str().to_owned());
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::new(format!("s3 GetObject body: {e}")))?
            .into_bytes();
        Ok(Some(StoredBlob {
            bytes,
            checksum_sha256,
            encryption,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListObjectVersions", e))?;
            keys.extend(
                output
                    .versions()
                    .iter()
                    .filter_map(|v| v.key().map(str::to_owned)),
            );
            match output.next_key_marker {
                Some(next) if output.is_truncated == Some(true) => token = Some(next),
                _ => break,
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl BlobInventory for S3BlobStore {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<BlobVersion>, StoreError> {
        const OPERATION: &str = "ListObjectVersions";
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let output = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| sdk_error(OPERATION, e))?;
            for version in output.versions() {
                let Some(key) = version.key() else { continue };
                found.push(BlobVersion {
                    key: key.to_owned(),
                    version_id: version.version_id().map(str::to_owned),
                    written_at: timestamp(OPERATION, version.last_modified())?,
                    delete_marker: false,
                });
            }
            for marker in output.delete_markers() {
                let Some(key) = marker.key() else { continue };
                found.push(BlobVersion {
                    key: key.to_owned(),
                    version_id: marker.version_id().map(str::to_owned),
                    written_at: timestamp(OPERATION, marker.last_modified())?,
                    delete_marker: true,
                });
            }
            if output.is_truncated != Some(true) {
                break;
            }
            // A page can end inside one key's versions: both markers say where to go on.
            key_marker = output.next_key_marker;
            version_marker = output.next_version_id_marker;
            if key_marker.is_none() {
                return Err(StoreError::new(format!(
                    "s3 {OPERATION}: a truncated page without a marker"
                )));
            }
        }
        found.sort_by(|a, b| (&a.key, a.written_at).cmp(&(&b.key, b.written_at)));
        Ok(found)
    }

    async fn remove_version(&self, version: &BlobVersion) -> Result<(), StoreError> {
        // With a version id (a delete marker's included) S3 removes exactly that version, for
        // good; a plain delete would only add a delete marker.
        self.remove(&WrittenBlob {
            key: version.key.clone(),
            version_id: version.version_id.clone(),
        })
        .await
    }
}
