//! Signs and dev tokens built directly, without running the tool's argument parsing (a pending
//! sign as the platform would create it, and tokens of the local dev issuer), and the API Gateway
//! HTTP API (payload 2.0) events of `shared/tests/fixtures`.

use std::path::{Path, PathBuf};

use biosign::commands::{self, TokenArgs};
use biosign::devkey::DevKey;
use biosign::environment::Environment;
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::{Document, SignRecord};
use biosign_shared::testing;
use biosign_shared::time;

/// Both scopes, as `biosign token` grants by default.
pub const FULL_SCOPE: &str = "biometric_signs:read biometric_signs:sign";

/// A pending sign of one organisation: one document to sign (a fresh id), optionally one to
/// preview first, valid for seven days unless told otherwise.
#[derive(Debug, Clone)]
pub struct SignBuilder {
    org: OrgId,
    needs_preview: bool,
    expires_in: chrono::Duration,
}

impl SignBuilder {
    pub fn new(org: &str) -> Self {
        Self {
            org: OrgId::parse(org).expect("a valid org id"),
            needs_preview: false,
            expires_in: chrono::Duration::days(7),
        }
    }

    /// With a document that must be previewed before signing.
    pub fn needs_preview(self) -> Self {
        Self {
            needs_preview: true,
            ..self
        }
    }

    pub fn expires_in(self, expires_in: chrono::Duration) -> Self {
        Self { expires_in, ..self }
    }

    /// The record, created now (store it with `SignAdmin::create_sign`).
    pub fn build(self) -> SignRecord {
        let now = time::now();
        let key = SignKey::new(self.org, SignId::new_random());
        let fresh_id = || uuid::Uuid::new_v4().to_string();
        SignRecord::new(biosign_shared::model::NewSign {
            sign_process_id: fresh_id(),
            documents: vec![Document {
                id: fresh_id(),
                name: "contract.pdf".into(),
                sign_fields: vec!["SIGNATURE_CUSTOMER".into()],
            }],
            preview_documents: if self.needs_preview {
                vec![fresh_id()]
            } else {
                vec![]
            },
            expires_at: now + self.expires_in,
            ..testing::new_sign(key, now)
        })
    }
}

/// `biosign token --org ORG --scope SCOPE [--sign-id ID] --expires-in LIFETIME`, with the local
/// dev key.
pub fn dev_token(
    key: &DevKey,
    org: &str,
    scope: &str,
    sign_id: Option<&str>,
    lifetime: &str,
) -> String {
    let args = TokenArgs {
        org: org.into(),
        sign_id: sign_id.map(str::to_owned),
        scope: scope.into(),
        expires_in: lifetime.into(),
    };
    commands::mint_token(key, &args, &Environment::default()).expect("mint a dev token")
}

/// The directory of the shared fixtures (`shared/tests/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("shared/tests/fixtures")
}

/// The API Gateway v2 event fixture `name` (`apigw-v2-get.json`, `apigw-v2-preview.json`,
/// `apigw-v2-sign.json`) for the sign `sign_id` of `acme`, carrying `token`; the sign event's
/// body is `body` (ignored by the others).
pub fn gateway_event(name: &str, sign_id: &str, token: &str, body: &str) -> String {
    let path = fixtures_dir().join(name);
    let body = serde_json::to_string(body).expect("a JSON string");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("{{SIGN_ID}}", sign_id)
        .replace("{{TOKEN}}", token)
        .replace("\"{{BODY}}\"", &body)
}
