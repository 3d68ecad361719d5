//! The local development signing key: an Ed25519 key pair kept in the data directory. `serve`
//! trusts it when no JWKS is configured; `token` signs with it and with nothing else.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use biosign_shared::auth::{Authenticator, JwksError};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "dev-signing-key.json";
/// The issuer and audience of dev tokens, which `serve` expects when it trusts the dev key.
pub const ISSUER: &str = "biosign-local-dev";
pub const AUDIENCE: &str = "biosign-api";

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kid: String,
    /// The 32-byte Ed25519 seed, base64url.
    seed: String,
}

pub struct DevKey {
    kid: String,
    signing: SigningKey,
}

impl DevKey {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The key in `data_dir`, created on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(data_dir);
        if path.exists() {
            let file: KeyFile = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", path.display()))?;
            let seed: [u8; 32] = URL_SAFE_NO_PAD
                .decode(&file.seed)?
                .try_into()
                .map_err(|_| {
                    anyhow::anyhow!("{} holds a seed of the wrong size", path.display())
                })?;
            return Ok(Self {
                kid: file.kid,
                signing: SigningKey::from_bytes(&seed),
            });
        }
        std::fs::create_dir_all(data_dir)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let kid = format!(
            "biosign-dev-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let file = KeyFile {
            kid: kid.clone(),
            seed: URL_SAFE_NO_PAD.encode(seed),
        };
        write_private(&path, &serde_json::to_vec_pretty(&file)?)?;
        Ok(Self {
            kid,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A JWKS holding just this key's public half.
    pub fn jwks_json(&self) -> String {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes());
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.kid, "x": x}]})
            .to_string()
    }

    /// An authenticator that trusts this key alone, for tokens of the dev issuer and audience.
    pub fn authenticator(&self) -> Result<Authenticator, JwksError> {
        Authenticator::from_jwks_json(&self.jwks_json(), ISSUER, AUDIENCE)
    }

    /// Signs `claims` (which must carry `iss`, `aud`, `exp`) with this key.
    pub fn sign(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
        // jsonwebtoken takes the key as PKCS#8 DER (RFC 8410).
        let der = self.signing.to_pkcs8_der()?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_der(der.as_bytes()),
        )?)
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
