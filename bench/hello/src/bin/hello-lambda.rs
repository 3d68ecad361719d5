//! The cold-start floor: a `lambda_runtime` function that answers every event with a fixed
//! API Gateway response, doing nothing else at init.
#![forbid(unsafe_code)]

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "hello"}))
    }))
    .await
}
