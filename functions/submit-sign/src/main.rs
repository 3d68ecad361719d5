//! `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/sign`: stores the biometric signature, its
//! biometric data sealed for the escrow certificates in `ESCROW_CERTS`. Needs the table, and
//! put/delete on the bucket's blob prefix (and the KMS key, if configured); never a private key.
#![forbid(unsafe_code)]

use biosign_shared::aws;
use biosign_shared::config::{self, BucketConfig, FunctionConfig};
use biosign_shared::handlers::{self, Api};
use biosign_shared::store::SealingBlobStore;
use biosign_shared::store::{dynamo::DynamoSignStore, s3::S3BlobStore};
use biosign_shared::timestamp::TsaClient;
use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    biosign_shared::logging::init();
    let config = config::or_exit(FunctionConfig::from_env());
    let bucket = config::or_exit(BucketConfig::from_env());
    let escrow = config::or_exit(config::escrow_recipients_from_env());
    // Once per execution environment: which keys can open what this instance seals.
    tracing::info!(
        escrow_certs = %escrow.path().display(),
        fingerprints = %escrow.fingerprints().join(","),
        "sealing biometric data for the escrow"
    );
    let sdk = aws::load_config().await;
    let api = Api {
        signs: DynamoSignStore::new(aws::dynamodb(&sdk), config.table_name),
        blobs: SealingBlobStore {
            store: S3BlobStore::new(aws::s3(&sdk), bucket.bucket_name, bucket.kms_key_id),
            escrow,
        },
        auth: config.auth,
        docs: config.docs,
        tsa: config::or_exit(TsaClient::from_env()),
    };
    let api = &api;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(handlers::sign(api, request).await)
    }))
    .await
}
