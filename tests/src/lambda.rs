//! For the function binaries' own tests: one binary run as Lambda runs it (its real `main`:
//! settings from the environment, AWS clients, the runtime loop), with
//! [`LocalFunction`](crate::runtime_api::LocalFunction) playing the Lambda service, against a
//! fresh table and bucket in moto that hold one pending sign; and the check that a binary
//! started without a required setting exits at once naming it.
//!
//! Events are the API Gateway HTTP API (payload 2.0) fixtures of `shared/tests/fixtures`, with
//! the sign id and a token filled in.

use std::path::Path;
use std::time::Duration;

use biosign::commands::{self, SignReport};
use biosign::devkey::{self, DevKey};
use biosign::environment::Environment;
use biosign_shared::handlers;
use biosign_shared::store::dynamo::DynamoSignStore;
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobStore, SignAdmin};
use biosign_shared::testing::{TEST_ESCROW_CERT, escrow_fixture, test_escrow};
use serde_json::Value;

use crate::fixtures::{FULL_SCOPE, SignBuilder, dev_token, gateway_event};
use crate::runtime_api::LocalFunction;
use crate::{fresh_aws_stores, moto_url};

/// Long enough for a debug build's first request to moto on a busy machine; a hung function
/// fails the test instead of stalling the run.
const INVOKE_LIMIT: Duration = Duration::from_secs(60);

/// A function binary against moto, and the sign it can act on.
pub struct FunctionOnMoto {
    pub function: LocalFunction,
    pub signs: DynamoSignStore,
    pub blobs: S3BlobStore,
    pub key: DevKey,
    pub sign_id: String,
    /// A token for the sign's organisation, with the read and sign scopes.
    pub token: String,
    _dir: tempfile::TempDir,
}

impl FunctionOnMoto {
    /// Creates the table, the bucket and a pending sign, then starts `binary` configured for
    /// them, with static credentials and moto as its endpoint (nothing else from this process's
    /// environment reaches it).
    pub async fn start(binary: &str) -> Self {
        Self::start_with_env(binary, []).await
    }

    /// As [`start`](Self::start), with `extra` variables added to the function's environment.
    pub async fn start_with_env(
        binary: &str,
        extra: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DevKey::load_or_create(dir.path()).expect("dev key");
        let (signs, blobs) = fresh_aws_stores(None).await;
        let sign = SignBuilder::new("acme").needs_preview().build();
        signs.create_sign(&sign).await.expect("create a sign");
        let token = dev_token(&key, "acme", FULL_SCOPE, None, "PT15M");
        let env = [
            ("TABLE_NAME", signs.table().to_owned()),
            ("BUCKET_NAME", blobs.bucket().to_owned()),
            ("JWT_JWKS", key.jwks_json()),
            ("JWT_ISSUER", devkey::ISSUER.to_owned()),
            ("JWT_AUDIENCE", devkey::AUDIENCE.to_owned()),
            // The test escrow: its key opens what the sign function seals.
            (
                "ESCROW_CERTS",
                escrow_fixture(TEST_ESCROW_CERT).display().to_string(),
            ),
            ("AWS_ENDPOINT_URL", moto_url()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ];
        let function = LocalFunction::start(Path::new(binary), env.into_iter().chain(extra))
            .await
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        Self {
            function,
            signs,
            blobs,
            key,
            sign_id: sign.sign_id.to_string(),
            token,
            _dir: dir,
        }
    }

    /// The fixture `name`, for this sign, carrying `token`.
    pub fn event_with_token(&self, name: &str, token: &str) -> String {
        // The body placeholder stays, for the sign tests to fill in.
        gateway_event(name, &self.sign_id, token, "{{BODY}}")
    }

    /// The fixture `name`, for this sign, with a valid token.
    pub fn event(&self, name: &str) -> String {
        self.event_with_token(name, &self.token)
    }

    /// Invokes the function with `event` and returns the proxy response's status and JSON body
    /// (`Null` when the body is empty). Panics, showing the function's output, when it does not
    /// answer with a proxy response. Every answer is held to the contract's form: a 204 has no
    /// body; any other status (a `GetSignResponse`, an `ErrorsResponse`) has a JSON body sent as
    /// `application/json`, as text.
    pub async fn invoke(&mut self, event: &str) -> (u16, Value) {
        let raw = self.function.expect_response(event, INVOKE_LIMIT).await;
        let output = || self.function.output();
        let response: Value = serde_json::from_str(&raw)
            .unwrap_or_else(|e| panic!("not a JSON proxy response ({e}): {raw}\n{}", output()));
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("no statusCode: {raw}"));
        let body = response["body"].as_str().unwrap_or_default();
        if status == 204 {
            assert_eq!(body, "", "a 204 has no body: {raw}");
            return (status, Value::Null);
        }
        assert_eq!(
            response["headers"]["content-type"], "application/json",
            "{raw}"
        );
        assert_ne!(response["isBase64Encoded"], true, "{raw}");
        let body = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {raw}"));
        (status, body)
    }

    /// Records the preview of `apigw-v2-preview.json` in process, through the same handler and
    /// stores the preview-sign function uses: the state a signing test starts from.
    pub async fn record_preview(&self) {
        let auth = self.key.authenticator().expect("the dev key's JWKS");
        let api = commands::api(
            self.signs.clone(),
            self.blobs.clone(),
            test_escrow(),
            auth,
            None,
            &Environment::default(),
        );
        let request = lambda_http::request::from_str(&self.event("apigw-v2-preview.json"))
            .expect("a valid API Gateway v2 event");
        let response = handlers::preview(&api, request).await;
        assert_eq!(response.status(), 204, "{:?}", response.body());
    }

    /// The sign, its evidence events and the chain check, as stored.
    pub async fn report(&self) -> SignReport {
        commands::show_sign(&self.signs, "acme", &self.sign_id)
            .await
            .expect("show the sign")
    }

    /// Every key in the bucket.
    pub async fn blob_keys(&self) -> Vec<String> {
        self.blobs.list("").await.expect("list the bucket")
    }
}

/// A valid value of each setting the functions read before the escrow certificates (the JWKS
/// holds one Ed25519 key; the names go nowhere).
pub const VALID_SETTINGS: [(&str, &str); 5] = [
    ("TABLE_NAME", "t"),
    ("BUCKET_NAME", "b"),
    (
        "JWT_JWKS",
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
    ),
    ("JWT_ISSUER", "i"),
    ("JWT_AUDIENCE", "a"),
];

/// Starts a function binary with each required setting missing in turn (and once with a
/// symmetric JWKS), and asserts that it exits at once with `EX_CONFIG` and a message naming the
/// culprit. `needs_bucket` for the function that also needs `BUCKET_NAME`.
pub fn assert_fails_fast_without_settings(binary: &str, needs_bucket: bool) {
    use std::process::Command;
    let full = VALID_SETTINGS;
    let start = |env: &[(&str, &str)]| {
        Command::new(binary)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("run the function binary")
    };
    let mut required = vec!["TABLE_NAME", "JWT_JWKS", "JWT_ISSUER", "JWT_AUDIENCE"];
    if needs_bucket {
        required.push("BUCKET_NAME");
    }
    for missing in required {
        let env: Vec<_> = full
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        let output = start(&env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(78),
            "without {missing}: {stderr}"
        );
        assert!(stderr.contains(missing), "without {missing}: {stderr}");
    }
    let symmetric = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
    let env: Vec<_> = full
        .iter()
        .map(|&(k, v)| (k, if k == "JWT_JWKS" { symmetric } else { v }))
        .collect();
    let output = start(&env);
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("symmetric keys are refused"));
}
