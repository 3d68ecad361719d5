//! The end-to-end harness: a `biosign serve` server on a free loopback port, over the embedded
//! store or over DynamoDB + S3 in moto (a fresh table and bucket per test), with fault switches,
//! and helpers that speak the API as a client would.
#![forbid(unsafe_code)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign::commands::{self, CreateSignArgs, SignReport};
use biosign::devkey::DevKey;
use biosign::environment::Environment;
use biosign::server::{self, Cors};
use biosign::stores::Stores;
use biosign_shared::aws;
use biosign_shared::ids::SignKey;
use biosign_shared::model::SignRecord;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::embedded::EmbeddedStore;
use biosign_shared::store::faults::{FaultSwitches, Faulty};
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobStore, SignAdmin, StoredBlob};
use biosign_shared::testing::test_escrow;
use biosign_shared::timestamp::TsaClient;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use back_door::{BlobBackDoor, SignBackDoor};

pub mod back_door;
pub mod fault_proxy;
pub mod fixtures;
pub mod lambda;
pub mod runtime_api;
pub mod sealing;
pub mod store_contract;
pub mod tsa;
pub mod wire;

/// Set by `scripts/test` to the moto server it started.
pub const MOTO_URL_VAR: &str = "BIOSIGN_TEST_MOTO_URL";

pub fn moto_url() -> String {
    std::env::var(MOTO_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{MOTO_URL_VAR} is not set: run the AWS tests through scripts/test, which starts moto"
        )
    })
}

/// A fresh, uniquely named table and bucket in moto, created by the same code as `biosign init`.
pub async fn fresh_aws_stores(kms_key_id: Option<String>) -> (DynamoSignStore, S3BlobStore) {
    let sdk = aws::load_config_at(&moto_url()).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let signs = DynamoSignStore::new(aws::dynamodb(&sdk), format!("biosign-test-{id}"));
    signs.create_table().await.expect("create table in moto");
    let blobs = S3BlobStore::new(
        aws::s3(&sdk),
        format!("biosign-test-{}", &id[..24]),
        kms_key_id,
    );
    blobs
        .create_bucket(Some("us-east-1"))
        .await
        .expect("create bucket in moto");
    (signs, blobs)
}

/// A sign store the tests can run the server on and reach behind its back.
pub trait TestSigns: SignAdmin + SignBackDoor + Clone + 'static {}
impl<T: SignAdmin + SignBackDoor + Clone + 'static> TestSigns for T {}

/// A blob store the tests can run the server on and reach behind its back.
pub trait TestBlobs: BlobStore + BlobBackDoor + Clone + 'static {}
impl<T: BlobStore + BlobBackDoor + Clone + 'static> TestBlobs for T {}

/// Which stores a [`TestEnv`] runs on: [`Embedded`] or [`Aws`]. A scenario written for any
/// `TestEnv<S, B>` runs on both.
pub trait Backend: Clone + Send {
    type Signs: TestSigns;
    type Blobs: TestBlobs;
    /// Fresh, empty stores (the embedded one in `data_dir`).
    fn open(self, data_dir: &Path)
    -> impl Future<Output = Stores<Self::Signs, Self::Blobs>> + Send;
}

/// The embedded (SQLite) store in the test's data directory.
#[derive(Debug, Clone, Copy)]
pub struct Embedded;

impl Backend for Embedded {
    type Signs = EmbeddedStore;
    type Blobs = EmbeddedStore;
    async fn open(self, data_dir: &Path) -> Stores<EmbeddedStore, EmbeddedStore> {
        Stores::embedded(data_dir).expect("open the embedded store")
    }
}

/// A fresh table and bucket in moto (see [`fresh_aws_stores`]).
#[derive(Debug, Clone)]
pub struct Aws {
    pub kms_key_id: Option<String>,
}

impl Backend for Aws {
    type Signs = DynamoSignStore;
    type Blobs = S3BlobStore;
    async fn open(self, _data_dir: &Path) -> Stores<DynamoSignStore, S3BlobStore> {
        let (signs, blobs) = fresh_aws_stores(self.kms_key_id).await;
        Stores { signs, blobs }
    }
}

/// A [`TestEnv`] on the embedded store.
pub type EmbeddedEnv = TestEnv<EmbeddedStore, EmbeddedStore>;
/// A [`TestEnv`] on DynamoDB and S3 (moto).
pub type AwsEnv = TestEnv<DynamoSignStore, S3BlobStore>;

/// A running server and direct access to the stores behind it (the same stores, with the
/// server's fault switches).
pub struct TestEnv<S, B> {
    pub base_url: String,
    pub http: reqwest::Client,
    pub key: DevKey,
    pub stores: Stores<Faulty<S>, Faulty<B>>,
    pub switches: Arc<FaultSwitches>,
    pub data_dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A response as the client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error body: one error with this code and title, a `ref` to the
    /// code's anchor, and `details` starting with `details_prefix`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, title: &str, details_prefix: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/json")
        );
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors array: {}", self.body));
        assert_eq!(errors.len(), 1, "{}", self.body);
        let error = &errors[0];
        assert_eq!(error["code"], code, "{}", self.body);
        assert_eq!(error["title"], title, "{}", self.body);
        let reference = error["ref"].as_str().unwrap();
        assert!(
            reference.ends_with(&format!("#{}", code.to_lowercase())),
            "ref {reference}"
        );
        let details = error["details"].as_str().unwrap();
        assert!(
            details.starts_with(details_prefix),
            "details {details:?} should start with {details_prefix:?}"
        );
    }

    #[track_caller]
    pub fn assert_no_content(&self) {
        assert_eq!(self.status, 204, "body: {}", self.body);
        assert!(self.raw.is_empty(), "a 204 has no body");
    }
}

/// The device evidence headers a well-behaved app sends.
pub fn device_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "x-installation_id",
            "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11".into(),
        ),
        ("x-fingerprint", "3f8a1c2e9b7d4f60a1b2c3d4e5f60718".into()),
        ("x-location", "40.4168,-3.7038".into()),
    ]
}

/// A signature to send, with the digests the service must report for it.
#[derive(Debug, Clone)]
pub struct Signature {
    pub biometric_data: Vec<u8>,
    pub image: Vec<u8>,
}

impl Signature {
    /// A distinct, realistic signature per `seed`: a synthetic ten-second pen capture in
    /// sigdata/1 (`biosign sample-signature --seed`) and the PNG rendered from its strokes.
    pub fn sample(seed: u32) -> Self {
        let sample = biosign_shared::capture::sample::pen_signature(u64::from(seed));
        Self {
            biometric_data: sample.biometric_data,
            image: sample.png,
        }
    }

    /// The same capture as [`Signature::sample`], as an ISO/IEC 19794-7 record.
    pub fn iso_sample(seed: u32) -> Self {
        use biosign_shared::capture::{self, Format, convert};
        let sigdata = Self::sample(seed);
        let (capture, _) = capture::validate(&sigdata.biometric_data).expect("a valid sample");
        let iso = convert::convert(&capture, Format::Iso19794_7).expect("converts to ISO");
        Self {
            biometric_data: iso.bytes,
            ..sigdata
        }
    }

    /// Any biometric data, with a valid image.
    pub fn with_biometric_data(biometric_data: &[u8]) -> Self {
        Self {
            biometric_data: biometric_data.to_vec(),
            ..Self::sample(1)
        }
    }

    /// What GET must show as `signature.biometric` for this signature.
    pub fn biometric_summary(&self) -> Value {
        let (_, summary) =
            biosign_shared::capture::validate(&self.biometric_data).expect("valid biometric data");
        serde_json::to_value(summary).expect("a summary is JSON")
    }

    pub fn body(&self) -> Value {
        json!({
            "biometric_data": STANDARD.encode(&self.biometric_data),
            "signature_image": format!("data:image/png;base64,{}", STANDARD.encode(&self.image)),
        })
    }

    pub fn image_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.image))
    }

    pub fn biometric_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.biometric_data))
    }
}

impl<S: TestSigns, B: TestBlobs> TestEnv<S, B> {
    pub async fn start<K: Backend<Signs = S, Blobs = B>>(backend: K) -> Self {
        Self::start_with_limits(backend, server::ServerLimits::default()).await
    }

    /// As [`TestEnv::start`], with the server's bounds given (short timeouts, a small cap).
    pub async fn start_with_limits<K: Backend<Signs = S, Blobs = B>>(
        backend: K,
        limits: server::ServerLimits,
    ) -> Self {
        Self::start_with_options(backend, limits, None).await
    }

    /// As [`TestEnv::start`], with accepted signatures timestamped by the TSA that `TSA_URL` and
    /// `TSA_CERTS` configure (read as `biosign serve` reads them from its environment).
    pub async fn start_with_tsa<K: Backend<Signs = S, Blobs = B>>(
        backend: K,
        tsa_url: &str,
        tsa_certs: &Path,
    ) -> Self {
        let tsa_certs = tsa_certs.display().to_string();
        let tsa = TsaClient::from_lookup(|name| match name {
            biosign_shared::timestamp::TSA_URL => Some(tsa_url.to_owned()),
            biosign_shared::timestamp::TSA_CERTS => Some(tsa_certs.clone()),
            _ => None,
        })
        .expect("a valid TSA configuration");
        assert!(tsa.is_some());
        Self::start_with_options(backend, server::ServerLimits::default(), tsa).await
    }

    async fn start_with_options<K: Backend<Signs = S, Blobs = B>>(
        backend: K,
        limits: server::ServerLimits,
        tsa: Option<TsaClient>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(data_dir.path()).expect("dev key");
        let auth = key.authenticator().expect("dev JWKS");
        let switches = Arc::new(FaultSwitches::default());
        let Stores { signs, blobs } = backend.open(data_dir.path()).await;
        let stores = Stores {
            signs: Faulty {
                inner: signs,
                switches: Arc::clone(&switches),
            },
            blobs: Faulty {
                inner: blobs,
                switches: Arc::clone(&switches),
            },
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let cors = Arc::new(Cors {
            origins: vec!["https://app.example".into()],
            allow_loopback: false,
        });
        let api = commands::api(
            stores.signs.clone(),
            stores.blobs.clone(),
            test_escrow(),
            auth,
            tsa,
            &Environment::default(),
        );
        tokio::spawn(server::run_with_limits(
            listener, api, cors, limits, shutdown,
        ));
        Self {
            base_url,
            http: reqwest::Client::new(),
            key,
            stores,
            switches,
            data_dir,
            _stop: stop,
        }
    }

    /// A token of the dev issuer for `org` with `scope`, optionally limited to one sign.
    pub fn token(&self, org: &str, scope: &str, sign_id: Option<&str>) -> String {
        fixtures::dev_token(&self.key, org, scope, sign_id, "PT5M")
    }

    /// A token with both scopes for `org`.
    pub fn full_token(&self, org: &str) -> String {
        self.token(org, fixtures::FULL_SCOPE, None)
    }

    /// Signs arbitrary claims with the dev key (for the token matrix).
    pub fn token_with_claims(&self, claims: &Value) -> String {
        self.key.sign(claims).expect("sign claims")
    }

    pub async fn create_sign(
        &self,
        org: &str,
        needs_preview: bool,
        expires_in: &str,
    ) -> SignRecord {
        let args = CreateSignArgs {
            documents: vec![uuid::Uuid::new_v4().to_string()],
            preview_documents: if needs_preview {
                vec![uuid::Uuid::new_v4().to_string()]
            } else {
                vec![]
            },
            language: "ES".into(),
            expires_in: expires_in.into(),
            org: org.into(),
            signer_name: "James".into(),
            signer_last_name: "Smith".into(),
            sign_id: None,
        };
        commands::create_sign(&self.stores.signs, &args)
            .await
            .expect("create sign")
    }

    pub async fn cancel_sign(&self, org: &str, sign_id: &str) {
        commands::cancel_sign(&self.stores.signs, org, sign_id)
            .await
            .expect("cancel sign");
    }

    pub async fn report(&self, org: &str, sign_id: &str) -> SignReport {
        commands::show_sign(&self.stores.signs, org, sign_id)
            .await
            .expect("show sign")
    }

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

    pub fn url(&self, org: &str, sign_id: &str, action: Option<&str>) -> String {
        let base = format!("{}/v1/orgs/{org}/biometric_signs/{sign_id}", self.base_url);
        match action {
            Some(action) => format!("{base}/{action}"),
            None => base,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.bytes().await.expect("body").to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            raw,
            body,
        }
    }

    pub async fn get(&self, org: &str, sign_id: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(self.url(org, sign_id, None));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn preview(&self, org: &str, sign_id: &str, token: Option<&str>) -> Reply {
        self.preview_with(org, sign_id, token, &device_headers())
            .await
    }

    pub async fn preview_with(
        &self,
        org: &str,
        sign_id: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut request = self.http.post(self.url(org, sign_id, Some("preview")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
    }

    pub async fn sign(
        &self,
        org: &str,
        sign_id: &str,
        token: &str,
        signature: &Signature,
    ) -> Reply {
        self.sign_raw(
            org,
            sign_id,
            Some(token),
            &device_headers(),
            Some("application/json"),
            signature.body().to_string().into_bytes(),
        )
        .await
    }

    pub async fn sign_raw(
        &self,
        org: &str,
        sign_id: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .http
            .post(self.url(org, sign_id, Some("sign")))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
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

/// The key of a created sign.
pub fn key_of(sign: &SignRecord) -> SignKey {
    sign.key()
}
