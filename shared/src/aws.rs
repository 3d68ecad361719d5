//! Building the AWS SDK clients, once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The roots every AWS service endpoint chains to (Amazon Trust Services). Trusting only these
/// is narrower than the system's CA bundle, and cheaper: reading and parsing the whole bundle
/// dominated a function's init (figures in BENCHMARKS.md).
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
    if on_lambda && std::env::var_os("AWS_REGION").is_some() {
        // Lambda sets the region too; the default chain would build an IMDS client to fall
        // back on, which a function never uses.
        loader = loader.region(aws_config::environment::EnvironmentVariableRegionProvider::new());
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
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(ConnectOnFirstRequest(builder.build_https()))
}

/// The SDK's HTTPS client, minus one piece of eager work.
///
/// When an SDK client is built, the SDK's HTTPS client builds a TLS connector (reading and
/// parsing every trusted certificate) only to check that it can, and throws it away; the first
/// request then builds the one it keeps. That is the same work twice per SDK client at every
/// cold start, and the trust store here is fixed and covered by the tests below. This wrapper
/// skips the check, so the connector is built once, on the first request, and shared by every
/// SDK client with the same connector settings (see BENCHMARKS.md).
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        config: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, config)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
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

    /// An HTTP client that counts the SDK's start-up checks and serves no request.
    #[derive(Debug, Clone, Default)]
    struct CountingChecks(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl HttpClient for CountingChecks {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is made in this test")
        }

        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    async fn start_up_checks_when_building_clients(wrapped: bool) -> usize {
        let counting = CountingChecks::default();
        let client = SharedHttpClient::new(counting.clone());
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"));
        let config = if wrapped {
            loader.http_client(ConnectOnFirstRequest(client))
        } else {
            loader.http_client(client)
        }
        .load()
        .await;
        let _ = (dynamodb(&config), s3(&config));
        counting.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn building_the_clients_builds_no_tls_connector() {
        // Unwrapped, the SDK asks the HTTP client to check itself at least once per SDK client
        // (the smithy client does so by building a TLS connector); wrapped, it is never asked.
        assert!(start_up_checks_when_building_clients(false).await >= 2);
        assert_eq!(start_up_checks_when_building_clients(true).await, 0);
    }

    #[tokio::test]
    async fn the_first_request_builds_the_connector_with_the_amazon_roots() {
        // Building the connector parses the trust store and panics on a bad certificate; a
        // request to a closed port builds it and then fails to connect, as it should.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = closed.local_addr().expect("bound").port();
        drop(closed);
        let config = loader(true)
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(format!("https://127.0.0.1:{port}"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let error = dynamodb(&config)
            .list_tables()
            .send()
            .await
            .expect_err("nothing listens there");
        let refused = matches!(
            &error,
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(failure) if failure.is_io()
        );
        assert!(refused, "{error:?}");
    }
}
