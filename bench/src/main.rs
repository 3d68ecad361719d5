//! `biosign-bench`: every performance figure of the service, each as a ratio against a floor
//! measured in the same run (this machine is shared and noisy; absolute times are not comparable
//! across runs, ratios are). Run it with `scripts/bench`, which builds what it measures.
//!
//! 1. Handler CPU per request, in process, on the in-memory store. The floor of a sign is the
//!    unavoidable work on the same bytes: parse the JSON body, base64-decode both fields, SHA-256
//!    both decoded blobs, seal the biometric data for the two escrow certificates (its own row
//!    shows what sealing alone costs).
//! 2. Peak heap during a maximum sign, as a multiple of the request body's size.
//! 3. Cold start of each function binary against a hello-world `lambda_runtime` binary.
//! 4. The size of each function binary as built for Lambda (arm64, release, stripped).
#![forbid(unsafe_code)]

mod coldstart;
mod payload;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign::commands::{self, CreateSignArgs, TokenArgs};
use biosign::devkey::{self, DevKey};
use biosign::environment::Environment;
use biosign_shared::error::ErrorDocs;
use biosign_shared::handlers::{self, Api};
use biosign_shared::seal::{EscrowRecipients, Sealed};
use biosign_shared::store::memory::MemoryStore;
use biosign_shared::store::{BlobStore, SealingBlobStore, StoreError, StoredBlob, WrittenBlob};
use biosign_shared::testing;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use peak_alloc::PeakAlloc;
use sha2::{Digest, Sha256};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const SAMPLES: usize = 60;
const WARMUP: usize = 5;
const COLD_STARTS: usize = 15;
const FUNCTIONS: [&str; 3] = ["get-sign", "preview-sign", "submit-sign"];

/// The blob store of the benchmark: takes the bytes and lets them go, as the S3 adapter does
/// once they are sent. (The in-memory store keeps every blob, so each request would touch fresh
/// pages: a cost production does not have.)
#[derive(Default)]
struct SentBlobs;

impl BlobStore for SentBlobs {
    async fn put_new(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        _sha256: [u8; 32],
        _content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        drop(black_box(bytes));
        Ok(WrittenBlob {
            key: key.to_owned(),
            version_id: None,
        })
    }
    async fn remove(&self, _blob: &WrittenBlob) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _key: &str) -> Result<Option<StoredBlob>, StoreError> {
        Ok(None)
    }
    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

struct Bench {
    api: Api<MemoryStore, SealingBlobStore<SentBlobs>>,
    /// Two escrow certificates (RSA 2048 and 3072, test fixtures), as a rotation has them: the
    /// sign handler seals for both, and the functions' cold start reads both.
    escrow_certs: PathBuf,
    token: String,
    key: DevKey,
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(dir.path()).expect("dev key");
        let auth = key.authenticator().expect("jwks");
        let token = commands::mint_token(
            &key,
            &TokenArgs {
                expires_in: "PT1H".into(),
                ..TokenArgs::for_org("acme")
            },
            &Environment::default(),
        )
        .expect("token");
        let escrow_certs = dir.path().join("escrow-certs.pem");
        let pem: String = ["rsa2048.crt.pem", "rsa3072.crt.pem"]
            .map(|name| std::fs::read_to_string(testing::escrow_fixture(name)).expect("fixture"))
            .concat();
        std::fs::write(&escrow_certs, pem).expect("escrow certificates");
        let escrow = EscrowRecipients::load(&escrow_certs, biosign_shared::time::now())
            .expect("the fixtures are valid recipients");
        let api = Api {
            signs: MemoryStore::new(),
            blobs: SealingBlobStore {
                store: SentBlobs,
                escrow,
            },
            auth,
            docs: ErrorDocs::new("https://docs.example/errors"),
            tsa: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            api,
            escrow_certs,
            token,
            key,
            _dir: dir,
            runtime,
        }
    }

    /// `count` fresh signs that can be signed at once (no preview documents).
    fn fresh_signs(&self, count: usize, needs_preview: bool) -> Vec<String> {
        (0..count)
            .map(|_| {
                let args = CreateSignArgs {
                    preview_documents: if needs_preview {
                        vec![uuid::Uuid::new_v4().to_string()]
                    } else {
                        vec![]
                    },
                    expires_in: "P1D".into(),
                    ..CreateSignArgs::for_org("acme")
                };
                self.runtime
                    .block_on(commands::create_sign(&self.api.signs, &args))
                    .expect("sign")
                    .sign_id
                    .to_string()
            })
            .collect()
    }

    /// The request API Gateway would deliver.
    fn request(
        &self,
        method: Method,
        sign_id: &str,
        action: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> lambda_http::Request {
        let path = match action {
            Some(action) => format!("/v1/orgs/acme/biometric_signs/{sign_id}/{action}"),
            None => format!("/v1/orgs/acme/biometric_signs/{sign_id}"),
        };
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example{path}"))
            .header("authorization", format!("Bearer {}", self.token))
            .header("x-installation_id", "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11")
            .header("x-fingerprint", "3f8a1c2e9b7d4f60a1b2c3d4e5f60718")
            .header("x-location", "40.4168,-3.7038")
            .header("content-type", "application/json")
            .header("user-agent", "Mozilla/5.0 (bench)")
            .body(body.map(Body::Binary).unwrap_or(Body::Empty))
            .expect("request");
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("203.0.113.1".into());
        context.request_id = Some(uuid::Uuid::new_v4().to_string());
        request
            .with_path_parameters(HashMap::from([
                ("org_id".to_owned(), "acme".to_owned()),
                ("sign_id".to_owned(), sign_id.to_owned()),
            ]))
            .with_request_context(RequestContext::ApiGatewayV2(context))
    }
}

#[derive(serde::Deserialize)]
struct RawBody<'a> {
    #[serde(borrow)]
    biometric_data: &'a str,
    #[serde(borrow)]
    signature_image: &'a str,
}

/// The unavoidable work of a sign on `body`: parse, decode both fields, hash both blobs, seal the
/// biometric data for `escrow`.
fn floor(body: &[u8], escrow: &EscrowRecipients) -> ([u8; 32], [u8; 32], Sealed) {
    let raw: RawBody<'_> = serde_json::from_slice(body).expect("json");
    let image = raw
        .signature_image
        .strip_prefix("data:image/png;base64,")
        .unwrap_or(raw.signature_image);
    let data = STANDARD.decode(raw.biometric_data).expect("base64");
    let image = STANDARD.decode(image).expect("base64");
    let sealed = escrow.seal(&data).expect("seal");
    (
        Sha256::digest(&data).into(),
        Sha256::digest(&image).into(),
        sealed,
    )
}

struct SignFigures {
    handler: Duration,
    floor: Duration,
}

/// Sign handler and floor on the same body, interleaved so both see the same machine.
fn sign_cpu(bench: &Bench, payload: &payload::Payload) -> SignFigures {
    let signs = bench.fresh_signs(SAMPLES + WARMUP, false);
    let mut handler = Vec::new();
    let mut floors = Vec::new();
    for (i, sign_id) in signs.iter().enumerate() {
        let request = bench.request(
            Method::POST,
            sign_id,
            Some("sign"),
            Some(payload.body.clone()),
        );
        let started = Instant::now();
        let response = bench.runtime.block_on(handlers::sign(&bench.api, request));
        let handled = started.elapsed();
        assert_eq!(
            response.status(),
            204,
            "{:?}",
            String::from_utf8_lossy(response.body())
        );
        let started = Instant::now();
        black_box(floor(black_box(&payload.body), &bench.api.blobs.escrow));
        let floored = started.elapsed();
        if i >= WARMUP {
            handler.push(handled);
            floors.push(floored);
        }
    }
    SignFigures {
        handler: median(handler),
        floor: median(floors),
    }
}

/// Median time of checking the payload's decoded biometric data as the sign does (parse, the
/// format's rules, the quality rules and the summary), alone.
fn validation_cpu(payload: &payload::Payload) -> Duration {
    let samples = (0..SAMPLES + WARMUP)
        .map(|_| {
            let started = Instant::now();
            let checked = biosign_shared::capture::validate(black_box(&payload.biometric_data));
            let elapsed = started.elapsed();
            assert!(checked.is_ok(), "{:?}", checked.err());
            drop(black_box(checked));
            elapsed
        })
        .skip(WARMUP)
        .collect();
    median(samples)
}

/// Median time of sealing the decoded biometric data of `payload` for the two escrow
/// certificates.
fn seal_cpu(bench: &Bench, payload: &payload::Payload) -> Duration {
    let raw: RawBody<'_> = serde_json::from_slice(&payload.body).expect("json");
    let data = STANDARD.decode(raw.biometric_data).expect("base64");
    let escrow = &bench.api.blobs.escrow;
    let samples = (0..SAMPLES + WARMUP)
        .map(|_| {
            let started = Instant::now();
            black_box(escrow.seal(black_box(&data)).expect("seal"));
            started.elapsed()
        })
        .skip(WARMUP)
        .collect();
    median(samples)
}

/// Median time of a GET and of a preview.
fn get_and_preview_cpu(bench: &Bench) -> (Duration, Duration) {
    let signs = bench.fresh_signs(SAMPLES + WARMUP, true);
    let mut gets = Vec::new();
    let mut previews = Vec::new();
    for (i, sign_id) in signs.iter().enumerate() {
        let request = bench.request(Method::GET, sign_id, None, None);
        let started = Instant::now();
        let response = bench
            .runtime
            .block_on(handlers::get_sign(&bench.api, request));
        let got = started.elapsed();
        assert_eq!(response.status(), 200);
        let request = bench.request(Method::POST, sign_id, Some("preview"), None);
        let started = Instant::now();
        let response = bench
            .runtime
            .block_on(handlers::preview(&bench.api, request));
        let previewed = started.elapsed();
        assert_eq!(response.status(), 204);
        if i >= WARMUP {
            gets.push(got);
            previews.push(previewed);
        }
    }
    (median(gets), median(previews))
}

/// Median time of verifying the bearer token alone (a fixed cost of every request).
fn token_cpu(bench: &Bench) -> Duration {
    let request = bench.request(
        Method::GET,
        "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10",
        None,
        None,
    );
    let samples = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            // An inline key set answers at once: one poll, no runtime in the measurement.
            let verify = std::pin::pin!(bench.api.auth.authenticate(request.headers()));
            let mut context = std::task::Context::from_waker(std::task::Waker::noop());
            match std::future::Future::poll(verify, &mut context) {
                std::task::Poll::Ready(claims) => black_box(claims.expect("token")),
                std::task::Poll::Pending => unreachable!("inline keys never wait"),
            };
            started.elapsed()
        })
        .collect();
    median(samples)
}

/// Peak live heap while a maximum sign is handled, the request body included, in bytes.
fn sign_peak_heap(bench: &Bench, payload: &payload::Payload) -> usize {
    let sign_id = bench.fresh_signs(1, false).remove(0);
    let before = HEAP.current_usage();
    let request = bench.request(
        Method::POST,
        &sign_id,
        Some("sign"),
        Some(payload.body.clone()),
    );
    HEAP.reset_peak_usage();
    let response = bench.runtime.block_on(handlers::sign(&bench.api, request));
    assert_eq!(response.status(), 204);
    HEAP.peak_usage().saturating_sub(before)
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name(name)
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_owned()
}

fn main() {
    let bench = Bench::new();
    // `biosign-bench profile-sign [typical|maximum]`: only the sign loop, for a profiler.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("profile-sign") {
        let payload = if args.get(2).map(String::as_str) == Some("typical") {
            payload::typical()
        } else {
            payload::maximum()
        };
        let figures = sign_cpu(&bench, &payload);
        println!(
            "handler {}, floor {}",
            micros(figures.handler),
            micros(figures.floor)
        );
        return;
    }
    // `biosign-bench cold-start`: only the cold-start figures, to iterate on init.
    let only_cold_start = args.get(1).map(String::as_str) == Some("cold-start");
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |figure: &str, value: String, goal: &str, detail: String| {
        rows.push([figure.into(), value, goal.into(), detail])
    };

    if !only_cold_start {
        in_process_rows(&bench, &mut row);
    }
    cold_start_rows(&bench, &mut row);
    if !only_cold_start {
        size_rows(&mut row);
    }

    println!("| figure | value | goal | detail |");
    println!("|---|---|---|---|");
    for [figure, value, goal, detail] in rows {
        println!("| {figure} | {value} | {goal} | {detail} |");
    }
}

/// Adds a row: figure, value, goal, detail.
type Row<'a> = dyn FnMut(&str, String, &str, String) + 'a;

/// 1. Handler CPU and 2. peak heap.
fn in_process_rows(bench: &Bench, row: &mut Row) {
    let token = token_cpu(bench);
    let (get, preview) = get_and_preview_cpu(bench);
    row(
        "GET handler",
        micros(get),
        "-",
        format!("of which token verification {}", micros(token)),
    );
    row("preview handler", micros(preview), "-", String::new());
    let typical = payload::typical();
    let maximum = payload::maximum();
    for (payload, goal) in [(&typical, "≤ 2.0"), (&maximum, "≤ 1.5")] {
        let figures = sign_cpu(bench, payload);
        row(
            &format!("sign handler ÷ floor, {}", payload.name),
            format!(
                "{:.2}",
                figures.handler.as_secs_f64() / figures.floor.as_secs_f64()
            ),
            goal,
            format!(
                "handler {}, floor {} ({} byte body)",
                micros(figures.handler),
                micros(figures.floor),
                payload.body.len()
            ),
        );
        let validation = validation_cpu(payload);
        row(
            &format!("of which biometric validation ÷ handler, {}", payload.name),
            format!(
                "{:.2}",
                validation.as_secs_f64() / figures.handler.as_secs_f64()
            ),
            "-",
            format!(
                "parse, rules and summary of the {} byte capture: {}",
                payload.biometric_data.len(),
                micros(validation)
            ),
        );
        let sealing = seal_cpu(bench, payload);
        row(
            &format!("sealing alone, {}", payload.name),
            micros(sealing),
            "-",
            "part of the floor: AES-256-GCM, RSA-OAEP for 2048 + 3072 bits, SHA-256 of the envelope"
                .into(),
        );
    }

    // 2. Peak heap.
    let peak = sign_peak_heap(bench, &maximum);
    row(
        "peak heap per maximum sign ÷ body size",
        format!("{:.2}", peak as f64 / maximum.body.len() as f64),
        "≤ 3",
        format!(
            "{peak} bytes at peak for a {} byte body",
            maximum.body.len()
        ),
    );
}

/// 3. Cold start of each function against hello-world.
fn cold_start_rows(bench: &Bench, row: &mut Row) {
    let env = vec![
        ("TABLE_NAME", "bench-table".to_owned()),
        ("BUCKET_NAME", "bench-bucket".to_owned()),
        ("JWT_JWKS", bench.key.jwks_json()),
        ("JWT_ISSUER", devkey::ISSUER.to_owned()),
        ("JWT_AUDIENCE", devkey::AUDIENCE.to_owned()),
        ("ESCROW_CERTS", bench.escrow_certs.display().to_string()),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "benchmark".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
    ];
    const HELLO: &str = "hello-lambda";
    const HELLO_SINGLE: &str = "hello-lambda-single-thread";
    let binaries = [HELLO, HELLO_SINGLE].into_iter().chain(FUNCTIONS);
    let mut cold: HashMap<&str, Vec<Duration>> = HashMap::new();
    let mut rss: HashMap<&str, u64> = HashMap::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for _ in 0..COLD_STARTS {
        // Interleaved, so that every binary sees the same machine.
        for name in binaries.clone() {
            let binary = sibling(name);
            match runtime.block_on(coldstart::measure(&binary, &env)) {
                Ok(start) => {
                    if FUNCTIONS.contains(&name) {
                        assert!(
                            start.response.contains("\"statusCode\":401"),
                            "{name}: {}",
                            start.response
                        );
                    }
                    cold.entry(name).or_default().push(start.elapsed);
                    let peak = rss.entry(name).or_default();
                    *peak = (*peak).max(start.peak_rss.unwrap_or(0));
                }
                Err(e) => panic!("cold start of {name} failed: {e} (build it with scripts/bench)"),
            }
        }
    }
    let mib = |name: &str| rss[name] as f64 / 1048576.0;
    let hello = median(cold[HELLO].clone());
    let single = median(cold[HELLO_SINGLE].clone());
    row(
        "cold start, hello-world lambda_runtime (floor)",
        format!("{:.2} ms", hello.as_secs_f64() * 1e3),
        "-",
        format!("`#[tokio::main]`; peak RSS {:.1} MiB", mib(HELLO)),
    );
    row(
        "cold start, hello-world on a single-threaded runtime",
        format!("{:.2} ms", single.as_secs_f64() * 1e3),
        "-",
        format!(
            "as the functions run (like for like); peak RSS {:.1} MiB",
            mib(HELLO_SINGLE)
        ),
    );
    for name in FUNCTIONS {
        let function = median(cold[name].clone());
        row(
            &format!("cold start {name} ÷ hello-world"),
            format!("{:.2}", function.as_secs_f64() / hello.as_secs_f64()),
            "≤ 1.5",
            format!(
                "{:.2} ms; {:.2} × the single-threaded hello-world; peak RSS {:.1} MiB",
                function.as_secs_f64() * 1e3,
                function.as_secs_f64() / single.as_secs_f64(),
                mib(name)
            ),
        );
    }
}

/// 4. Binary sizes, as built for Lambda.
fn size_rows(row: &mut Row) {
    for name in FUNCTIONS {
        let path = workspace()
            .join("target/lambda")
            .join(name)
            .join("bootstrap");
        match std::fs::metadata(&path) {
            Ok(meta) => row(
                &format!("{name} binary (arm64, stripped)"),
                format!("{:.2} MiB", meta.len() as f64 / 1048576.0),
                "≤ 8 MiB",
                format!("{} bytes", meta.len()),
            ),
            Err(_) => row(
                &format!("{name} binary (arm64, stripped)"),
                "not built".into(),
                "≤ 8 MiB",
                "run scripts/bench, which builds it with cargo lambda".into(),
            ),
        }
    }
}
