//! Figure 1: handler CPU per request, in process, on the in-memory store. The floor of a sign is
//! the unavoidable work on the same bytes: parse the JSON body, base64-decode both fields,
//! SHA-256 both decoded blobs, seal the biometric data for the two escrow certificates (its own
//! row shows what sealing alone costs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign_shared::handlers;
use biosign_shared::seal::{EscrowRecipients, Sealed};
use sha2::{Digest, Sha256};

use crate::Row;
use crate::harness::{Bench, SAMPLES, WARMUP, median, micros};
use crate::payload::{self, Payload};

pub const GET_EVENT: &str = "apigw-v2-get.json";
pub const PREVIEW_EVENT: &str = "apigw-v2-preview.json";
pub const SIGN_EVENT: &str = "apigw-v2-sign.json";

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

pub struct SignFigures {
    pub handler: Duration,
    pub floor: Duration,
}

/// Sign handler and floor on the same body, interleaved so both see the same machine.
pub fn sign_cpu(bench: &Bench, payload: &Payload) -> SignFigures {
    let signs = bench.fresh_signs(SAMPLES + WARMUP, false);
    let mut handler = Vec::new();
    let mut floors = Vec::new();
    for (i, sign_id) in signs.iter().enumerate() {
        let request = bench.request(SIGN_EVENT, sign_id, &payload.body);
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
fn validation_cpu(payload: &Payload) -> Duration {
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
fn seal_cpu(bench: &Bench, payload: &Payload) -> Duration {
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
        let request = bench.request(GET_EVENT, sign_id, b"");
        let started = Instant::now();
        let response = bench
            .runtime
            .block_on(handlers::get_sign(&bench.api, request));
        let got = started.elapsed();
        assert_eq!(response.status(), 200);
        let request = bench.request(PREVIEW_EVENT, sign_id, b"");
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
    let request = bench.request(GET_EVENT, "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10", b"");
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

/// The rows of figure 1.
pub fn rows(bench: &Bench, row: &mut Row) {
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
}
