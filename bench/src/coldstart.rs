//! Cold start: process start to first response, with this process playing the Lambda service.
//!
//! A minimal Runtime API on loopback hands the function one API Gateway v2 event on
//! `/runtime/invocation/next` and times the `/response` that comes back. The event carries no
//! token, so every function answers (401) without touching the network: what is measured is
//! start-up, init and one request through the runtime.

use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const EVENT: &str = r#"{"version":"2.0","routeKey":"GET /v1/orgs/{org_id}/biometric_signs/{sign_id}","rawPath":"/v1/orgs/acme/biometric_signs/0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10","rawQueryString":"","headers":{"host":"api.example"},"requestContext":{"accountId":"123456789012","apiId":"api","domainName":"api.example","domainPrefix":"api","http":{"method":"GET","path":"/v1/orgs/acme/biometric_signs/0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10","protocol":"HTTP/1.1","sourceIp":"203.0.113.1","userAgent":"bench"},"requestId":"cold-1","routeKey":"GET /v1/orgs/{org_id}/biometric_signs/{sign_id}","stage":"$default","time":"26/Nov/2026:10:00:00 +0000","timeEpoch":1795687200000},"pathParameters":{"org_id":"acme","sign_id":"0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10"},"isBase64Encoded":false}"#;

#[derive(Debug)]
enum Outcome {
    Response(Instant, String),
    Error(String),
}

async fn runtime_api(
    request: Request<hyper::body::Incoming>,
    served: Arc<Mutex<bool>>,
    done: mpsc::UnboundedSender<Outcome>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let first = !std::mem::replace(&mut *served.lock().unwrap(), true);
        if !first {
            // The function asks for its next event after answering: keep it waiting; it is
            // killed once the answer is in.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        let response = Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
            .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from_static(EVENT.as_bytes())))
            .expect("response");
        return Ok(response);
    }
    let at = Instant::now();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let outcome = if path.ends_with("/response") {
        Outcome::Response(at, text)
    } else {
        Outcome::Error(format!("{path}: {text}"))
    };
    let _ = done.send(outcome);
    Ok(Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .expect("response"))
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
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let served = Arc::new(Mutex::new(false));
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (served, done) = (Arc::clone(&served), done_tx.clone());
            tokio::spawn(async move {
                let service =
                    service_fn(move |r| runtime_api(r, Arc::clone(&served), done.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let outcome = tokio::time::timeout(Duration::from_secs(20), done_rx.recv()).await;
    let rss = peak_rss(child.id());
    let _ = child.kill().await;
    server.abort();
    match outcome {
        Ok(Some(Outcome::Response(at, response))) => Ok(ColdStart {
            elapsed: at - started,
            response,
            peak_rss: rss,
        }),
        Ok(Some(Outcome::Error(e))) => Err(e),
        Ok(None) | Err(_) => Err(format!("{}: no response within 20 s", binary.display())),
    }
}
