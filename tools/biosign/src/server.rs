//! `biosign serve`: an HTTP/1.1 server that turns each request into the event API Gateway HTTP
//! API (payload 2.0) would deliver, request context and path parameters included, and hands it to
//! the same handler functions the Lambda binaries run. It also answers CORS as the deployed API
//! would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use biosign_shared::ApiError;
use biosign_shared::handlers::{self, Api};
use biosign_shared::request::MAX_BODY_BYTES;
use biosign_shared::route::{Route, match_path};
use biosign_shared::store::{BlobStore, SealingBlobStore, SignReader, SignWriter};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use tokio::net::TcpListener;

/// The request headers a browser may send cross-origin (the contract's list).
pub const CORS_ALLOWED_HEADERS: &str =
    "authorization, content-type, x-installation_id, x-fingerprint, x-location";

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
                        || (rest.starts_with(':') && rest[1..].bytes().all(|b| b.is_ascii_digit()))
                })
            })
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// Serves until `shutdown` completes.
pub async fn run<S, B>(
    listener: TcpListener,
    api: Arc<Api<S, SealingBlobStore<B>>>,
    cors: Arc<Cors>,
    shutdown: impl Future<Output = ()>,
) where
    S: SignReader + SignWriter + 'static,
    B: BlobStore + 'static,
{
    tokio::pin!(shutdown);
    loop {
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
        let (api, cors) = (Arc::clone(&api), Arc::clone(&cors));
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (api, cors) = (Arc::clone(&api), Arc::clone(&cors));
                async move { Ok::<_, Infallible>(handle(&api, &cors, request, peer).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle<S, B>(
    api: &Api<S, SealingBlobStore<B>>,
    cors: &Cors,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> HttpResponse
where
    S: SignReader + SignWriter,
    B: BlobStore,
{
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| cors.allows(o))
        .map(str::to_owned);
    let path = request.uri().path().to_owned();
    if let Some(page) = crate::capture_page::respond(request.method(), &path, request.headers()) {
        return page;
    }
    let matched = match_path(&path).map(|m| (m.route, m.org_id.to_owned(), m.sign_id.to_owned()));
    let Some((route, org_id, sign_id)) = matched else {
        return not_found(api, origin.as_deref());
    };
    if request.method() == Method::OPTIONS {
        return preflight(origin.as_deref());
    }
    if request.method() != route.method() {
        return not_found(api, origin.as_deref());
    }
    let event = match to_gateway_event(request, route, org_id, sign_id, peer).await {
        Ok(event) => event,
        Err(e) => {
            tracing::debug!(error = %e, "could not read the request body");
            let error = ApiError::InvalidInput("body: could not be read".into());
            return with_cors(from_lambda(api.docs.response(&error)), origin.as_deref());
        }
    };
    let response = match route {
        Route::GetSign => handlers::get_sign(api, event).await,
        Route::Preview => handlers::preview(api, event).await,
        Route::Sign => handlers::sign(api, event).await,
    };
    with_cors(from_lambda(response), origin.as_deref())
}

/// The request as API Gateway would deliver it. The body is read up to one byte past the limit:
/// enough for the handler to reject an oversized body with the contract's error.
async fn to_gateway_event(
    request: Request<Incoming>,
    route: Route,
    org_id: String,
    sign_id: String,
    peer: SocketAddr,
) -> Result<lambda_http::Request, hyper::Error> {
    let (parts, mut incoming) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = incoming.frame().await {
        if let Ok(data) = frame?.into_data() {
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

fn not_found<S, B>(api: &Api<S, B>, origin: Option<&str>) -> HttpResponse {
    let error = ApiError::unknown_route();
    with_cors(from_lambda(api.docs.response(&error)), origin)
}

fn preflight(origin: Option<&str>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return with_cors(response, Some(origin));
    }
    response
}

fn with_cors(mut response: HttpResponse, origin: Option<&str>) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}
