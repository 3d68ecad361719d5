//! A fault-injecting proxy between the service's AWS clients and moto, on loopback.
//!
//! It recognises each AWS call by its operation (DynamoDB's `X-Amz-Target`, S3's `x-id` query or
//! its REST shape), counts the occurrences of each, and applies the first [`Rule`] that matches
//! an occurrence: refuse the call before it reaches moto, forward it and then lose the answer,
//! deliver it twice, or deliver it only after the client gave up. Everything else is forwarded
//! untouched, bodies streamed both ways. Every exchange is logged ([`FaultProxy::log`]) so a test
//! can see what happened on the wire: which calls, when each started and was answered, and what
//! each wrote (sizes, and a DynamoDB call's whole request).
//!
//! A latency ([`FaultProxy::set_latency`]) holds every call that long before it is forwarded, as
//! a network round trip would: a request's time then tells how many calls it made one after the
//! other.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

type Body = BoxBody<Bytes, hyper::Error>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What goes wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Not forwarded; answered 500 with the service's error body (`InternalServerError`,
    /// `InternalError`).
    Refuse500,
    /// Not forwarded; throttled as the service throttles: S3 503 `SlowDown`, DynamoDB 400
    /// `ThrottlingException` (DynamoDB's throttling status; the SDK retries it as throttling).
    RefuseThrottled,
    /// Not forwarded; the connection is reset (TCP RST) after the request was read.
    RefuseReset,
    /// Forwarded and carried out; then the connection is reset instead of answering.
    LoseAnswerReset,
    /// Forwarded and carried out; then answered 500 instead of the real answer.
    LoseAnswer500,
    /// Forwarded and carried out; the answer is held past the client's attempt timeout.
    LoseAnswerLate,
    /// Delivered twice; the client gets the second delivery's answer.
    Duplicate,
    /// Held before it is forwarded, and carried out only after the client's attempt timed out
    /// (a request stuck in the network or in the service's queue).
    DeliverLate,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::Refuse500,
        Fault::RefuseThrottled,
        Fault::RefuseReset,
        Fault::LoseAnswerReset,
        Fault::LoseAnswer500,
        Fault::LoseAnswerLate,
        Fault::Duplicate,
        Fault::DeliverLate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Refuse500 => "refuse 500",
            Fault::RefuseThrottled => "refuse throttled",
            Fault::RefuseReset => "refuse reset",
            Fault::LoseAnswerReset => "lose answer: reset",
            Fault::LoseAnswer500 => "lose answer: 500",
            Fault::LoseAnswerLate => "lose answer: late",
            Fault::Duplicate => "duplicate",
            Fault::DeliverLate => "deliver late",
        }
    }

    /// Whether moto carries the call out (once or twice) under this fault.
    pub fn forwards(self) -> bool {
        !matches!(
            self,
            Fault::Refuse500 | Fault::RefuseThrottled | Fault::RefuseReset
        )
    }
}

/// Which occurrences of a call a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    /// The n-th occurrence (1 = the first) since the proxy started.
    Nth(usize),
    /// Every occurrence: an outage.
    Every,
}

/// Apply `fault` to `occurrence` of the call named `call` (`GetItem`, `PutObject`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub call: String,
    pub occurrence: Occurrence,
    pub fault: Fault,
}

impl Rule {
    pub fn nth(call: &str, n: usize, fault: Fault) -> Self {
        Self {
            call: call.into(),
            occurrence: Occurrence::Nth(n),
            fault,
        }
    }

    pub fn every(call: &str, fault: Fault) -> Self {
        Self {
            call: call.into(),
            occurrence: Occurrence::Every,
            fault,
        }
    }

    fn matches(&self, call: &str, n: usize) -> bool {
        self.call == call
            && match self.occurrence {
                Occurrence::Nth(target) => target == n,
                Occurrence::Every => true,
            }
    }
}

/// What the client was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    Reset,
    /// An answer sent only after the hold (the client has given up by then).
    Late(u16),
}

/// One call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `GetItem`, `PutObject`, …
    pub call: String,
    /// Which occurrence of `call` this was (1 = the first).
    pub occurrence: usize,
    pub method: String,
    pub path: String,
    pub fault: Option<Fault>,
    /// moto's status for each delivery (none when refused, two for a duplicate).
    pub upstream: Vec<u16>,
    pub answer: Answer,
    /// A DynamoDB call's `ClientRequestToken`, if it had one.
    pub client_request_token: Option<String>,
    /// When the request reached the proxy.
    pub started: Instant,
    /// When the proxy had the answer for the client (its head: a body may still be streaming),
    /// or gave up on the call.
    pub answered: Instant,
    /// The request's headers, as the client sent them.
    pub request_headers: HeaderMap,
    /// The request body's length as the client declared it (`Content-Length`), or as read.
    pub request_bytes: Option<u64>,
    /// A DynamoDB call's request (JSON); S3 bodies stream through and are not kept.
    pub request_body: Option<Bytes>,
}

impl Exchange {
    /// `TransactWriteItems#2`.
    pub fn label(&self) -> String {
        format!("{}#{}", self.call, self.occurrence)
    }

    /// Whether this call and `other` were under way at the same time.
    pub fn overlaps(&self, other: &Exchange) -> bool {
        self.started < other.answered && other.started < self.answered
    }

    /// Whether this call was answered before `other` started.
    pub fn precedes(&self, other: &Exchange) -> bool {
        self.answered <= other.started
    }
}

#[derive(Debug)]
struct State {
    upstream: SocketAddr,
    hold: Duration,
    /// Added to every call before it is forwarded.
    latency: Mutex<Duration>,
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<Exchange>>,
    /// Calls being handled. A call goes on when its client gives up, as it would on a real
    /// network: the request was delivered.
    in_flight: AtomicUsize,
}

/// Counts a call as in flight until dropped.
struct InFlight(Arc<State>);

impl InFlight {
    fn enter(state: &Arc<State>) -> Self {
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not turn every later call into a second panic.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running proxy. Dropping it stops it and closes its connections.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// How long [`Fault::LoseAnswerLate`] holds an answer (and [`Fault::DeliverLate`] a request) by default: past the longest attempt
/// timeout of the service's clients.
pub fn default_hold() -> Duration {
    biosign_shared::aws::DYNAMODB_LIMITS
        .attempt
        .max(biosign_shared::aws::S3_LIMITS.attempt)
        + Duration::from_millis(500)
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`, moto) on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        Self::start_with_hold(upstream, default_hold()).await
    }

    pub async fn start_with_hold(upstream: &str, hold: Duration) -> Self {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/');
        let upstream: SocketAddr = tokio::net::lookup_host(authority)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("upstream {authority} does not resolve"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(State {
            upstream,
            hold,
            latency: Mutex::default(),
            rules: Mutex::default(),
            counts: Mutex::default(),
            log: Mutex::default(),
            in_flight: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Self {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`, for the clients' endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules. Occurrence counts go on from where they are.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *lock(&self.state.rules) = rules;
    }

    /// Holds every call from now on for `latency` before forwarding it (zero: none), as a
    /// network round trip of that length would. Faults still apply, after the hold.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.state.latency) = latency;
    }

    /// No more faults: the outage is over.
    pub fn clear_rules(&self) {
        lock(&self.state.rules).clear();
    }

    /// Every call so far, in the order they arrived.
    pub fn log(&self) -> Vec<Exchange> {
        lock(&self.state.log).clone()
    }

    /// Waits until no call is being handled (a held answer included), so that what moto holds
    /// is final.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.state.in_flight.load(Ordering::SeqCst) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fault proxy still has calls in flight after a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    // Connections live in this set, so stopping the proxy (aborting this task) closes them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Closing with a zero linger sends a TCP reset: what the reset faults need, and
                // harmless otherwise (the client always closes first on a healthy connection).
                let _ = stream.set_zero_linger();
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |request| call(Arc::clone(&state), request));
                    // An error here is a reset fault or a client that went away.
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The operation an AWS request calls.
pub fn call_name(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        // DynamoDB_20120810.GetItem
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let params: Vec<(&str, &str)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    if let Some((_, id)) = params.iter().find(|(k, _)| *k == "x-id") {
        return (*id).to_owned();
    }
    let has = |name: &str| params.iter().any(|(k, _)| *k == name);
    // Path-style S3: /bucket or /bucket/key...
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let bucket = segments.next().unwrap_or("");
    let object = segments.next().is_some_and(|k| !k.is_empty());
    const BUCKET_SUBRESOURCES: &[(&str, &str)] = &[
        ("versioning", "BucketVersioning"),
        ("encryption", "BucketEncryption"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("ownershipControls", "BucketOwnershipControls"),
        ("policy", "BucketPolicy"),
        ("lifecycle", "BucketLifecycleConfiguration"),
        ("tagging", "BucketTagging"),
    ];
    let verb = match method.as_str() {
        "GET" => "Get",
        "PUT" => "Put",
        "DELETE" => "Delete",
        _ => "",
    };
    match (method.as_str(), object) {
        ("GET", _) if bucket.is_empty() => "ListBuckets".into(),
        ("GET", false) if has("versions") => "ListObjectVersions".into(),
        ("GET", false) if has("list-type") => "ListObjectsV2".into(),
        ("POST", false) if has("delete") => "DeleteObjects".into(),
        (_, false) if !verb.is_empty() => BUCKET_SUBRESOURCES
            .iter()
            .find(|(sub, _)| has(sub))
            .map(|(_, name)| format!("{verb}{name}"))
            .unwrap_or_else(|| {
                match verb {
                    "Get" => "ListObjects",
                    "Put" => "CreateBucket",
                    _ => "DeleteBucket",
                }
                .into()
            }),
        ("HEAD", false) => "HeadBucket".into(),
        ("GET", true) => "GetObject".into(),
        ("HEAD", true) => "HeadObject".into(),
        ("PUT", true) if headers.contains_key("x-amz-copy-source") => "CopyObject".into(),
        ("PUT", true) => "PutObject".into(),
        ("DELETE", true) => "DeleteObject".into(),
        (method, _) => format!("{method} {path}"),
    }
}

fn is_dynamodb(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-target")
}

/// Hop-by-hop headers, which a proxy does not pass on; and `Expect`, which this proxy answers
/// itself (hyper sends `100 Continue` when the body is read).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::EXPECT,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !is_hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn empty() -> Body {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// The error answer each service gives, with the headers its SDK reads.
fn error_answer(
    dynamodb: bool,
    head: bool,
    status: u16,
    code: &str,
    message: &str,
) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = Response::builder().status(status);
    let body = if dynamodb {
        response = response
            .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
            .header("x-amzn-requestid", &request_id)
            .header("x-amzn-errortype", code);
        let prefix = if code == "ThrottlingException" {
            "com.amazon.coral.availability"
        } else {
            "com.amazonaws.dynamodb.v20120810"
        };
        serde_json::json!({ "__type": format!("{prefix}#{code}"), "message": message }).to_string()
    } else {
        response = response
            .header(header::CONTENT_TYPE, "application/xml")
            .header("x-amz-request-id", &request_id)
            .header("x-amz-id-2", "fault-proxy");
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    };
    // A HEAD answer has no body, as S3's does not: the SDK reads the status alone.
    let body = if head { empty() } else { full(body) };
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(empty()))
}

fn internal_error(dynamodb: bool, head: bool) -> Response<Body> {
    if dynamodb {
        error_answer(
            true,
            head,
            500,
            "InternalServerError",
            "Internal server error",
        )
    } else {
        error_answer(
            false,
            head,
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

fn throttled(dynamodb: bool, head: bool) -> Response<Body> {
    if dynamodb {
        error_answer(
            true,
            head,
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )
    } else {
        error_answer(
            false,
            head,
            503,
            "SlowDown",
            "Please reduce your request rate.",
        )
    }
}

/// An answer read in full from moto, to return as it is or to throw away.
struct Buffered {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Buffered {
    fn into_response(self) -> Response<Body> {
        let mut response = Response::new(full(self.body));
        *response.status_mut() = self.status;
        copy_headers(&self.headers, response.headers_mut());
        response
    }
}

/// The error that makes hyper drop a connection without answering (a reset, with zero linger).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Reset {}

/// Sends one request to moto on a fresh connection.
async fn deliver(
    upstream: SocketAddr,
    request: Request<Body>,
) -> Result<Response<Incoming>, BoxError> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender.send_request(request).await?)
}

async fn deliver_buffered(
    upstream: SocketAddr,
    request: Request<Body>,
) -> Result<Buffered, BoxError> {
    let response = deliver(upstream, request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Buffered {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn upstream_request(parts: &hyper::http::request::Parts, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .parse()
        .unwrap_or_default();
    copy_headers(&parts.headers, request.headers_mut());
    request
}

fn bad_gateway(error: &BoxError) -> Response<Body> {
    let mut response = Response::new(full(format!("fault proxy: upstream failed: {error}")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// Handles a call in a task of its own, which runs to its end even if the client goes away.
async fn call(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let in_flight = InFlight::enter(&state);
    let task = tokio::spawn(async move {
        let _in_flight = in_flight;
        handle(state, request).await
    });
    task.await.unwrap_or(Err(Reset))
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let call = call_name(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
    );
    let dynamodb = is_dynamodb(&parts.headers);
    let head = parts.method == Method::HEAD;
    let occurrence = {
        let mut counts = lock(&state.counts);
        let count = counts.entry(call.clone()).or_default();
        *count += 1;
        *count
    };
    let fault = lock(&state.rules)
        .iter()
        .find(|rule| rule.matches(&call, occurrence))
        .map(|rule| rule.fault);
    let mut exchange = Exchange {
        call,
        occurrence,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        fault,
        upstream: Vec::new(),
        answer: Answer::Reset,
        client_request_token: None,
        started,
        answered: started,
        request_headers: parts.headers.clone(),
        request_bytes: parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok()),
        request_body: None,
    };
    let latency = *lock(&state.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // DynamoDB bodies are small JSON documents: read them whole, to log the request token. S3
    // bodies (the blobs) stream through, unless a fault applies (a duplicate is sent twice; a
    // lost answer is read in full before it is thrown away).
    // A refused call is read to its end too, as a server that fails after reading would.
    if fault.is_none() && !dynamodb {
        return forward_streaming(&state, parts, body, exchange).await;
    }
    let body = body.collect().await.map(|b| b.to_bytes());
    let Ok(body) = body else {
        // The client went away mid-request.
        exchange.answer = Answer::Reset;
        exchange.answered = Instant::now();
        lock(&state.log).push(exchange);
        return Err(Reset);
    };
    exchange.request_bytes.get_or_insert(body.len() as u64);
    if dynamodb {
        exchange.request_body = Some(body.clone());
        exchange.client_request_token = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("ClientRequestToken")?.as_str().map(str::to_owned));
    }
    let result = match fault {
        Some(Fault::Refuse500) => Ok(internal_error(dynamodb, head)),
        Some(Fault::RefuseThrottled) => Ok(throttled(dynamodb, head)),
        Some(Fault::RefuseReset) => Err(Reset),
        Some(Fault::Duplicate) => {
            let mut last = None;
            for _ in 0..2 {
                match deliver_buffered(state.upstream, upstream_request(&parts, full(body.clone())))
                    .await
                {
                    Ok(answer) => {
                        exchange.upstream.push(answer.status.as_u16());
                        last = Some(Ok(answer));
                    }
                    Err(e) => last = Some(Err(e)),
                }
            }
            match last {
                Some(Ok(answer)) => Ok(answer.into_response()),
                Some(Err(e)) => Ok(bad_gateway(&e)),
                None => Err(Reset),
            }
        }
        Some(Fault::DeliverLate) => {
            // Logged on arrival, completed on delivery: the test sees the call while it is held.
            exchange.answer = Answer::Late(0);
            exchange.answered = Instant::now();
            let entry = {
                let mut log = lock(&state.log);
                log.push(exchange);
                log.len() - 1
            };
            tokio::time::sleep(state.hold).await;
            let delivered =
                deliver_buffered(state.upstream, upstream_request(&parts, full(body))).await;
            let response = match delivered {
                Ok(answer) => {
                    let status = answer.status.as_u16();
                    let mut log = lock(&state.log);
                    log[entry].upstream.push(status);
                    log[entry].answer = Answer::Late(status);
                    log[entry].answered = Instant::now();
                    answer.into_response()
                }
                Err(e) => bad_gateway(&e),
            };
            return Ok(response);
        }
        Some(lose @ (Fault::LoseAnswerReset | Fault::LoseAnswer500 | Fault::LoseAnswerLate)) => {
            match deliver_buffered(state.upstream, upstream_request(&parts, full(body))).await {
                Err(e) => Ok(bad_gateway(&e)),
                Ok(answer) => {
                    exchange.upstream.push(answer.status.as_u16());
                    match lose {
                        Fault::LoseAnswerReset => Err(Reset),
                        Fault::LoseAnswer500 => Ok(internal_error(dynamodb, head)),
                        _ => {
                            exchange.answer = Answer::Late(answer.status.as_u16());
                            exchange.answered = Instant::now();
                            lock(&state.log).push(exchange.clone());
                            tokio::time::sleep(state.hold).await;
                            return Ok(answer.into_response());
                        }
                    }
                }
            }
        }
        None => match deliver(state.upstream, upstream_request(&parts, full(body))).await {
            Ok(response) => {
                exchange.upstream.push(response.status().as_u16());
                Ok(stream_back(response))
            }
            Err(e) => Ok(bad_gateway(&e)),
        },
    };
    exchange.answer = match &result {
        Ok(response) => Answer::Status(response.status().as_u16()),
        Err(Reset) => Answer::Reset,
    };
    exchange.answered = Instant::now();
    lock(&state.log).push(exchange);
    result
}

fn stream_back(response: Response<Incoming>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let mut answer = Response::new(body.boxed());
    *answer.status_mut() = parts.status;
    copy_headers(&parts.headers, answer.headers_mut());
    answer
}

/// Forwards a request without a fault, its body streamed to moto and moto's answer streamed back.
async fn forward_streaming(
    state: &State,
    parts: hyper::http::request::Parts,
    body: Incoming,
    mut exchange: Exchange,
) -> Result<Response<Body>, Reset> {
    let response = match deliver(state.upstream, upstream_request(&parts, body.boxed())).await {
        Ok(response) => {
            exchange.upstream.push(response.status().as_u16());
            stream_back(response)
        }
        Err(e) => bad_gateway(&e),
    };
    exchange.answer = Answer::Status(response.status().as_u16());
    exchange.answered = Instant::now();
    lock(&state.log).push(exchange);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn name(method: Method, path_and_query: &str, headers: &[(&str, &str)]) -> String {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        call_name(&method, path, query, &map)
    }

    #[test]
    fn calls_are_named_by_operation() {
        let target = |op: &str| format!("DynamoDB_20120810.{op}");
        for op in ["GetItem", "TransactWriteItems", "Query", "PutItem"] {
            assert_eq!(
                name(Method::POST, "/", &[("x-amz-target", &target(op))]),
                op
            );
        }
        for (method, path, expected) in [
            (Method::PUT, "/b/signs/a/b.bin?x-id=PutObject", "PutObject"),
            (Method::PUT, "/b/signs/a/b.bin", "PutObject"),
            (Method::GET, "/b/signs/a/b.bin?x-id=GetObject", "GetObject"),
            (Method::HEAD, "/b/signs/a/b.bin", "HeadObject"),
            (
                Method::DELETE,
                "/b/k?versionId=3&x-id=DeleteObject",
                "DeleteObject",
            ),
            (Method::DELETE, "/b/k?versionId=3", "DeleteObject"),
            (
                Method::GET,
                "/b?versions&prefix=signs%2F",
                "ListObjectVersions",
            ),
            (Method::GET, "/b?list-type=2", "ListObjectsV2"),
            (Method::PUT, "/b", "CreateBucket"),
            (Method::PUT, "/b?versioning", "PutBucketVersioning"),
            (Method::GET, "/b?versioning", "GetBucketVersioning"),
            (Method::HEAD, "/b", "HeadBucket"),
            (Method::POST, "/b?delete", "DeleteObjects"),
        ] {
            assert_eq!(name(method, path, &[]), expected, "{path}");
        }
    }
}
