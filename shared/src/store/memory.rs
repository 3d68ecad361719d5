//! An in-memory store for unit tests and benchmarks (the `testing` feature). Nothing is persisted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;

use super::{
    BlobStore, CommitError, SignAdmin, SignReader, SignUpdate, SignWriter, StoreError, StoredBlob,
    WrittenBlob,
};
use crate::evidence::EvidenceEvent;
use crate::ids::SignKey;
use crate::model::SignRecord;

/// Each sign and its events.
type Signs = HashMap<SignKey, (SignRecord, Vec<EvidenceEvent>)>;

#[derive(Debug, Default)]
pub struct MemoryStore {
    signs: Mutex<Signs>,
    blobs: Mutex<BTreeMap<String, StoredBlob>>,
}

fn poisoned() -> StoreError {
    StoreError::new("memory store lock poisoned")
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SignReader for MemoryStore {
    async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
        let signs = self.signs.lock().map_err(|_| poisoned())?;
        Ok(signs.get(key).map(|(sign, _)| sign.clone()))
    }
}

impl SignWriter for MemoryStore {
    async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
        let mut signs = self.signs.lock().map_err(|_| poisoned())?;
        let key = update.sign.key();
        let Some((sign, events)) = signs.get_mut(&key) else {
            return Err(CommitError::Conflict);
        };
        if sign.version != update.expected_version {
            return Err(CommitError::Conflict);
        }
        if let Some(event) = &update.event {
            if events.iter().any(|e| e.seq == event.seq) {
                return Err(CommitError::Conflict);
            }
            events.push(event.clone());
        }
        *sign = update.sign.clone();
        Ok(())
    }
}

impl SignAdmin for MemoryStore {
    async fn create_sign(&self, sign: &SignRecord) -> Result<(), CommitError> {
        let mut signs = self.signs.lock().map_err(|_| poisoned())?;
        let key = sign.key();
        if signs.contains_key(&key) {
            return Err(CommitError::Conflict);
        }
        signs.insert(key, (sign.clone(), Vec::new()));
        Ok(())
    }

    async fn list_signs(
        &self,
        org: Option<&crate::ids::OrgId>,
    ) -> Result<Vec<SignRecord>, StoreError> {
        let signs = self.signs.lock().map_err(|_| poisoned())?;
        Ok(signs
            .values()
            .map(|(sign, _)| sign)
            .filter(|sign| org.is_none_or(|org| &sign.org_id == org))
            .cloned()
            .collect())
    }

    async fn list_events(&self, key: &SignKey) -> Result<Vec<EvidenceEvent>, StoreError> {
        let signs = self.signs.lock().map_err(|_| poisoned())?;
        let mut events = signs
            .get(key)
            .map(|(_, events)| events.clone())
            .unwrap_or_default();
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }
}

impl BlobStore for MemoryStore {
    async fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        sha256: [u8; 32],
        _content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        let mut blobs = self.blobs.lock().map_err(|_| poisoned())?;
        if blobs.contains_key(key) {
            return Err(StoreError::new(format!("blob {key} already exists")));
        }
        let checksum = base64::engine::general_purpose::STANDARD.encode(sha256);
        blobs.insert(
            key.to_owned(),
            StoredBlob {
                bytes,
                checksum_sha256: Some(checksum),
                encryption: None,
            },
        );
        Ok(WrittenBlob {
            key: key.to_owned(),
            version_id: None,
        })
    }

    async fn remove(&self, blob: &WrittenBlob) -> Result<(), StoreError> {
        self.blobs.lock().map_err(|_| poisoned())?.remove(&blob.key);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
        Ok(self.blobs.lock().map_err(|_| poisoned())?.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let blobs = self.blobs.lock().map_err(|_| poisoned())?;
        Ok(blobs
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}
