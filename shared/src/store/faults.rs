//! A wrapper that makes any store fail on demand, to prove that a failure at any step of a sign
//! leaves no stray blob, no half-updated sign and no sign pointing at a missing blob. A failure is
//! injected either before the call does anything or, for a commit, after it was applied (the
//! answer is lost). Compiled only for tests (the `testing` feature).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;

use super::{
    BlobStore, CommitError, SignAdmin, SignReader, SignUpdate, SignWriter, StoreError, StoredBlob,
    WrittenBlob,
};
use crate::evidence::EvidenceEvent;
use crate::ids::SignKey;
use crate::model::SignRecord;

/// Which operations fail next. Shared between the test and the wrapped store.
#[derive(Debug, Default)]
pub struct FaultSwitches {
    /// The next `commit` fails with a storage error (after writing nothing).
    pub fail_next_commit: AtomicBool,
    /// The next `commit` is applied, then reports a storage error (its answer was lost).
    pub lose_next_commit_answer: AtomicBool,
    /// The next `commit` is applied, then reports a conflict (what a retried request whose
    /// first try landed meets: its own condition).
    pub report_next_commit_as_conflict: AtomicBool,
    /// Fail the n-th `get_sign` from now (1 = the next one); 0 = none.
    fail_read_number: AtomicUsize,
    reads_seen: AtomicUsize,
    /// Fail the n-th `put_new` from now (1 = the next one); 0 = none.
    pub fail_put_number: AtomicUsize,
    puts_seen: AtomicUsize,
}

impl FaultSwitches {
    pub fn fail_nth_put(&self, n: usize) {
        self.puts_seen.store(0, Ordering::SeqCst);
        self.fail_put_number.store(n, Ordering::SeqCst);
    }

    pub fn fail_nth_read(&self, n: usize) {
        self.reads_seen.store(0, Ordering::SeqCst);
        self.fail_read_number.store(n, Ordering::SeqCst);
    }
}

/// Whether the call numbered by `seen` is the one `target` asks to fail (then disarms it).
fn is_target(seen: &AtomicUsize, target: &AtomicUsize) -> bool {
    let seen = seen.fetch_add(1, Ordering::SeqCst) + 1;
    let n = target.load(Ordering::SeqCst);
    n != 0
        && seen == n
        && target
            .compare_exchange(n, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
}

#[derive(Debug, Clone)]
pub struct Faulty<S> {
    pub inner: S,
    pub switches: Arc<FaultSwitches>,
}

impl<S> Faulty<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            switches: Arc::default(),
        }
    }
}

impl<S: SignReader> SignReader for Faulty<S> {
    async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
        if is_target(&self.switches.reads_seen, &self.switches.fail_read_number) {
            return Err(StoreError::new("injected read failure"));
        }
        self.inner.get_sign(key).await
    }
}

impl<S: SignWriter> SignWriter for Faulty<S> {
    async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
        if self.switches.fail_next_commit.swap(false, Ordering::SeqCst) {
            return Err(StoreError::new("injected commit failure").into());
        }
        let result = self.inner.commit(update).await;
        if result.is_ok()
            && self
                .switches
                .lose_next_commit_answer
                .swap(false, Ordering::SeqCst)
        {
            return Err(StoreError::new("injected failure after the commit was applied").into());
        }
        if result.is_ok()
            && self
                .switches
                .report_next_commit_as_conflict
                .swap(false, Ordering::SeqCst)
        {
            return Err(CommitError::Conflict);
        }
        result
    }
}

impl<S: SignAdmin> SignAdmin for Faulty<S> {
    async fn create_sign(&self, sign: &SignRecord) -> Result<(), CommitError> {
        self.inner.create_sign(sign).await
    }

    async fn list_events(&self, key: &SignKey) -> Result<Vec<EvidenceEvent>, StoreError> {
        self.inner.list_events(key).await
    }

    async fn list_signs(
        &self,
        org: Option<&crate::ids::OrgId>,
    ) -> Result<Vec<SignRecord>, StoreError> {
        self.inner.list_signs(org).await
    }
}

impl<S: BlobStore> BlobStore for Faulty<S> {
    async fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        sha256: [u8; 32],
        content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        if is_target(&self.switches.puts_seen, &self.switches.fail_put_number) {
            return Err(StoreError::new("injected blob write failure"));
        }
        self.inner.put_new(key, bytes, sha256, content_type).await
    }

    async fn remove(&self, blob: &WrittenBlob) -> Result<(), StoreError> {
        self.inner.remove(blob).await
    }

    async fn get(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
}
