//! Building the AWS SDK clients, once per cold start, with explicit time limits.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
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

/// How long a connection to an AWS endpoint may take to open (TCP; TLS counts against the
/// attempt). The SDK's default is 3.1 s; within a region it takes milliseconds, and an address
/// that does not answer should leave time to retry another.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one call to a service may take: each attempt, and all attempts with the back-off
/// between them. A call that runs out ends in an error, which the service answers with a clean
/// 500, instead of hanging until Lambda kills the function (the arithmetic is in docs/design.md,
/// "Failure model").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub attempt: Duration,
    pub operation: Duration,
}

impl CallLimits {
    pub fn timeout_config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// DynamoDB answers a single-item read or a two-item transaction in milliseconds; 800 ms let an
/// attempt open a TLS connection on a cold start, and the operation leaves room for a retry
/// after a fast failure (a 500, a throttle, a reset).
pub const DYNAMODB_LIMITS: CallLimits = CallLimits {
    attempt: Duration::from_millis(800),
    operation: Duration::from_millis(1_200),
};

/// S3 takes the blobs, up to ~400 KB each (the request's limits), in a few hundred milliseconds at
/// worst within a region.
pub const S3_LIMITS: CallLimits = CallLimits {
    attempt: Duration::from_millis(1_200),
    operation: Duration::from_millis(1_600),
};

/// For an emulator: bounded, so that a hung emulator fails a test instead of hanging it.
pub const EMULATOR_LIMITS: CallLimits = CallLimits {
    attempt: Duration::from_secs(30),
    operation: Duration::from_secs(60),
};

/// Attempts per call, and the back-off before a retry: the SDK's default back-off starts at one
/// second, which alone would use up a call's budget; jitter still spreads retries out.
pub const MAX_ATTEMPTS: u32 = 3;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_millis(400);

pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

const fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The longest a sign can wait on AWS when every call runs out of time but the last: read the
/// sign; both uploads at once; the commit; after a failed commit, the re-read that tells whether
/// it was applied; then removing the attempt's blobs, both at once.
pub const SIGN_WORST_CASE: Duration =
    Duration::from_millis(3 * millis(DYNAMODB_LIMITS.operation) + 2 * millis(S3_LIMITS.operation));

/// What a sign can still wait on AWS once it starts its last attempt after a lost race: the
/// re-read, the commit, the re-read after a failed commit, removing the blobs. A new attempt
/// starts only within the sign's retry budget (`service::RetryPolicy`), so the budget plus this
/// bounds a sign that loses races (docs/design.md, "Failure model").
pub const SIGN_LAST_ATTEMPT: Duration =
    Duration::from_millis(3 * millis(DYNAMODB_LIMITS.operation) + millis(S3_LIMITS.operation));

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
        .retry_config(retry_config())
        // The default for any client built from this configuration; each service's client below
        // sets its own.
        .timeout_config(DYNAMODB_LIMITS.timeout_config())
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

/// A DynamoDB client with the limits for its endpoint (see [`limits_for`]).
pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    dynamodb_with(config, limits_for(config).0)
}

pub fn dynamodb_with(config: &SdkConfig, limits: CallLimits) -> aws_sdk_dynamodb::Client {
    let dynamodb_config = aws_sdk_dynamodb::config::Builder::from(config)
        .timeout_config(limits.timeout_config())
        .build();
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config)
}

/// An S3 client with the limits for its endpoint (see [`limits_for`]).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    s3_with(config, limits_for(config).1)
}

/// An S3 client. Emulators (any custom endpoint) need path-style addressing.
pub fn s3_with(config: &SdkConfig, limits: CallLimits) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .timeout_config(limits.timeout_config())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The limits of the DynamoDB and S3 clients: AWS's own ([`DYNAMODB_LIMITS`], [`S3_LIMITS`]),
/// or with a custom endpoint (an emulator such as moto, on a developer's busy machine, whose
/// latency the limits are not about) [`EMULATOR_LIMITS`]. Tests of the limits themselves build
/// their clients with [`dynamodb_with`] and [`s3_with`].
pub fn limits_for(config: &SdkConfig) -> (CallLimits, CallLimits) {
    if config.endpoint_url().is_some() {
        (EMULATOR_LIMITS, EMULATOR_LIMITS)
    } else {
        (DYNAMODB_LIMITS, S3_LIMITS)
    }
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

    /// The functions' timeout, as `template.yaml` declares it for every function.
    fn function_timeout() -> Duration {
        let template = include_str!("../../template.yaml");
        let seconds = template
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout:"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .expect("template.yaml sets Globals.Function.Timeout");
        Duration::from_secs(seconds)
    }

    #[test]
    fn a_sign_that_waits_out_every_limit_still_answers_before_lambda_stops_it() {
        for limits in [DYNAMODB_LIMITS, S3_LIMITS] {
            assert!(CONNECT_TIMEOUT < limits.attempt && limits.attempt < limits.operation);
        }
        // A second for the function's own work (validation, sealing, digests: milliseconds)
        // and the runtime's, with room to spare.
        let margin = Duration::from_secs(1);
        assert!(
            SIGN_WORST_CASE + margin <= function_timeout(),
            "{SIGN_WORST_CASE:?} + {margin:?} > {:?}",
            function_timeout()
        );
    }

    #[test]
    fn a_sign_or_preview_that_loses_races_still_answers_before_lambda_stops_it() {
        use crate::service::RetryPolicy;
        // No new attempt starts after the budget; the last one may start after one more pause,
        // and then wait out every call it makes.
        let sign = RetryPolicy::SIGN.budget + RetryPolicy::SIGN.max_pause + SIGN_LAST_ATTEMPT;
        let preview = RetryPolicy::PREVIEW.budget
            + RetryPolicy::PREVIEW.max_pause
            + 3 * DYNAMODB_LIMITS.operation;
        let margin = Duration::from_secs(1);
        for (function, worst) in [("sign", sign), ("preview", preview)] {
            assert!(
                worst + margin <= function_timeout(),
                "{function}: {worst:?} + {margin:?} > {:?}",
                function_timeout()
            );
        }
    }

    #[tokio::test]
    async fn every_client_carries_its_limits_and_the_retry_policy() {
        let config = loader(true)
            .region(aws_config::Region::new("eu-west-1"))
            .load()
            .await;
        let (aws_dynamodb, aws_s3) = (dynamodb(&config), s3(&config));
        let emulator = loader(false)
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:5000")
            .load()
            .await;
        let (slow_dynamodb, slow_s3) = (dynamodb(&emulator), s3(&emulator));
        for (timeouts, retry, limits) in [
            (
                slow_dynamodb.config().timeout_config(),
                slow_dynamodb.config().retry_config(),
                EMULATOR_LIMITS,
            ),
            (
                slow_s3.config().timeout_config(),
                slow_s3.config().retry_config(),
                EMULATOR_LIMITS,
            ),
            (
                aws_dynamodb.config().timeout_config(),
                aws_dynamodb.config().retry_config(),
                DYNAMODB_LIMITS,
            ),
            (
                aws_s3.config().timeout_config(),
                aws_s3.config().retry_config(),
                S3_LIMITS,
            ),
        ] {
            let timeouts = timeouts.expect("timeouts are set");
            assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
            assert_eq!(timeouts.operation_attempt_timeout(), Some(limits.attempt));
            assert_eq!(timeouts.operation_timeout(), Some(limits.operation));
            let retry = retry.expect("retry policy is set");
            assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
            assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
        }
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
