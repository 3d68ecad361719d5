//! The like-for-like cold-start reference: `hello-lambda` on the single-threaded runtime the
//! functions use. Reported beside the floor, so that the part of the functions' lead that comes
//! from the runtime flavour alone is visible.
#![forbid(unsafe_code)]

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "hello"}))
    }))
    .await
}
