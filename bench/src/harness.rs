//! What the in-process figures run on: the handlers' `Api` over the in-memory sign store and a
//! blob store that lets the bytes go, a dev token, the two escrow certificates of a rotation,
//! fresh signs, and the API Gateway events of the shared fixtures.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use biosign::devkey::DevKey;
use biosign_e2e::fixtures::{self, FULL_SCOPE, SignBuilder};
use biosign_shared::error::ErrorDocs;
use biosign_shared::handlers::Api;
use biosign_shared::seal::EscrowRecipients;
use biosign_shared::store::memory::MemoryStore;
use biosign_shared::store::{
    BlobStore, SealingBlobStore, SignAdmin, StoreError, StoredBlob, WrittenBlob,
};
use biosign_shared::testing;

pub const SAMPLES: usize = 60;
pub const WARMUP: usize = 5;

/// The blob store of the benchmark: takes the bytes and lets them go, as the S3 adapter does
/// once they are sent. (The in-memory store keeps every blob, so each request would touch fresh
/// pages: a cost production does not have.)
#[derive(Default)]
pub struct SentBlobs;

impl BlobStore for SentBlobs {
    async fn put_new(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        _sha256: [u8; 32],
        _content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        drop(black_box(bytes));
        Ok(WrittenBlob {
            key: key.to_owned(),
            version_id: None,
        })
    }
    async fn remove(&self, _blob: &WrittenBlob) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _key: &str) -> Result<Option<StoredBlob>, StoreError> {
        Ok(None)
    }
    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

pub struct Bench {
    pub api: Api<MemoryStore, SealingBlobStore<SentBlobs>>,
    /// Two escrow certificates (RSA 2048 and 3072, test fixtures), as a rotation has them: the
    /// sign handler seals for both, and the functions' cold start reads both.
    pub escrow_certs: PathBuf,
    pub token: String,
    pub key: DevKey,
    _dir: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
}

impl Bench {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(dir.path()).expect("dev key");
        let auth = key.authenticator().expect("jwks");
        let token = fixtures::dev_token(&key, "acme", FULL_SCOPE, None, "PT1H");
        let escrow_certs = dir.path().join("escrow-certs.pem");
        let pem: String = ["rsa2048.crt.pem", "rsa3072.crt.pem"]
            .map(|name| std::fs::read_to_string(testing::escrow_fixture(name)).expect("fixture"))
            .concat();
        std::fs::write(&escrow_certs, pem).expect("escrow certificates");
        let escrow = EscrowRecipients::load(&escrow_certs, biosign_shared::time::now())
            .expect("the fixtures are valid recipients");
        let api = Api {
            signs: MemoryStore::new(),
            blobs: SealingBlobStore {
                store: SentBlobs,
                escrow,
            },
            auth,
            docs: ErrorDocs::new("https://docs.example/errors"),
            tsa: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            api,
            escrow_certs,
            token,
            key,
            _dir: dir,
            runtime,
        }
    }

    /// `count` fresh signs of `acme`, valid for a day, with a document to preview or without.
    pub fn fresh_signs(&self, count: usize, needs_preview: bool) -> Vec<String> {
        (0..count)
            .map(|_| {
                let builder = SignBuilder::new("acme").expires_in(chrono::Duration::days(1));
                let sign = if needs_preview {
                    builder.needs_preview()
                } else {
                    builder
                }
                .build();
                self.runtime
                    .block_on(self.api.signs.create_sign(&sign))
                    .expect("sign");
                sign.sign_id.to_string()
            })
            .collect()
    }

    /// The request API Gateway would deliver: the shared fixture `event` (`apigw-v2-get.json`,
    /// `apigw-v2-preview.json`, `apigw-v2-sign.json`) for `sign_id`, with the bench's token and,
    /// for a sign, `body`.
    pub fn request(&self, event: &str, sign_id: &str, body: &[u8]) -> lambda_http::Request {
        let body = std::str::from_utf8(body).expect("a JSON body");
        let event = fixtures::gateway_event(event, sign_id, &self.token, body);
        lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event")
    }
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
