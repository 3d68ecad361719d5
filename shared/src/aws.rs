//! Building the AWS SDK clients, once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads region, credentials and endpoint (`AWS_ENDPOINT_URL` included) from the environment.
///
/// The SDK is built without its default TLS stack; this passes the rustls + ring client
/// explicitly (without it, requests would fail at run time, not at compile time).
pub async fn load_config() -> SdkConfig {
    loader().load().await
}

/// As [`load_config`], against an explicit endpoint (an emulator, in tests).
pub async fn load_config_at(endpoint_url: &str) -> SdkConfig {
    loader().endpoint_url(endpoint_url).load().await
}

fn loader() -> aws_config::ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// An S3 client. Emulators (any custom endpoint) need path-style addressing.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}
