//! The real function binaries, as Lambda runs them: `cargo lambda watch` serves each binary's
//! own `main` (config from the environment, AWS clients, the runtime loop) against DynamoDB + S3
//! in moto, and `cargo lambda invoke --data-file` sends API Gateway HTTP API v2 events, both with
//! path parameters (behind API Gateway) and without (function-URL emulation).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use biosign::commands::{self, CreateSignArgs, TokenArgs};
use biosign::devkey::{self, DevKey};
use biosign_e2e::{Signature, fresh_aws_stores, moto_url};
use serde_json::Value;

/// Set by `scripts/test`: the `cargo-lambda` it installed.
const CARGO_LAMBDA_VAR: &str = "BIOSIGN_TEST_CARGO_LAMBDA";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn cargo_lambda() -> PathBuf {
    std::env::var(CARGO_LAMBDA_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|_| panic!("{CARGO_LAMBDA_VAR} is not set: run through scripts/test, which installs cargo-lambda"))
}

/// `cargo lambda watch`, stopped when dropped.
struct Watch {
    child: Child,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn watch(env: &[(&str, String)], log: &Path) -> Watch {
    let port = free_port();
    let bin_dir = cargo_lambda().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(cargo_lambda());
    command
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(workspace())
        .env("PATH", path)
        // Its own target directory: sharing the workspace's makes the two builds invalidate each
        // other's artifacts and recompile the SDK on every run.
        .env("CARGO_TARGET_DIR", workspace().join("target/lambda-watch"))
        .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(log.with_extension("err")).unwrap(),
        ));
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("start cargo lambda watch");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Watch { child, port }
}

/// Invokes `function` with `event` and returns the API Gateway proxy response.
fn invoke(watch: &Watch, function: &str, event: &str, dir: &Path) -> (u16, Value) {
    let file = dir.join(format!("{function}-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, event).unwrap();
    let output = Command::new(cargo_lambda())
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &watch.port.to_string(),
            "--data-file",
        ])
        .arg(&file)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "invoke {function}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value = serde_json::from_slice(&output.stdout).expect("a JSON proxy response");
    let status = response["statusCode"].as_u64().unwrap() as u16;
    let body = response["body"]
        .as_str()
        .filter(|b| !b.is_empty())
        .map(|b| serde_json::from_str(b).unwrap())
        .unwrap_or(Value::Null);
    (status, body)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(workspace().join("shared/tests/fixtures").join(name)).unwrap()
}

fn render(template: &str, sign_id: &str, token: &str) -> String {
    template
        .replace("{{SIGN_ID}}", sign_id)
        .replace("{{TOKEN}}", token)
}

#[test]
fn the_three_function_binaries_serve_api_gateway_events() {
    let dir = tempfile::tempdir().unwrap();
    let key = DevKey::load_or_create(dir.path()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (signs, blobs) = runtime.block_on(fresh_aws_stores(None));
    let args = CreateSignArgs {
        preview_documents: vec![uuid::Uuid::new_v4().to_string()],
        expires_in: "P1D".into(),
        ..CreateSignArgs::for_org("acme")
    };
    let sign = runtime
        .block_on(commands::create_sign(&signs, &args))
        .unwrap();
    let token = commands::mint_token(
        &key,
        &TokenArgs {
            expires_in: "PT10M".into(),
            ..TokenArgs::for_org("acme")
        },
    )
    .unwrap();

    let env = [
        ("TABLE_NAME", signs.table().to_owned()),
        ("BUCKET_NAME", blobs.bucket().to_owned()),
        ("JWT_JWKS", key.jwks_json()),
        ("JWT_ISSUER", devkey::ISSUER.to_owned()),
        ("JWT_AUDIENCE", devkey::AUDIENCE.to_owned()),
        ("AWS_ENDPOINT_URL", moto_url()),
    ];
    let watch = watch(&env, &dir.path().join("watch.log"));
    let id = sign.sign_id.as_str();

    // get-sign: behind API Gateway, and under function-URL emulation (no path parameters).
    let (status, body) = invoke(
        &watch,
        "get-sign",
        &render(&fixture("apigw-v2-get.json"), id, &token),
        dir.path(),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("PENDING")),
        "{body}"
    );
    let (status, body) = invoke(
        &watch,
        "get-sign",
        &render(&fixture("function-url-get.json"), id, &token),
        dir.path(),
    );
    assert_eq!(
        (status, body["sign_id"].as_str()),
        (200, Some(id)),
        "{body}"
    );
    let (status, body) = invoke(
        &watch,
        "get-sign",
        &render(&fixture("apigw-v2-get.json"), id, "not-a-token"),
        dir.path(),
    );
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (401, Some("MDOC_003")),
        "{body}"
    );

    // submit-sign before the preview: 409; preview-sign: an error, then 204.
    let signature = Signature::sample(1);
    let body_json = serde_json::to_string(&signature.body().to_string()).unwrap();
    let sign_event =
        render(&fixture("apigw-v2-sign.json"), id, &token).replace("\"{{BODY}}\"", &body_json);
    let (status, body) = invoke(&watch, "submit-sign", &sign_event, dir.path());
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (409, Some("MDOC_006")),
        "{body}"
    );
    let preview_event = render(&fixture("apigw-v2-preview.json"), id, &token);
    let without_fingerprint = preview_event.replace("\"x-fingerprint\"", "\"x-not-fingerprint\"");
    let (status, body) = invoke(&watch, "preview-sign", &without_fingerprint, dir.path());
    assert_eq!(
        (status, body["errors"][0]["details"].as_str()),
        (400, Some("x-fingerprint: header is required")),
        "{body}"
    );
    let (status, body) = invoke(&watch, "preview-sign", &preview_event, dir.path());
    assert_eq!(status, 204, "{body}");

    // submit-sign: a bad body, then the signature.
    let bad = render(&fixture("apigw-v2-sign.json"), id, &token)
        .replace("\"{{BODY}}\"", "\"{\\\"biometric_data\\\":\\\"AAAA\\\"}\"");
    let (status, body) = invoke(&watch, "submit-sign", &bad, dir.path());
    assert_eq!(
        (status, body["errors"][0]["details"].as_str()),
        (400, Some("signature_image: is required")),
        "{body}"
    );
    let (status, body) = invoke(&watch, "submit-sign", &sign_event, dir.path());
    assert_eq!(status, 204, "{body}");

    let (status, body) = invoke(
        &watch,
        "get-sign",
        &render(&fixture("apigw-v2-get.json"), id, &token),
        dir.path(),
    );
    assert_eq!(status, 200);
    assert_eq!(body["status"], "SIGNED");
    assert_eq!(body["signature"]["image_sha256"], signature.image_sha256());
    assert_eq!(
        body["signature"]["biometric_data_sha256"],
        signature.biometric_sha256()
    );

    // The evidence was recorded from the gateway's context.
    let report = runtime
        .block_on(commands::show_sign(&signs, "acme", id))
        .unwrap();
    assert!(report.chain.is_valid());
    assert_eq!(report.events.len(), 2);
    assert!(
        report
            .events
            .iter()
            .all(|e| e.client_ip.as_deref() == Some("203.0.113.10"))
    );
    assert_eq!(report.events[1].request_id, "gw-request-2");
}
