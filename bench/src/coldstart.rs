//! Figure 3: cold start of each function binary against a hello-world `lambda_runtime` binary,
//! process start to first response, with this process playing the Lambda service.
//!
//! The project's local Runtime API (`biosign_e2e::runtime_api`) hands the function one API
//! Gateway v2 event (the shared GET fixture) and notes when the response comes back. The event's
//! token is not a JWT, so every function answers (401) without touching the network: what is
//! measured is start-up, init and one request through the runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use biosign::devkey;
use biosign_e2e::fixtures;
use biosign_e2e::runtime_api::{LocalFunction, Outcome};

use crate::cpu::GET_EVENT;
use crate::harness::{Bench, median};
use crate::{FUNCTIONS, Row};

const COLD_STARTS: usize = 15;

/// The event every cold start answers.
static EVENT: LazyLock<String> = LazyLock::new(|| {
    fixtures::gateway_event(
        GET_EVENT,
        "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10",
        "not-a-token",
        "",
    )
});

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .with_file_name(name)
}

/// One cold start: time to the first response, the response, and the process's peak resident
/// memory (VmHWM) by then, in bytes.
pub struct ColdStart {
    pub elapsed: Duration,
    pub response: String,
    pub peak_rss: Option<u64>,
}

fn peak_rss(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts `binary` as Lambda would and measures its first response.
pub async fn measure(binary: &Path, env: &[(&str, String)]) -> Result<ColdStart, String> {
    let mut function = LocalFunction::start(binary, env.iter().map(|(k, v)| (k, v)))
        .await
        .map_err(|e| e.to_string())?;
    let invocation = function
        .invoke(&EVENT, Duration::from_secs(20))
        .await
        .map_err(|e| format!("{}: {e}\n{}", binary.display(), function.output()))?;
    let peak_rss = peak_rss(function.pid());
    match invocation.outcome {
        Outcome::Response(response) => Ok(ColdStart {
            elapsed: invocation.answered_at - function.started(),
            response,
            peak_rss,
        }),
        Outcome::Error(error) => Err(format!("{}: {error}", binary.display())),
    }
}

/// The rows of figure 3: each function against hello-world.
pub fn rows(bench: &Bench, row: &mut Row) {
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
            match runtime.block_on(measure(&binary, &env)) {
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
