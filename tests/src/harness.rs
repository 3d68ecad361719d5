//! The server harness: `biosign serve`'s API on a free loopback port, over the embedded store
//! or over DynamoDB + S3 in moto (a fresh table and bucket per test), with fault switches; and
//! what the process service does to its stores (create, cancel, inspect signs), through the
//! tool's commands.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use biosign::commands::{self, CreateSignArgs, SignReport};
use biosign::devkey::DevKey;
use biosign::environment::Environment;
use biosign::server::{self, Cors};
use biosign::stores::Stores;
use biosign_shared::aws;
use biosign_shared::model::SignRecord;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::embedded::EmbeddedStore;
use biosign_shared::store::faults::{FaultSwitches, Faulty};
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobStore, SignAdmin, SignReader, SignWriter};
use biosign_shared::testing::test_escrow;
use biosign_shared::timestamp::TsaClient;

use crate::back_door::{BlobBackDoor, SignBackDoor};

/// The TSA client that `TSA_URL` and `TSA_CERTS` configure, read as `biosign serve` reads them
/// from its environment.
pub fn tsa_client(tsa_url: &str, tsa_certs: &Path) -> TsaClient {
    let tsa_certs = tsa_certs.display().to_string();
    TsaClient::from_lookup(|name| match name {
        biosign_shared::timestamp::TSA_URL => Some(tsa_url.to_owned()),
        biosign_shared::timestamp::TSA_CERTS => Some(tsa_certs.clone()),
        _ => None,
    })
    .expect("a valid TSA configuration")
    .expect("a TSA is configured")
}

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

/// `biosign serve`'s API over `signs` and `blobs` on a free loopback port, as the tests run it:
/// the test escrow, tokens from `key`'s JWKS, CORS for `https://app.example`. Returns its base
/// URL and the sender whose drop stops it.
pub(crate) async fn serve_api<S, B>(
    signs: S,
    blobs: B,
    key: &DevKey,
    tsa: Option<TsaClient>,
    limits: server::ServerLimits,
) -> (String, tokio::sync::oneshot::Sender<()>)
where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let cors = Arc::new(Cors {
        origins: vec!["https://app.example".into()],
        allow_loopback: false,
    });
    let auth = key.authenticator().expect("dev JWKS");
    let api = commands::api(
        signs,
        blobs,
        test_escrow(),
        auth,
        tsa,
        &Environment::default(),
    );
    tokio::spawn(server::run_with_limits(
        listener, api, cors, limits, shutdown,
    ));
    (base_url, stop)
}

/// A running server and direct access to the stores behind it (the same stores, with the
/// server's fault switches).
pub struct TestEnv<S, B> {
    pub base_url: String,
    pub http: reqwest::Client,
    pub key: DevKey,
    pub stores: Stores<Faulty<S>, Faulty<B>>,
    pub switches: Arc<FaultSwitches>,
    pub data_dir: tempfile::TempDir,
    pub(crate) _stop: tokio::sync::oneshot::Sender<()>,
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
        let tsa = tsa_client(tsa_url, tsa_certs);
        Self::start_with_options(backend, server::ServerLimits::default(), Some(tsa)).await
    }

    async fn start_with_options<K: Backend<Signs = S, Blobs = B>>(
        backend: K,
        limits: server::ServerLimits,
        tsa: Option<TsaClient>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(data_dir.path()).expect("dev key");
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
        let (base_url, stop) = serve_api(
            stores.signs.clone(),
            stores.blobs.clone(),
            &key,
            tsa,
            limits,
        )
        .await;
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
}
