//! The service's own calls to the outside (the timestamp authority, the issuer's key set), on the
//! HTTP connector the AWS SDK is built with: hyper, rustls and ring, with the system's CA roots.
//!
//! One connector type for everything keeps one HTTP client's code in each binary (a second
//! hyper client of its own type cost the sign function most of a quarter megabyte). It is built on
//! the first call, not at start-up: reading the system's CA bundle is work a cold start should
//! not pay before it has a sign to timestamp or a key to fetch; afterwards its connection pool
//! is shared by every caller in the process.

use std::net::IpAddr;
use std::sync::OnceLock;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::HttpConnector as _;
use aws_smithy_runtime_api::http::{Headers, Request};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use lambda_http::http::Uri;

/// Checks an outside endpoint's URL: HTTPS anywhere; plain HTTP only to a loopback address (a
/// local issuer or TSA in tests and development), where nothing on the network can change the
/// answers in flight. The reason names what is wrong.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let host = uri.host().ok_or("no host")?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => {
            Err("plain HTTP is allowed only to a loopback address; use https://".into())
        }
        _ => Err("the scheme must be https".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An answer read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A body larger than the caller's bound, or a failure on the wire; the text says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    TooLarge { limit: usize },
    Wire(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "the answer is larger than {limit} bytes"),
            Self::Wire(reason) => f.write_str(reason),
        }
    }
}

fn connector() -> &'static Connector {
    static CONNECTOR: OnceLock<Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        Connector::builder()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build()
    })
}

/// Sends `request` and reads the answer's body, refusing one over `max_bytes` as soon as it is
/// (a misbehaving server cannot make the function buffer without bound). The caller bounds the
/// time.
pub async fn fetch(request: Request<SdkBody>, max_bytes: usize) -> Result<Reply, FetchError> {
    let response = connector()
        .call(request)
        .await
        .map_err(|e| FetchError::Wire(error_chain(&e)))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut stream = ByteStream::new(response.into_body());
    let mut body = Vec::new();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| FetchError::Wire(format!("reading the answer: {}", error_chain(&e))))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge { limit: max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// An error with its causes, outermost first: the connector's own message is often only
/// "io error" with the reason (refused, reset, a TLS alert) below it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for good in [
            "https://idp.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:9/x",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("http://idp.example/jwks", "plain HTTP"),
            ("http://10.0.0.1/jwks", "plain HTTP"),
            ("http://127.0.0.1.evil.example/jwks", "plain HTTP"),
            ("http://localhost.evil.example/jwks", "plain HTTP"),
            ("ftp://idp.example/jwks", "scheme"),
            ("tsa.example", "scheme"),
            ("not a url", "not a URL"),
            ("", "not a URL"),
        ] {
            let reason = check_url(bad).unwrap_err();
            assert!(reason.contains(why), "{bad}: {reason}");
        }
    }
}
