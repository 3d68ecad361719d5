//! `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/preview`: records a preview. Needs read and
//! write access to the table.
#![forbid(unsafe_code)]

use biosign_shared::aws;
use biosign_shared::config::{self, FunctionConfig};
use biosign_shared::handlers::{self, Api};
use biosign_shared::store::{NoBlobs, dynamo::DynamoSignStore};
use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    biosign_shared::logging::init();
    let config = config::or_exit(FunctionConfig::from_env());
    let sdk = aws::load_config().await;
    let api = Api {
        signs: DynamoSignStore::new(aws::dynamodb(&sdk), config.table_name),
        blobs: NoBlobs,
        auth: config.auth,
        docs: config.docs,
        tsa: None,
    };
    let api = &api;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(handlers::preview(api, request).await)
    }))
    .await
}
