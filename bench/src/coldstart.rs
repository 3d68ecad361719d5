//! Cold start: process start to first response, with this process playing the Lambda service.
//!
//! The project's local Runtime API (`biosign_e2e::runtime_api`) hands the function
//! one API Gateway v2 event and notes when the response comes back. The event carries no
//! token, so every function answers (401) without touching the network: what is measured is
//! start-up, init and one request through the runtime.

use std::path::Path;
use std::time::Duration;

use biosign_e2e::runtime_api::{LocalFunction, Outcome};

const EVENT: &str = r#"{"version":"2.0","routeKey":"GET /v1/orgs/{org_id}/biometric_signs/{sign_id}","rawPath":"/v1/orgs/acme/biometric_signs/0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10","rawQueryString":"","headers":{"host":"api.example"},"requestContext":{"accountId":"123456789012","apiId":"api","domainName":"api.example","domainPrefix":"api","http":{"method":"GET","path":"/v1/orgs/acme/biometric_signs/0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10","protocol":"HTTP/1.1","sourceIp":"203.0.113.1","userAgent":"bench"},"requestId":"cold-1","routeKey":"GET /v1/orgs/{org_id}/biometric_signs/{sign_id}","stage":"$default","time":"26/Nov/2026:10:00:00 +0000","timeEpoch":1795687200000},"pathParameters":{"org_id":"acme","sign_id":"0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10"},"isBase64Encoded":false}"#;

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
        .invoke(EVENT, Duration::from_secs(20))
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
