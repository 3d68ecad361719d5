//! The stores as an attacker or an auditor with direct access sees them: changing or removing an
//! evidence event behind the service's back, reading what a store recorded about a blob, and
//! every byte a store holds. One implementation per backend; everything else in the tests is
//! generic over the store traits.

use std::future::Future;
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::embedded::EmbeddedStore;
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobStore, StoredBlob};

use crate::harness::TestEnv;

/// A sign store, reached around the service.
pub trait SignBackDoor: Send + Sync {
    /// Sets `field` of the stored event `seq` of a sign to the string `value`.
    fn set_event_field(
        &self,
        org: &str,
        sign_id: &str,
        seq: u64,
        field: &str,
        value: &str,
    ) -> impl Future<Output = ()> + Send;

    /// Removes the stored event `seq` of a sign.
    fn delete_event(&self, org: &str, sign_id: &str, seq: u64) -> impl Future<Output = ()> + Send;

    /// Every byte sequence the store holds, as named chunks (`data_dir`: the test's data
    /// directory, where a local store keeps its files).
    fn stored_bytes(&self, data_dir: &Path) -> impl Future<Output = Vec<(String, Vec<u8>)>> + Send;
}

/// A blob store, reached around the service.
pub trait BlobBackDoor: Send + Sync {
    /// The content type the store recorded for the blob `key`.
    fn content_type(&self, key: &str) -> impl Future<Output = String> + Send;

    /// Every byte sequence the store holds that [`SignBackDoor::stored_bytes`] does not already
    /// cover, as named chunks.
    fn stored_bytes(&self) -> impl Future<Output = Vec<(String, Vec<u8>)>> + Send;
}

/// The stores behind a [`TestEnv`]'s server, reached around it.
impl<S: SignBackDoor, B: BlobStore> TestEnv<S, B> {
    /// Every blob key in the blob store.
    pub async fn blob_keys(&self) -> Vec<String> {
        self.stores.blobs.list("").await.expect("list blobs")
    }

    pub async fn blob(&self, key: &str) -> StoredBlob {
        self.stores
            .blobs
            .get(key)
            .await
            .expect("get blob")
            .unwrap_or_else(|| panic!("blob {key} is missing"))
    }

    /// Changes a field of a stored event behind the service's back, as an attacker with write
    /// access to the store would.
    pub async fn tamper_event(&self, org: &str, sign_id: &str, seq: u64) {
        self.stores
            .signs
            .inner
            .set_event_field(org, sign_id, seq, "fingerprint", "forged")
            .await;
    }

    /// Removes a stored event behind the service's back.
    pub async fn delete_event(&self, org: &str, sign_id: &str, seq: u64) {
        self.stores
            .signs
            .inner
            .delete_event(org, sign_id, seq)
            .await;
    }
}

impl SignBackDoor for EmbeddedStore {
    async fn set_event_field(&self, org: &str, sign_id: &str, seq: u64, field: &str, value: &str) {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        conn.execute_batch("DROP TRIGGER IF EXISTS events_are_immutable")
            .unwrap();
        let changed = conn
            .execute(
                &format!(
                    "UPDATE events SET event = json_set(event, '$.{field}', ?1) WHERE org_id = ?2 AND sign_id = ?3 AND seq = ?4"
                ),
                rusqlite::params![value, org, sign_id, seq as i64],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    async fn delete_event(&self, org: &str, sign_id: &str, seq: u64) {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        conn.execute_batch("DROP TRIGGER IF EXISTS events_are_permanent")
            .unwrap();
        let deleted = conn
            .execute(
                "DELETE FROM events WHERE org_id = ?1 AND sign_id = ?2 AND seq = ?3",
                rusqlite::params![org, sign_id, seq as i64],
            )
            .unwrap();
        assert_eq!(deleted, 1);
    }

    /// Every file in the data directory: the database, its journal, the keys.
    async fn stored_bytes(&self, data_dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        collect_files(data_dir, &mut files);
        assert!(
            files.iter().any(|(name, _)| name.ends_with(".sqlite3")),
            "the database is among the files: {:?}",
            files.iter().map(|(name, _)| name).collect::<Vec<_>>()
        );
        files
    }
}

impl BlobBackDoor for EmbeddedStore {
    async fn content_type(&self, key: &str) -> String {
        let conn = rusqlite::Connection::open(self.path()).expect("open the database");
        conn.query_row(
            "SELECT content_type FROM blobs WHERE key = ?1",
            [key],
            |row| row.get(0),
        )
        .expect("the blob's row")
    }

    /// Nothing more: the blobs are in the database, among the files of the data directory.
    async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
}

impl SignBackDoor for DynamoSignStore {
    async fn set_event_field(&self, org: &str, sign_id: &str, seq: u64, field: &str, value: &str) {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(DynamoSignStore::event_key(org, sign_id, seq)))
            .update_expression("SET #field = :value")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":value", AttributeValue::S(value.into()))
            .send()
            .await
            .unwrap();
    }

    async fn delete_event(&self, org: &str, sign_id: &str, seq: u64) {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(DynamoSignStore::event_key(org, sign_id, seq)))
            .send()
            .await
            .unwrap();
    }

    /// Every string and binary value of every item in the table.
    async fn stored_bytes(&self, _data_dir: &Path) -> Vec<(String, Vec<u8>)> {
        let items = self
            .client()
            .scan()
            .table_name(self.table())
            .send()
            .await
            .expect("scan the table");
        let mut chunks = Vec::new();
        for (i, item) in items.items().iter().enumerate() {
            for (name, value) in item {
                let mut bytes = Vec::new();
                attribute_bytes(value, &mut bytes);
                chunks.push((format!("item {i} attribute {name}"), bytes));
            }
        }
        chunks
    }
}

impl BlobBackDoor for S3BlobStore {
    async fn content_type(&self, key: &str) -> String {
        self.client()
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .expect("head the object")
            .content_type
            .expect("a content type")
    }

    /// Every version of every object in the bucket.
    async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let (client, bucket) = (self.client(), self.bucket());
        let listed = client
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .expect("list the object versions");
        assert_ne!(listed.is_truncated(), Some(true), "one page holds them all");
        let mut chunks = Vec::new();
        for version in listed.versions() {
            let (key, id) = (version.key().expect("a key"), version.version_id());
            let object = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(id.map(str::to_owned))
                .send()
                .await
                .expect("get an object version");
            let bytes = object.body.collect().await.expect("the body").into_bytes();
            chunks.push((
                format!("s3://{bucket}/{key} version {id:?}"),
                bytes.to_vec(),
            ));
        }
        chunks
    }
}

fn collect_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read the data directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            let bytes = std::fs::read(&path).expect("read a stored file");
            out.push((path.display().to_string(), bytes));
        }
    }
}

/// The raw bytes of an item's value: strings as UTF-8, binaries as they are, nested values in
/// turn (separated, so that no window spans two values).
fn attribute_bytes(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
        AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
        AttributeValue::Ss(list) | AttributeValue::Ns(list) => {
            for s in list {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
        }
        AttributeValue::Bs(list) => {
            for b in list {
                out.extend_from_slice(b.as_ref());
                out.push(0);
            }
        }
        AttributeValue::L(list) => {
            for v in list {
                attribute_bytes(v, out);
                out.push(0);
            }
        }
        AttributeValue::M(map) => {
            for (k, v) in map {
                out.extend_from_slice(k.as_bytes());
                out.push(0);
                attribute_bytes(v, out);
                out.push(0);
            }
        }
        _ => {}
    }
}
