//! The tool's commands, as functions the CLI (and the end-to-end tests) call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use biosign_shared::auth::Authenticator;
use biosign_shared::config;
use biosign_shared::evidence::{ChainCheck, EvidenceEvent, verify_chain};
use biosign_shared::handlers::Api;
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::{Document, NewSign, SignRecord, Signer, StoredStatus};
use biosign_shared::seal::EscrowRecipients;
use biosign_shared::store::{BlobStore, CommitError, SealingBlobStore, SignAdmin};
use biosign_shared::timestamp::TsaClient;
use biosign_shared::{ApiError, service, time};
use chrono::Duration;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::devkey::{self, DevKey};
use crate::environment::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite in the data directory: no AWS, no Docker.
    Embedded,
    /// DynamoDB + S3 from TABLE_NAME, BUCKET_NAME, KMS_KEY_ID and the standard AWS variables
    /// (AWS_ENDPOINT_URL included, for an emulator).
    Aws,
}

/// The options every command takes.
#[derive(Debug, Clone, Args)]
pub struct StoreOptions {
    /// Where the embedded database and the local dev key live.
    #[arg(
        long,
        global = true,
        default_value = ".biosign",
        env = "BIOSIGN_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Which store to use.
    #[arg(long, global = true, value_enum, default_value_t = StoreKind::Embedded, env = "BIOSIGN_STORE")]
    pub store: StoreKind,
}

/// The options of `biosign create-sign`.
#[derive(Debug, Clone, Args)]
pub struct CreateSignArgs {
    /// The organization that owns the sign.
    #[arg(long)]
    pub org: String,
    /// A document to sign (UUID); repeatable. Default: one generated document.
    #[arg(long = "document", value_name = "UUID")]
    pub documents: Vec<String>,
    /// A document that must be previewed before signing (UUID); repeatable.
    #[arg(long = "preview-document", value_name = "UUID")]
    pub preview_documents: Vec<String>,
    #[arg(long, default_value = "James")]
    pub signer_name: String,
    #[arg(long, default_value = "Smith")]
    pub signer_last_name: String,
    #[arg(long, default_value = "EN")]
    pub language: String,
    /// How long the sign stays valid, as an ISO 8601 duration (a leading '-' makes it expired).
    #[arg(long, default_value = "P7D", allow_hyphen_values = true)]
    pub expires_in: String,
    /// The sign id to use instead of a random one.
    #[arg(long)]
    pub sign_id: Option<String>,
}

/// The options `biosign <command> --org ORG` has: the command's own defaults, so that code that
/// builds options (serve's demo sign, tests, benchmarks) cannot drift from the CLI.
fn defaults_for_org<A: Args + clap::FromArgMatches>(org: &str) -> A {
    let command = A::augment_args(clap::Command::new("biosign"));
    // `--org=` keeps any value a value; `org` is the only required option, so parsing succeeds.
    command
        .try_get_matches_from(["biosign".to_owned(), format!("--org={org}")])
        .and_then(|matches| A::from_arg_matches(&matches))
        .expect("the command's definition accepts --org alone")
}

impl CreateSignArgs {
    pub fn for_org(org: &str) -> Self {
        defaults_for_org(org)
    }
}

impl TokenArgs {
    pub fn for_org(org: &str) -> Self {
        defaults_for_org(org)
    }
}

fn uuid_arg(flag: &str, value: &str) -> anyhow::Result<String> {
    let id =
        SignId::parse(value).map_err(|_| anyhow::anyhow!("--{flag} {value:?} is not a UUID"))?;
    Ok(id.to_string())
}

pub async fn create_sign<S: SignAdmin>(
    store: &S,
    args: &CreateSignArgs,
) -> anyhow::Result<SignRecord> {
    let org = OrgId::parse(&args.org).map_err(|e| anyhow::anyhow!("--org: {}", e.details()))?;
    let sign_id = match &args.sign_id {
        Some(id) => SignId::parse(id).map_err(|e| anyhow::anyhow!("--sign-id: {}", e.details()))?,
        None => SignId::new_random(),
    };
    let expires_in = crate::duration::parse(&args.expires_in)
        .map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?;
    let mut documents = args
        .documents
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Ok(Document {
                id: uuid_arg("document", id)?,
                name: format!("document-{}.pdf", i + 1),
                sign_fields: vec!["SIGNATURE_CUSTOMER".into()],
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if documents.is_empty() {
        documents.push(Document {
            id: uuid::Uuid::new_v4().to_string(),
            name: "contract.pdf".into(),
            sign_fields: vec!["SIGNATURE_CUSTOMER".into()],
        });
    }
    let preview_documents = args
        .preview_documents
        .iter()
        .map(|id| uuid_arg("preview-document", id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = time::now();
    let record = SignRecord::new(NewSign {
        key: SignKey::new(org, sign_id),
        sign_process_id: uuid::Uuid::new_v4().to_string(),
        signer: Signer {
            alias: "signer_1".into(),
            name: args.signer_name.clone(),
            last_name: args.signer_last_name.clone(),
            language: args.language.clone(),
        },
        documents,
        preview_documents,
        created_at: now,
        expires_at: now + expires_in,
    });
    match store.create_sign(&record).await {
        Ok(()) => Ok(record),
        Err(CommitError::Conflict) => bail!(
            "a sign {} already exists in org {}",
            record.sign_id,
            args.org
        ),
        Err(CommitError::Store(e)) => Err(e.into()),
    }
}

fn sign_key(org: &str, sign_id: &str) -> anyhow::Result<SignKey> {
    let org = OrgId::parse(org).map_err(|e| anyhow::anyhow!("--org: {}", e.details()))?;
    let sign_id =
        SignId::parse(sign_id).map_err(|e| anyhow::anyhow!("--sign-id: {}", e.details()))?;
    Ok(SignKey::new(org, sign_id))
}

fn api_error(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.details())
}

pub async fn cancel_sign<S: SignAdmin>(
    store: &S,
    org: &str,
    sign_id: &str,
) -> anyhow::Result<SignRecord> {
    let key = sign_key(org, sign_id)?;
    service::cancel_sign(store, &key).await.map_err(api_error)
}

/// A sign with its evidence and whether the chain verifies.
#[derive(Debug, Serialize)]
pub struct SignReport {
    pub sign: SignRecord,
    pub events: Vec<EvidenceEvent>,
    pub chain: ChainCheck,
}

pub async fn show_sign<S: SignAdmin>(
    store: &S,
    org: &str,
    sign_id: &str,
) -> anyhow::Result<SignReport> {
    let key = sign_key(org, sign_id)?;
    let sign = service::get_sign(store, &key).await.map_err(api_error)?;
    let events = store.list_events(&key).await?;
    let chain = verify_chain(&sign, &events);
    Ok(SignReport {
        sign,
        events,
        chain,
    })
}

/// The options of `biosign token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub org: String,
    /// Limit the token to one sign (the signer's own token).
    #[arg(long)]
    pub sign_id: Option<String>,
    /// Space-separated scopes.
    #[arg(long, default_value = "biometric_signs:read biometric_signs:sign")]
    pub scope: String,
    /// Lifetime, as an ISO 8601 duration.
    #[arg(long, default_value = "PT15M")]
    pub expires_in: String,
}

/// A token signed with the local dev key, and only with it.
pub fn mint_token(key: &DevKey, args: &TokenArgs, env: &Environment) -> anyhow::Result<String> {
    // Refuse when the environment points at a real identity setup: a dev token means nothing
    // there, and minting one must never look like it could.
    let env = env.lookup();
    if let Some(jwks) = config::optional(&env, config::JWT_JWKS) {
        if !jwks.contains(key.kid()) {
            bail!(
                "JWT_JWKS is set and does not hold the local dev key {}: tokens for that configuration come from its identity provider, not from this tool",
                key.kid()
            );
        }
    }
    if let Some(issuer) = config::optional(&env, config::JWT_ISSUER) {
        if issuer != devkey::ISSUER {
            bail!(
                "JWT_ISSUER is {issuer:?}: this tool only mints tokens of the local dev issuer {:?}",
                devkey::ISSUER
            );
        }
    }
    let org = OrgId::parse(&args.org).map_err(|e| anyhow::anyhow!("--org: {}", e.details()))?;
    let lifetime = crate::duration::parse(&args.expires_in)
        .map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?;
    if lifetime <= Duration::zero() {
        bail!("--expires-in must be positive");
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({
        "iss": devkey::ISSUER,
        "aud": devkey::AUDIENCE,
        "sub": "biosign-local-developer",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.num_seconds(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "org": org.as_str(),
        "scope": args.scope,
    });
    if let Some(sign_id) = &args.sign_id {
        let id =
            SignId::parse(sign_id).map_err(|e| anyhow::anyhow!("--sign-id: {}", e.details()))?;
        claims["sign_id"] = serde_json::Value::String(id.to_string());
    }
    key.sign(&claims)
}

/// The authenticator `serve` uses: the configured JWKS (inline or at a URL), or else the local
/// dev key.
pub fn serve_authenticator(
    key: &DevKey,
    env: &Environment,
) -> anyhow::Result<(Authenticator, &'static str)> {
    let env = env.lookup();
    if config::optional(&env, config::JWT_JWKS).is_some() {
        return Ok((config::authenticator(&env)?, "the JWKS in JWT_JWKS"));
    }
    if config::optional(&env, config::JWT_JWKS_URL).is_some() {
        return Ok((config::authenticator(&env)?, "the JWKS at JWT_JWKS_URL"));
    }
    let auth = key.authenticator()?;
    Ok((auth, "the local dev key"))
}

/// Builds the API of `serve` for the given stores; signatures' biometric data is sealed for
/// `escrow` (see [`crate::escrow::escrow_for_local`]) and, with a TSA, timestamped; error
/// references point at `env`'s ERROR_DOCS_URL.
pub fn api<S, B: BlobStore>(
    signs: S,
    blobs: B,
    escrow: EscrowRecipients,
    auth: Authenticator,
    tsa: Option<TsaClient>,
    env: &Environment,
) -> Arc<Api<S, SealingBlobStore<B>>> {
    Arc::new(Api {
        signs,
        blobs: SealingBlobStore {
            store: blobs,
            escrow,
        },
        auth,
        docs: config::error_docs(&env.lookup()),
        tsa,
    })
}

/// Writes the demo's sign request body (`biosign sample-signature`, seed 1) into the data
/// directory, for the walk-through's `curl --data-binary @FILE` (too large for a command line).
pub fn write_demo_signature(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let body = crate::capture_cmd::sample_body(&crate::capture_cmd::SampleArgs {
        seed: 1,
        format: crate::capture_cmd::FormatArg::Sigdata1,
    })?;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("demo-signature.json");
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    Ok(std::path::absolute(&path).unwrap_or(path))
}

/// The walk-through `serve` prints for a sign: ready-to-paste `curl` commands with a token, the
/// signature being the body in `signature` (see [`write_demo_signature`]).
pub fn walkthrough(base_url: &str, sign: &SignRecord, token: &str, signature: &Path) -> String {
    let url = format!(
        "{base_url}/v1/orgs/{}/biometric_signs/{}",
        sign.org_id, sign.sign_id
    );
    let device = "-H 'x-installation_id: 5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11' -H 'x-fingerprint: 3f8a1c2e9b7d4f60a1b2c3d4e5f60718' -H 'x-location: 40.4168,-3.7038'";
    let signature = signature.display();
    format!(
        "export TOKEN='{token}'\n\n\
         # 1. Load the sign (status PENDING)\n\
         curl -s -H \"Authorization: Bearer $TOKEN\" {url}\n\n\
         # 2. Record that the documents were previewed (204)\n\
         curl -s -i -X POST -H \"Authorization: Bearer $TOKEN\" {device} {url}/preview\n\n\
         # 3. Sign (204) with a synthetic pen signature (make another: biosign sample-signature --seed 2)\n\
         curl -s -i -X POST -H \"Authorization: Bearer $TOKEN\" {device} -H 'Content-Type: application/json' \\\n  \
         --data-binary @'{signature}' {url}/sign\n\n\
         # 4. Load it again (status SIGNED, with the digests and the capture's summary)\n\
         curl -s -H \"Authorization: Bearer $TOKEN\" {url}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_for_an_org_are_the_cli_defaults() {
        let sign = CreateSignArgs::for_org("-acme");
        assert_eq!(sign.org, "-acme");
        assert_eq!(
            (sign.expires_in.as_str(), sign.language.as_str()),
            ("P7D", "EN")
        );
        assert!(
            sign.documents.is_empty()
                && sign.preview_documents.is_empty()
                && sign.sign_id.is_none()
        );
        let token = TokenArgs::for_org("acme");
        assert_eq!(
            (token.scope.as_str(), token.expires_in.as_str()),
            ("biometric_signs:read biometric_signs:sign", "PT15M")
        );
    }
}

/// What `timestamp-pending` did for one sign.
#[derive(Debug, Clone, Serialize)]
pub struct PendingTimestamp {
    pub org_id: String,
    pub sign_id: String,
    /// `timestamped`, `already timestamped`, or why not.
    pub result: String,
}

/// Timestamps every SIGNED sign (of `org`, or all) that has no TIMESTAMP event yet, with the
/// SIGN event's digest as the imprint (the chain head right after it), one sign at a time.
pub async fn timestamp_pending<S: SignAdmin, B: BlobStore>(
    signs: &S,
    blobs: &B,
    tsa: &TsaClient,
    org: Option<&str>,
) -> anyhow::Result<Vec<PendingTimestamp>> {
    let org = org
        .map(OrgId::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--org: {e}"))?;
    let mut done = Vec::new();
    for sign in signs.list_signs(org.as_ref()).await? {
        if sign.status != StoredStatus::Signed || sign.timestamped_at.is_some() {
            continue;
        }
        let key = sign.key();
        let deadline = tokio::time::Instant::now() + service::TIMESTAMP_BUDGET;
        let result = match service::timestamp_signature(signs, blobs, tsa, &key, &sign, deadline)
            .await
        {
            Ok(service::TimestampOutcome::Timestamped) => "timestamped".to_owned(),
            Ok(service::TimestampOutcome::AlreadyTimestamped) => "already timestamped".to_owned(),
            Err(e) => format!("not timestamped: {e}"),
        };
        done.push(PendingTimestamp {
            org_id: key.org_id.to_string(),
            sign_id: key.sign_id.to_string(),
            result,
        });
    }
    Ok(done)
}
