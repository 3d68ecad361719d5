//! Building the AWS SDK clients, once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// The roots every AWS service endpoint chains to (Amazon Trust Services). Trusting only these
/// is narrower than the system's CA bundle, and cheaper: reading and parsing the whole bundle was
/// four fifths of a function's init time (see BENCHMARKS.md).
const AMAZON_TRUST_SERVICES: &str = include_str!("../certs/amazon-trust-services.pem");

/// Loads region, credentials and endpoint (`AWS_ENDPOINT_URL` included) from the environment.
///
/// The SDK is built without its default TLS stack; this passes the rustls + ring client
/// explicitly (without it, requests would fail at run time, not at compile time).
pub async fn load_config() -> SdkConfig {
    // A custom endpoint (an emulator, a proxy) may present any CA: trust the system's then.
    let custom_endpoint =
        std::env::vars_os().any(|(name, _)| name.to_string_lossy().starts_with("AWS_ENDPOINT_URL"));
    let mut loader = loader(!custom_endpoint);
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    if on_lambda && std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        // Lambda puts the execution role's credentials in the environment. The default chain
        // would also build an STS client for web identity (and more): a quarter of init time.
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// As [`load_config`], against an explicit endpoint (an emulator, in tests).
pub async fn load_config_at(endpoint_url: &str) -> SdkConfig {
    loader(false).endpoint_url(endpoint_url).load().await
}

fn loader(aws_roots_only: bool) -> aws_config::ConfigLoader {
    let trust_store = if aws_roots_only {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
    } else {
        TrustStore::default()
    };
    let mut builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match TlsContext::builder().with_trust_store(trust_store).build() {
        Ok(context) => builder = builder.tls_context(context),
        // The store is static and valid; should that ever change, the system roots still work.
        Err(e) => tracing::warn!(error = %e, "using the system's CA bundle"),
    }
    aws_config::defaults(BehaviorVersion::latest()).http_client(builder.build_https())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amazon_roots_parse_as_five_certificates() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
    }

    #[tokio::test]
    async fn the_client_builds_with_the_amazon_roots() {
        // Building the connector parses the trust store and panics on a bad certificate.
        let config = loader(true)
            .region(aws_config::Region::new("eu-west-1"))
            .load()
            .await;
        let _ = dynamodb(&config);
    }
}
