//! `biosign serve`: an HTTP/1.1 server that turns each request into the event API Gateway HTTP
//! API (payload 2.0) would deliver, request context and path parameters included, and hands it to
//! the same handler functions the Lambda binaries run. It answers CORS as the deployed API does
//! (tower-http's `CorsLayer`), and bounds what one client can hold ([`ServerLimits`]).
//!
//! What the HTTP library answers by itself, before any of this code runs (the contract exempts
//! these from carrying an `ErrorsResponse`; hyper offers no hook to shape them, and hand-writing
//! an HTTP parser to do so would be worse):
//! - a request line or header it cannot parse — a NUL, CR or DEL in a header value, an obs-fold
//!   (a header line continued on the next line), a malformed method or URI: a bare `400`;
//! - headers beyond [`HYPER_MAX_HEADER_BYTES`] bytes or [`HYPER_MAX_HEADERS`] lines: a bare `431`;
//! - headers not complete within [`ServerLimits::header_timeout`]: the connection is closed
//!   without an answer (there is no request to answer).
//!
//! Every other refusal is ours and carries the contract's body: headers over
//! [`ServerLimits::max_header_bytes`] or [`ServerLimits::max_headers`] (431, `PARAMETER_ERROR`),
//! a `Content-Length` over the body limit (400 `INVALID_INPUT`, at once, before any of the body
//! is read), a body that stalls (400 `INVALID_INPUT`, then the connection is closed), unknown
//! routes (404).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use biosign_shared::ApiError;
use biosign_shared::handlers::{self, Api};
use biosign_shared::request::{FINGERPRINT, INSTALLATION_ID, LOCATION, MAX_BODY_BYTES};
use biosign_shared::route::{Route, match_request};
use biosign_shared::store::{BlobStore, SealingBlobStore, SignReader, SignWriter};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The largest request head hyper reads before answering a bare 431 itself. Ours is smaller (see
/// [`ServerLimits::max_header_bytes`]) so that an oversized head in between gets a shaped answer.
pub const HYPER_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most header lines hyper parses before answering a bare 431 itself.
pub const HYPER_MAX_HEADERS: usize = 200;

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub origins: Vec<String>,
    /// Also allow `http://localhost:*` and `http://127.0.0.1:*`, for front ends in development.
    pub allow_loopback: bool,
}

impl Cors {
    fn allows(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o == origin) {
            return true;
        }
        self.allow_loopback
            && ["http://localhost", "http://127.0.0.1"].iter().any(|base| {
                origin.strip_prefix(base).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.strip_prefix(':').is_some_and(|port| {
                            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                        })
                })
            })
    }

    /// The layer: preflights answered for allowed origins with the contract's request headers;
    /// responses to allowed origins carry `Access-Control-Allow-Origin`.
    fn layer(self: &Arc<Self>) -> CorsLayer {
        let cors = Arc::clone(self);
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origin.to_str().is_ok_and(|o| cors.allows(o))
            }))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(INSTALLATION_ID),
                HeaderName::from_static(FINGERPRINT),
                HeaderName::from_static(LOCATION),
            ])
            .max_age(Duration::from_secs(600))
    }
}

/// What one client can hold. The defaults are the contract's; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's headers must be complete within this time (idle keep-alive connections too).
    pub header_timeout: Duration,
    /// A body that sends nothing for this long is refused and its connection closed.
    pub body_stall_timeout: Duration,
    /// Connections served at once; beyond it the server stops accepting until one closes (the
    /// kernel's backlog holds the rest).
    pub max_connections: usize,
    /// Request line and headers, in bytes, beyond which we answer 431 with a body.
    pub max_header_bytes: usize,
    /// Header lines beyond which we answer 431 with a body.
    pub max_headers: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_stall_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// Serves until `shutdown` completes, with the default [`ServerLimits`].
pub async fn run<S, B>(
    listener: TcpListener,
    api: Arc<Api<S, SealingBlobStore<B>>>,
    cors: Arc<Cors>,
    shutdown: impl Future<Output = ()>,
) where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    run_with_limits(listener, api, cors, ServerLimits::default(), shutdown).await;
}

/// Serves until `shutdown` completes.
pub async fn run_with_limits<S, B>(
    listener: TcpListener,
    api: Arc<Api<S, SealingBlobStore<B>>>,
    cors: Arc<Cors>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    let limits = Arc::new(limits);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(HYPER_MAX_HEADER_BYTES)
        .max_headers(HYPER_MAX_HEADERS);
    tokio::pin!(shutdown);
    loop {
        // A free connection slot first, then a connection: at the cap, nothing is accepted.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // the semaphore is never closed
            },
            () = &mut shutdown => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let service = connection_service(
            Arc::clone(&api),
            Arc::clone(&cors),
            Arc::clone(&limits),
            peer,
        );
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// One connection's service: CORS around the router, with preflights answered as API Gateway
/// answers them (204, and nothing granted to an origin that is not allowed).
fn connection_service<S, B>(
    api: Arc<Api<S, SealingBlobStore<B>>>,
    cors: Arc<Cors>,
    limits: Arc<ServerLimits>,
    peer: SocketAddr,
) -> TowerToHyperService<
    impl Service<
        Request<Incoming>,
        Response = HttpResponse,
        Error = Infallible,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static,
>
where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    let routed = ServiceBuilder::new()
        .layer(cors.layer())
        .service_fn(move |request| {
            let (api, limits) = (Arc::clone(&api), Arc::clone(&limits));
            async move { Ok::<_, Infallible>(handle(&api, &limits, request, peer).await) }
        });
    TowerToHyperService::new(tower::service_fn(move |request: Request<Incoming>| {
        let preflight = request.method() == Method::OPTIONS;
        let routed = routed.clone();
        async move {
            let mut response = routed.oneshot(request).await?;
            if preflight {
                finish_preflight(&mut response);
            }
            Ok(response)
        }
    }))
}

/// `CorsLayer` answers every preflight 200 and lists the allowed methods and headers whatever the
/// origin. API Gateway answers 204, and the contract answers preflights for configured origins
/// only: a refused origin gets no grant at all.
fn finish_preflight(response: &mut HttpResponse) {
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_METHODS);
        headers.remove(header::ACCESS_CONTROL_ALLOW_HEADERS);
        headers.remove(header::ACCESS_CONTROL_MAX_AGE);
    }
}

async fn handle<S, B>(
    api: &Api<S, SealingBlobStore<B>>,
    limits: &ServerLimits,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> HttpResponse
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    if let Some(refusal) = check_head(api, limits, &request) {
        discard_in_background(request.into_body(), limits);
        return refusal;
    }
    let path = request.uri().path();
    // The static capture page (GET and HEAD of its own files); anything else is the API's.
    if let Some(page) = crate::capture_page::respond(request.method(), path, request.headers()) {
        discard_in_background(request.into_body(), limits);
        return page;
    }
    let matched = match_request(request.method(), path)
        .map(|m| (m.route, m.org_id.to_owned(), m.sign_id.to_owned()));
    let Some((route, org_id, sign_id)) = matched else {
        discard_in_background(request.into_body(), limits);
        return error_response(api, &ApiError::unknown_route());
    };
    let event = match to_gateway_event(request, route, org_id, sign_id, peer, limits).await {
        Ok(event) => event,
        Err(refusal) => return refusal.into_response(api, limits),
    };
    let response = match route {
        Route::GetSign => handlers::get_sign(api, event).await,
        Route::Preview => handlers::preview(api, event).await,
        Route::Sign => handlers::sign(api, event).await,
    };
    from_lambda(response)
}

/// Refusals decided from the request head alone, before any of the body is read.
fn check_head<S, B>(
    api: &Api<S, B>,
    limits: &ServerLimits,
    request: &Request<Incoming>,
) -> Option<HttpResponse> {
    let headers = request.headers();
    // Request line and header lines as sent, near enough: "name: value\r\n" per header.
    let head_bytes = request.method().as_str().len()
        + request.uri().to_string().len()
        + "  HTTP/1.1\r\n\r\n".len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head_bytes > limits.max_header_bytes || headers.len() > limits.max_headers {
        let error = ApiError::Parameter(format!(
            "headers: must be at most {} bytes and {} lines together",
            limits.max_header_bytes, limits.max_headers
        ));
        let mut response = error_response(api, &error);
        *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        return Some(response);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        let error = ApiError::InvalidInput(format!(
            "body: must be at most {MAX_BODY_BYTES} bytes (Content-Length is larger)"
        ));
        return Some(error_response(api, &error));
    }
    None
}

/// Reads and drops what is left of a body the answer did not need, so that the client, which
/// may still be sending it, reads the answer instead of a reset connection. Bounded: at most
/// twice the body limit, and no longer than the body keeps flowing.
fn discard_in_background(mut body: Incoming, limits: &ServerLimits) {
    let stall = limits.body_stall_timeout;
    tokio::spawn(async move {
        let mut discarded = 0;
        while discarded <= 2 * MAX_BODY_BYTES {
            match tokio::time::timeout(stall, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    discarded += frame.data_ref().map_or(0, Bytes::len);
                }
                _ => break,
            }
        }
    });
}

/// Why a body could not be read.
enum BodyRefusal {
    Stalled,
    Unreadable(hyper::Error),
}

impl BodyRefusal {
    fn into_response<S, B>(self, api: &Api<S, B>, limits: &ServerLimits) -> HttpResponse {
        let details = match self {
            Self::Stalled => format!(
                "body: no data received for {} s; the connection is closed",
                limits.body_stall_timeout.as_secs_f64()
            ),
            Self::Unreadable(e) => {
                tracing::debug!(error = %e, "could not read the request body");
                "body: could not be read".to_owned()
            }
        };
        let mut response = error_response(api, &ApiError::InvalidInput(details));
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// The request as API Gateway would deliver it. The body is read up to one byte past the limit
/// (enough for the handler to reject an oversized body with the contract's error); a body that
/// sends nothing for `body_stall_timeout` is refused.
async fn to_gateway_event(
    request: Request<Incoming>,
    route: Route,
    org_id: String,
    sign_id: String,
    peer: SocketAddr,
    limits: &ServerLimits,
) -> Result<lambda_http::Request, BodyRefusal> {
    let (parts, mut incoming) = request.into_parts();
    let mut bytes = Vec::new();
    loop {
        let frame = tokio::time::timeout(limits.body_stall_timeout, incoming.frame())
            .await
            .map_err(|_| BodyRefusal::Stalled)?;
        let Some(frame) = frame else { break };
        if let Ok(data) = frame.map_err(BodyRefusal::Unreadable)?.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > MAX_BODY_BYTES {
                break;
            }
        }
    }
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_owned());
    http.protocol = Some(format!("{:?}", parts.version));
    // The peer address of the TCP connection, as API Gateway reports the caller's address;
    // headers such as X-Forwarded-For are never trusted for evidence.
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.route_key = Some(format!("{} {}", route.method(), route.template()));
    context.stage = Some("$default".into());
    context.time_epoch = chrono::Utc::now().timestamp_millis();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes)
    };
    Ok(Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_path_parameters(HashMap::from([
            ("org_id".to_owned(), org_id),
            ("sign_id".to_owned(), sign_id),
        ])))
}

fn from_lambda(response: Response<Body>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}

fn error_response<S, B>(api: &Api<S, B>, error: &ApiError) -> HttpResponse {
    from_lambda(api.docs.response(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_allowed_only_when_asked_for() {
        let cors = Cors {
            origins: vec!["https://app.example".into()],
            allow_loopback: true,
        };
        for allowed in [
            "https://app.example",
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:3000",
        ] {
            assert!(cors.allows(allowed), "{allowed}");
        }
        for refused in [
            "https://app.example.evil",
            "http://localhost.evil:80",
            "http://localhost:",
            "http://localhost:80a",
            "https://localhost:3000",
            "http://127.0.0.2:3000",
            "null",
        ] {
            assert!(!cors.allows(refused), "{refused}");
        }
        let strict = Cors {
            allow_loopback: false,
            ..cors
        };
        assert!(!strict.allows("http://localhost:5173"));
    }
}
