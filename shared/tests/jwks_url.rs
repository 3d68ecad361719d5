//! Tokens verified with keys fetched from the issuer's JWKS URL, against a loopback JWKS server
//! whose answers the tests change: nothing is fetched before a token needs a key, rotation (a new
//! `kid`) is picked up within the refetch interval, an outage is ridden out on the cached set, no
//! set at all fails closed, and a slow server cannot hold a request for longer than the fetch
//! timeout. Time is a test clock moved forward, never waited for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use biosign_shared::ApiError;
use biosign_shared::auth::{Authenticator, Claims};
use biosign_shared::jwks::{RemoteJwks, RemoteJwksOptions};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "biosign-api";

/// What the loopback issuer answers, and how often it was asked.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: String,
    cache_control: Option<String>,
    /// Sleep this long before answering (a slow issuer).
    delay: Duration,
}

#[derive(Clone)]
struct Issuer {
    answer: Arc<Mutex<Answer>>,
    hits: Arc<Mutex<usize>>,
    url: String,
}

impl Issuer {
    async fn start(keys: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let issuer = Self {
            answer: Arc::new(Mutex::new(Answer {
                status: 200,
                body: jwks(keys),
                cache_control: None,
                delay: Duration::ZERO,
            })),
            hits: Arc::new(Mutex::new(0)),
            url,
        };
        let serving = issuer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let serving = serving.clone();
                tokio::spawn(async move {
                    // Read the request head; the client sends no body.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    *serving.hits.lock().unwrap() += 1;
                    let answer = serving.answer.lock().unwrap().clone();
                    tokio::time::sleep(answer.delay).await;
                    let cache_control = answer
                        .cache_control
                        .map(|v| format!("cache-control: {v}\r\n"))
                        .unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\n{cache_control}content-length: {}\r\nconnection: close\r\n\r\n{}",
                        answer.status,
                        answer.body.len(),
                        answer.body
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        issuer
    }

    fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }

    fn answer(&self, change: impl FnOnce(&mut Answer)) {
        change(&mut self.answer.lock().unwrap());
    }
}

/// A clock the test moves.
#[derive(Clone)]
struct TestClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl TestClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

fn key(kid: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in kid.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    SigningKey::from_bytes(&seed)
}

fn jwk(kid: &str) -> serde_json::Value {
    let x = URL_SAFE_NO_PAD.encode(key(kid).verifying_key().to_bytes());
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": kid, "x": x})
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<_> = kids.iter().map(|k| jwk(k)).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn bearer(kid: &str) -> HeaderMap {
    let der = key(kid).to_pkcs8_der().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "org": "acme", "scope": "biometric_signs:read"});
    let header = Header {
        kid: Some(kid.into()),
        ..Header::new(Algorithm::EdDSA)
    };
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn options() -> RemoteJwksOptions {
    RemoteJwksOptions {
        fetch_timeout: Duration::from_millis(500),
        ..RemoteJwksOptions::default()
    }
}

fn authenticator(url: &str, options: RemoteJwksOptions, clock: &TestClock) -> Authenticator {
    let clock = clock.clone();
    let remote = RemoteJwks::with_clock(
        url,
        options,
        Arc::new(move || clock.start + *clock.offset.lock().unwrap()),
    )
    .unwrap();
    Authenticator::from_remote(remote, ISSUER, AUDIENCE)
}

async fn verify(auth: &Authenticator, kid: &str) -> Result<Claims, String> {
    auth.authenticate(&bearer(kid)).await.map_err(|e| match e {
        ApiError::Unauthorized(d) => d,
        other => panic!("a token error is a 401, got {other:?}"),
    })
}

const UNKNOWN_KID: &str = "Authorization: the token's kid is not a trusted key";
const NO_KEYS: &str = "Authorization: the issuer's keys cannot be fetched; try again later";
const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn nothing_is_fetched_until_a_token_needs_a_key_then_the_set_is_cached() {
    let issuer = Issuer::start(&["k1"]).await;
    let clock = TestClock::new();
    let auth = authenticator(&issuer.url, options(), &clock);
    assert_eq!(issuer.hits(), 0, "no fetch when the authenticator is built");
    let claims = verify(&auth, "k1").await.unwrap();
    assert_eq!(claims.org.as_deref(), Some("acme"));
    for _ in 0..5 {
        verify(&auth, "k1").await.unwrap();
    }
    assert_eq!(issuer.hits(), 1, "one fetch serves every later request");
}

#[tokio::test]
async fn concurrent_requests_on_a_cold_cache_share_one_fetch() {
    let issuer = Issuer::start(&["k1"]).await;
    let auth = Arc::new(authenticator(&issuer.url, options(), &TestClock::new()));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move { verify(&auth, "k1").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_its_first_use_at_most_once_a_minute() {
    let issuer = Issuer::start(&["k1"]).await;
    let clock = TestClock::new();
    let auth = authenticator(&issuer.url, options(), &clock);
    verify(&auth, "k1").await.unwrap();
    issuer.answer(|a| a.body = jwks(&["k1", "k2"]));

    // Within a minute of the last fetch an unknown kid is refused without asking the issuer.
    clock.advance(Duration::from_secs(30));
    assert_eq!(verify(&auth, "k2").await.unwrap_err(), UNKNOWN_KID);
    assert_eq!(issuer.hits(), 1);

    // A minute after it, the unknown kid triggers one refetch, which finds the new key.
    clock.advance(Duration::from_secs(30));
    verify(&auth, "k2").await.unwrap();
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 2);

    // A kid the issuer does not publish: one refetch a minute at most, however many tokens.
    clock.advance(MINUTE);
    for _ in 0..10 {
        assert_eq!(verify(&auth, "forged").await.unwrap_err(), UNKNOWN_KID);
    }
    assert_eq!(issuer.hits(), 3);
}

#[tokio::test]
async fn the_set_is_fresh_for_its_max_age_within_bounds() {
    let issuer = Issuer::start(&["k1"]).await;
    issuer.answer(|a| a.cache_control = Some("public, max-age=600".into()));
    let clock = TestClock::new();
    let auth = authenticator(&issuer.url, options(), &clock);
    verify(&auth, "k1").await.unwrap();
    clock.advance(Duration::from_secs(599));
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 1, "still fresh");
    clock.advance(Duration::from_secs(2));
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 2, "refreshed once stale");

    // A max-age of a day is cut to the hour.
    issuer.answer(|a| a.cache_control = Some("max-age=86400".into()));
    clock.advance(Duration::from_secs(601));
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 3);
    clock.advance(Duration::from_secs(3601));
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 4);
}

#[tokio::test]
async fn an_outage_is_ridden_out_on_the_cached_set_then_fails_closed() {
    let issuer = Issuer::start(&["k1"]).await;
    let clock = TestClock::new();
    let options = RemoteJwksOptions {
        max_stale: Duration::from_secs(600),
        ..options()
    };
    let auth = authenticator(&issuer.url, options, &clock);
    verify(&auth, "k1").await.unwrap();
    issuer.answer(|a| a.status = 503);

    // Stale (past the default five minutes) and the issuer failing: the cached keys still work.
    clock.advance(Duration::from_secs(6 * 60));
    verify(&auth, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 2, "the refresh was attempted");
    clock.advance(Duration::from_secs(4 * 60));
    verify(&auth, "k1").await.unwrap();

    // Past freshness plus the allowed staleness: no key set to trust, every token is refused.
    clock.advance(Duration::from_secs(6 * 60));
    assert_eq!(verify(&auth, "k1").await.unwrap_err(), NO_KEYS);

    // The issuer is back: the next attempt (a minute after the last) restores service.
    issuer.answer(|a| a.status = 200);
    clock.advance(MINUTE);
    verify(&auth, "k1").await.unwrap();
}

#[tokio::test]
async fn no_key_set_at_all_fails_closed() {
    // Nothing listens on this port once the listener is dropped.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let auth = authenticator(&url, options(), &TestClock::new());
    assert_eq!(verify(&auth, "k1").await.unwrap_err(), NO_KEYS);

    // An issuer that answers, but not with a usable key set.
    let issuer = Issuer::start(&["k1"]).await;
    for (status, body) in [
        (404, jwks(&["k1"])),
        (200, "<html>not json</html>".to_owned()),
        (
            200,
            r#"{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}"#.to_owned(),
        ),
        (200, "x".repeat(300 * 1024)),
    ] {
        issuer.answer(|a| {
            a.status = status;
            a.body = body.clone();
        });
        let auth = authenticator(&issuer.url, options(), &TestClock::new());
        assert_eq!(
            verify(&auth, "k1").await.unwrap_err(),
            NO_KEYS,
            "{status} {}",
            &body[..body.len().min(40)]
        );
    }
}

#[tokio::test]
async fn a_slow_issuer_cannot_hold_a_request_past_the_fetch_timeout() {
    let issuer = Issuer::start(&["k1"]).await;
    issuer.answer(|a| a.delay = Duration::from_secs(30));
    let auth = authenticator(&issuer.url, options(), &TestClock::new());
    // The guard only keeps a broken bound from hanging the suite; the assertion is the answer.
    let outcome = tokio::time::timeout(Duration::from_secs(20), verify(&auth, "k1"))
        .await
        .expect("the fetch timeout bounds the wait");
    assert_eq!(outcome.unwrap_err(), NO_KEYS);
    assert_eq!(issuer.hits(), 1);
}

#[tokio::test]
async fn a_fetch_in_flight_does_not_hold_tokens_the_cache_can_verify() {
    let issuer = Issuer::start(&["k1"]).await;
    let clock = TestClock::new();
    let options = RemoteJwksOptions {
        fetch_timeout: Duration::from_secs(15),
        ..options()
    };
    let auth = Arc::new(authenticator(&issuer.url, options, &clock));
    verify(&auth, "k1").await.unwrap();
    // A forged kid, a minute later, starts a refetch that the issuer answers slowly.
    issuer.answer(|a| a.delay = Duration::from_secs(30));
    clock.advance(MINUTE);
    let forged = {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move { verify(&auth, "forged").await })
    };
    let started = tokio::time::timeout(GUARD, async {
        while issuer.hits() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "the refetch reached the issuer");
    // Meanwhile a token of a cached, fresh key is verified at once.
    verify(&auth, "k1").await.unwrap();
    assert!(!forged.is_finished(), "the refetch is still in flight");
    forged.abort();
}

const GUARD: Duration = Duration::from_secs(10);
