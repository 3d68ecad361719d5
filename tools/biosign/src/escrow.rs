//! The escrow of local runs: a development key pair in the data directory, which `serve` and the
//! other commands seal biometric data to unless `ESCROW_CERTS` names real certificates.
//!
//! The private key sits beside the certificate so that a developer can open what they sealed
//! (README, "Opening sealed biometric data"). A real deployment's escrow key never comes near
//! this tool or the service: only its certificate does.

use crate::environment::Environment;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use biosign_shared::config;
use biosign_shared::seal::EscrowRecipients;
use biosign_shared::time;
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::rand_core::{OsRng, RngCore};
use rsa::sha2::Sha256;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use crate::devkey::write_private;

pub const DIR_NAME: &str = "escrow";
pub const KEY_FILE: &str = "escrow.key.pem";
pub const CERT_FILE: &str = "escrow.crt.pem";
/// Says what it is wherever the certificate is shown (OpenSSL, `biosign escrow-cert`, logs).
pub const SUBJECT: &str =
    "CN=biosign DEVELOPMENT escrow key (not for real biometric data),O=biosign local development";
pub const RSA_BITS: usize = 3072;
/// Long enough never to get in a developer's way; `biosign init` makes a new one if it lapses.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR_NAME).join(KEY_FILE)
}

pub fn cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR_NAME).join(CERT_FILE)
}

/// The recipients local runs seal to: the certificates in `ESCROW_CERTS` if it is set, else the
/// development certificate in `data_dir` (created on first use, like the dev signing key).
pub fn escrow_for_local(data_dir: &Path, env: &Environment) -> anyhow::Result<EscrowRecipients> {
    let env = env.lookup();
    if config::optional(&env, config::ESCROW_CERTS).is_some() {
        return Ok(config::escrow_recipients(&env, time::now())?);
    }
    ensure_dev_pair(data_dir)?;
    let path = cert_path(data_dir);
    EscrowRecipients::load(&path, time::now()).map_err(|e| {
        anyhow::anyhow!(
            "{e} (the development escrow key: remove {} to make a new one, which cannot open what the old one sealed)",
            path.parent().unwrap_or(data_dir).display()
        )
    })
}

/// Creates the development key pair unless its certificate exists; true if it was created.
pub fn ensure_dev_pair(data_dir: &Path) -> anyhow::Result<bool> {
    let (key_path, cert_path) = (key_path(data_dir), cert_path(data_dir));
    if cert_path.exists() {
        return Ok(false);
    }
    if key_path.exists() {
        bail!(
            "{} exists without {}: remove it to make a new development escrow key pair",
            key_path.display(),
            cert_path.display()
        );
    }
    create_private_dir(&data_dir.join(DIR_NAME))?;
    let key = RsaPrivateKey::new(&mut OsRng, RSA_BITS).context("generating the escrow key")?;
    let certificate = self_signed_certificate(&key)?;
    // The key first, so that a certificate never exists without the key that opens its envelopes.
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the escrow key")?;
    write_private(&key_path, key_pem.as_bytes())
        .with_context(|| format!("writing {}", key_path.display()))?;
    std::fs::write(&cert_path, certificate)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(true)
}

/// A self-signed certificate for `key`, usable for key transport (keyEncipherment).
fn self_signed_certificate(key: &RsaPrivateKey) -> anyhow::Result<String> {
    let subject = Name::from_str(SUBJECT)?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f; // a positive INTEGER
    let spki = SubjectPublicKeyInfoOwned::from_key(RsaPublicKey::from(key))?;
    let signer = SigningKey::<Sha256>::new(key.clone());
    let profile = Profile::Leaf {
        issuer: subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    };
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::new(&serial)?,
        Validity::from_now(VALIDITY)?,
        subject,
        spki,
        &signer,
    )?;
    let certificate = builder.build::<Signature>()?;
    Ok(certificate.to_pem(LineEnding::LF)?)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
