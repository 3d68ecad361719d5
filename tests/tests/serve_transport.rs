//! `biosign serve`'s own refusals and bounds, over raw TCP (a client library would refuse to send
//! most of these requests): what hyper answers by itself before our code runs (bare 400/431 for
//! header bytes it cannot parse, a closed connection when headers never complete), what our code
//! answers with the contract's body (oversized headers, a `Content-Length` over the limit, a
//! stalled body), and the cap on open connections. Timeouts are shortened through
//! [`ServerLimits`]; no test waits for the real 30 s. The store plays no part, so these run on
//! the embedded one.

use std::time::Duration;

use biosign::server::{HYPER_MAX_HEADER_BYTES, HYPER_MAX_HEADERS, ServerLimits};
use biosign_e2e::{Embedded, EmbeddedEnv};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on every read, so that a broken limit fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(20);

fn limits() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_millis(300),
        body_stall_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    }
}

async fn env() -> EmbeddedEnv {
    EmbeddedEnv::start_with_limits(Embedded, limits()).await
}

async fn connect(env: &EmbeddedEnv) -> TcpStream {
    TcpStream::connect(env.base_url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// An answer read off the wire: status, raw head, body, and whether the server then closed the
/// connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The contract's error body with this status, code and a `details` prefix.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str, details_prefix: &str) {
        assert_eq!(self.status, status, "{}\n{:?}", self.head, self.json());
        assert!(
            self.head
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{}",
            self.head
        );
        let error = &self.json()["errors"][0];
        assert_eq!(error["code"], code, "{}", self.json());
        let details = error["details"].as_str().unwrap_or_default();
        assert!(
            details.starts_with(details_prefix),
            "{details:?} should start with {details_prefix:?}"
        );
    }

    /// hyper's own answer: the status, and no body at all.
    #[track_caller]
    fn assert_bare(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.head);
        assert!(
            self.body.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// Reads one response: the head up to the blank line, then `Content-Length` bytes of body.
/// `None` if the server closes the connection without answering.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(GUARD, stream.read(&mut chunk))
            .await
            .expect("the server answers or closes within the guard")
            .unwrap_or(0);
        if n == 0 {
            assert!(buffer.is_empty(), "a partial answer: {buffer:?}");
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = tokio::time::timeout(GUARD, stream.read(&mut chunk))
            .await
            .expect("the body arrives within the guard")
            .expect("read the body");
        assert!(n > 0, "the connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Answer { status, head, body })
}

/// Whether the server closed the connection (EOF or reset) rather than leaving it open.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(GUARD, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn exchange(env: &EmbeddedEnv, request: &[u8]) -> Option<Answer> {
    let mut stream = connect(env).await;
    stream.write_all(request).await.expect("send");
    read_answer(&mut stream).await
}

fn get(env: &EmbeddedEnv, extra_headers: &str) -> Vec<u8> {
    let path = format!("/v1/orgs/acme/biometric_signs/{}", uuid::Uuid::new_v4());
    let token = env.full_token("acme");
    format!(
        "GET {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n{extra_headers}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn header_bytes_hyper_cannot_parse_get_its_bare_400_and_the_server_carries_on() {
    let env = env().await;
    for (name, header) in [
        ("NUL", &b"x-fingerprint: a\x00b\r\n"[..]),
        ("CR", b"x-fingerprint: a\rb\r\n"),
        ("DEL", b"x-fingerprint: a\x7fb\r\n"),
        ("obs-fold", b"x-fingerprint: a\r\n  continued\r\n"),
    ] {
        let mut request = get(&env, "");
        let at = request.len() - 2;
        request.splice(at..at, header.iter().copied());
        let answer = exchange(&env, &request).await.expect("an answer");
        // Exempt by the contract: the HTTP library's own answer, before any of our code runs.
        assert!(
            answer.status == 400 && answer.body.is_empty(),
            "{name}: {answer:?}"
        );
    }
    // Bytes hyper accepts (obs-text, here a Latin-1 é) reach our validation, which names the
    // header.
    let token = env.full_token("acme");
    let mut request = format!(
        "POST /v1/orgs/acme/biometric_signs/{}/preview HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {token}\r\nx-fingerprint: f\r\nx-installation_id: caf",
        uuid::Uuid::new_v4()
    )
    .into_bytes();
    request.push(0xe9);
    request.extend_from_slice(b"\r\n\r\n");
    exchange(&env, &request)
        .await
        .expect("an answer")
        .assert_error(400, "MDOC_000", "x-installation_id:");
    // The server still serves.
    exchange(&env, &get(&env, ""))
        .await
        .expect("an answer")
        .assert_error(404, "MDOC_004", "");
}

#[tokio::test]
async fn oversized_headers_get_431_with_a_body_below_hyper_s_own_limits() {
    let env = env().await;
    let defaults = ServerLimits::default();
    // One large header, between our limit and hyper's.
    let big = format!("x-padding: {}\r\n", "p".repeat(defaults.max_header_bytes));
    exchange(&env, &get(&env, &big))
        .await
        .expect("an answer")
        .assert_error(431, "MDOC_000", "headers: must be at most");
    // Too many header lines, below hyper's count.
    let many: String = (0..defaults.max_headers)
        .map(|i| format!("x-h{i}: v\r\n"))
        .collect();
    exchange(&env, &get(&env, &many))
        .await
        .expect("an answer")
        .assert_error(431, "MDOC_000", "headers: must be at most");
    // Beyond hyper's limits: its own bare 431, exempt by the contract.
    let huge = format!("x-padding: {}\r\n", "p".repeat(HYPER_MAX_HEADER_BYTES));
    exchange(&env, &get(&env, &huge))
        .await
        .expect("an answer")
        .assert_bare(431);
    let too_many: String = (0..HYPER_MAX_HEADERS + 1)
        .map(|i| format!("x-h{i}: v\r\n"))
        .collect();
    exchange(&env, &get(&env, &too_many))
        .await
        .expect("an answer")
        .assert_bare(431);
    // Just within our limit: served as usual (an unknown sign: 404 from the handler).
    exchange(&env, &get(&env, "x-padding: small\r\n"))
        .await
        .expect("an answer")
        .assert_error(404, "MDOC_004", "");
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_at_once() {
    let env = env().await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let mut stream = connect(&env).await;
    let head = format!(
        "POST /v1/orgs/acme/biometric_signs/{}/sign HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 99999999999\r\n\r\n{{}}",
        sign.sign_id
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Answered while the client still owes almost all of the body.
    read_answer(&mut stream)
        .await
        .expect("an answer")
        .assert_error(400, "MDOC_002", "body: must be at most 1048576 bytes");
    // Without a token too: the server never reads such a body.
    exchange(
        &env,
        b"POST /v1/orgs/acme/biometric_signs/0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10/sign HTTP/1.1\r\nhost: t\r\ncontent-length: 1048577\r\n\r\n",
    )
    .await
    .expect("an answer")
    .assert_error(400, "MDOC_002", "body: must be at most");
    assert_eq!(env.report("acme", &sign.sign_id).await.sign.version, 1);
}

#[tokio::test]
async fn a_stalled_body_is_refused_and_its_connection_closed() {
    let env = env().await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let mut stream = connect(&env).await;
    let head = format!(
        "POST /v1/orgs/acme/biometric_signs/{}/sign HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\nx-installation_id: i\r\nx-fingerprint: f\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"biometric",
        sign.sign_id
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    read_answer(&mut stream)
        .await
        .expect("an answer")
        .assert_error(400, "MDOC_002", "body: no data received for");
    assert!(closed_by_server(&mut stream).await);
    assert_eq!(env.report("acme", &sign.sign_id).await.sign.version, 1);
}

#[tokio::test]
async fn headers_that_never_complete_get_the_connection_closed() {
    let env = env().await;
    let mut stream = connect(&env).await;
    stream
        .write_all(b"GET /v1/orgs/acme/biometric_signs/x HTTP/1.1\r\nhost: te")
        .await
        .unwrap();
    // hyper closes the connection without an answer: there is no request to answer yet.
    assert!(read_answer(&mut stream).await.is_none());
    // An idle keep-alive connection is bounded the same way.
    let mut idle = connect(&env).await;
    idle.write_all(&get(&env, "")).await.unwrap();
    read_answer(&mut idle).await.expect("the first answer");
    assert!(closed_by_server(&mut idle).await);
}

#[tokio::test]
async fn open_connections_are_capped() {
    let env = EmbeddedEnv::start_with_limits(
        Embedded,
        ServerLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(60),
            ..limits()
        },
    )
    .await;
    let first = connect(&env).await;
    let mut second = connect(&env).await;
    // Both slots are taken once the second connection is served.
    second.write_all(&get(&env, "")).await.unwrap();
    read_answer(&mut second).await.expect("served");
    // A third connection is not accepted while the two stay open: its request gets no answer.
    let mut third = connect(&env).await;
    third.write_all(&get(&env, "")).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte))
            .await
            .is_err(),
        "no answer while at the cap"
    );
    // One closes: the waiting connection is accepted and answered.
    drop(first);
    read_answer(&mut third)
        .await
        .expect("served once a slot is free")
        .assert_error(404, "MDOC_004", "");
}

#[tokio::test]
async fn cors_answers_as_the_deployed_api_does() {
    let env = env().await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let url = env.url("acme", &sign.sign_id, None);
    // A simple request from an allowed origin carries the grant; from another origin, none.
    let allowed = env
        .send(
            env.http
                .get(&url)
                .bearer_auth(&token)
                .header("origin", "https://app.example"),
        )
        .await;
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let vary = allowed.headers["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");
    let refused = env
        .send(
            env.http
                .get(&url)
                .bearer_auth(&token)
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(
        refused.status, 200,
        "CORS is the browser's check, not the server's"
    );
    assert!(refused.headers.get("access-control-allow-origin").is_none());
    // An error answered to an allowed origin is readable by the page too.
    let missing = env
        .send(env.http.get(&url).header("origin", "https://app.example"))
        .await;
    missing.assert_error(401, "MDOC_003", "UNAUTHORIZED", "Authorization:");
    assert_eq!(
        missing.headers["access-control-allow-origin"],
        "https://app.example"
    );
    // A preflight: 204, the methods, the contract's headers and a max age; for any path, as
    // API Gateway answers preflights before routing.
    for path in [format!("{url}/sign"), format!("{}/elsewhere", env.base_url)] {
        let preflight = env
            .send(
                env.http
                    .request(reqwest::Method::OPTIONS, &path)
                    .header("origin", "https://app.example")
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "authorization, x-fingerprint",
                    ),
            )
            .await;
        assert_eq!(preflight.status, 204, "{path}");
        assert!(preflight.raw.is_empty());
        let methods = preflight.headers["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{methods}"
        );
        assert_eq!(preflight.headers["access-control-max-age"], "600");
    }
    let refused = env
        .send(
            env.http
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", "http://localhost:5173")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert_eq!(refused.status, 204);
    for grant in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-max-age",
    ] {
        assert!(refused.headers.get(grant).is_none(), "{grant}");
    }
}
