//! Sealing the biometric data for the escrow: nobody, this service included, can read it back.
//!
//! The decoded biometric data is stored only as a CMS (RFC 5652) `AuthEnvelopedData` (RFC 5083),
//! DER: the content is encrypted with AES-256-GCM under a fresh random key, and that key is
//! encrypted for each escrow recipient's RSA public key with RSAES-OAEP-SHA256 (RFC 4055, MGF1
//! with SHA-256), one `KeyTransRecipientInfo` per certificate. Only the holder of an escrow
//! private key can open it, with stock OpenSSL:
//! `openssl cms -decrypt -binary -inform DER -in sealed.p7m -inkey escrow.key -recip escrow.crt`.
//!
//! The recipients are read once, at start-up, from a PEM file (`ESCROW_CERTS`); every certificate
//! must be RSA 2048–8192 bits and within its validity period, so that a misconfiguration stops
//! the function instead of producing envelopes nobody can open. Nothing here ever puts the
//! plaintext into an error, a log or a file.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use bytes::Bytes;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, OctetStringRef, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use rsa::rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;
use x509_cert::spki::AlgorithmIdentifierOwned;
use zeroize::{Zeroize, Zeroizing};

use crate::time::Timestamp;

/// The content type of a stored envelope (RFC 8551).
pub const CONTENT_TYPE: &str = "application/pkcs7-mime";
/// The extension of a stored envelope's object key (`….p7m`).
pub const FILE_EXTENSION: &str = "p7m";
/// Accepted RSA modulus sizes, in bits: below 2048 is too weak, above 8192 needlessly slow.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_CT_AUTH_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.23");
const ID_AES256_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.46");
const ID_RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// AES-GCM nonce and tag sizes: the 96-bit nonce GCM is built for, the full 128-bit tag.
const GCM_NONCE_LEN: usize = 12;
const GCM_TAG_LEN: u8 = 16;

/// Why the escrow certificates cannot be used, or why sealing failed. Every message names the
/// file (and the certificate) so that an operator can fix the deployment; none holds plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{}: cannot read the file: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: PEM block {block} is unreadable: {reason}", path.display())]
    BadPem {
        path: PathBuf,
        block: usize,
        reason: String,
    },
    #[error(
        "{}: PEM block {block} is a private key ({label}): the service must never hold an escrow private key; give it the certificates only",
        path.display()
    )]
    PrivateKey {
        path: PathBuf,
        block: usize,
        label: String,
    },
    #[error("{}: PEM block {block} is a {label}, not a CERTIFICATE", path.display())]
    NotACertificate {
        path: PathBuf,
        block: usize,
        label: String,
    },
    #[error("{}: certificate {index} is not a readable X.509 certificate: {reason}", path.display())]
    Unparsable {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{}: certificate {index} ({subject}): {problem}", path.display())]
    Unusable {
        path: PathBuf,
        index: usize,
        subject: String,
        problem: CertificateProblem,
    },
    /// Sealing itself failed (no randomness, an encoding limit): an internal error.
    #[error("sealing failed: {0}")]
    Seal(String),
}

/// A failed seal during a request is the service's fault (the recipients were checked at
/// start-up): a 500, whose message is logged and holds no plaintext.
impl From<SealError> for crate::ApiError {
    fn from(e: SealError) -> Self {
        crate::ApiError::Internal(e.to_string())
    }
}

/// What makes a readable certificate unusable as an escrow recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateProblem {
    #[error("its key is {algorithm}, not RSA")]
    NotRsa { algorithm: String },
    #[error("its RSA key is unreadable: {reason}")]
    BadRsaKey { reason: String },
    #[error("its RSA key has {bits} bits (2048 to 8192 accepted)")]
    KeySize { bits: usize },
    #[error("expired at {}", crate::time::format(not_after))]
    Expired { not_after: Timestamp },
    #[error("not valid before {}", crate::time::format(not_before))]
    NotYetValid { not_before: Timestamp },
    #[error("its key usage extension does not allow keyEncipherment")]
    NoKeyEncipherment,
    #[error("the same certificate as certificate {first}")]
    Duplicate { first: usize },
}

/// The escrow recipients every seal is made for, loaded and checked once.
#[derive(Clone)]
pub struct EscrowRecipients {
    path: PathBuf,
    recipients: Vec<Recipient>,
}

#[derive(Clone)]
struct Recipient {
    certificate: Certificate,
    der: Vec<u8>,
    fingerprint: [u8; 32],
    subject: String,
    public_key: RsaPublicKey,
    not_after: Timestamp,
}

/// One recipient as shown to an operator (start-up log, `biosign escrow-cert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientSummary {
    pub subject: String,
    /// Hex SHA-256 of the certificate's DER.
    pub sha256_fingerprint: String,
    pub rsa_bits: usize,
    #[serde(with = "crate::time::rfc3339_ms")]
    pub not_after: Timestamp,
}

/// A sealed envelope: the CMS `ContentInfo` DER to store, and its SHA-256 (for the store's
/// integrity check and the evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub der: Bytes,
    pub sha256: [u8; 32],
}

impl Sealed {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

impl fmt::Debug for EscrowRecipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EscrowRecipients")
            .field("path", &self.path)
            .field("fingerprints", &self.fingerprints())
            .finish()
    }
}

impl EscrowRecipients {
    /// Reads the PEM file at `path` and checks every certificate in it against `now`.
    pub fn load(path: &Path, now: Timestamp) -> Result<Self, SealError> {
        let pem = std::fs::read(path).map_err(|e| SealError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_pem(path, &pem, now)
    }

    /// Checks the certificates in `pem` (read from `path`, which the errors name) against `now`.
    pub fn from_pem(path: &Path, pem: &[u8], now: Timestamp) -> Result<Self, SealError> {
        let mut recipients: Vec<Recipient> = Vec::new();
        let blocks = crate::pem::blocks(pem).map_err(|e| SealError::BadPem {
            path: path.to_owned(),
            block: e.block,
            reason: e.reason,
        })?;
        for (block, (label, der)) in blocks.into_iter().enumerate() {
            let block = block + 1;
            if label.contains("PRIVATE KEY") {
                return Err(SealError::PrivateKey {
                    path: path.to_owned(),
                    block,
                    label,
                });
            }
            if label != "CERTIFICATE" {
                return Err(SealError::NotACertificate {
                    path: path.to_owned(),
                    block,
                    label,
                });
            }
            let index = recipients.len() + 1;
            let recipient = Recipient::parse(der, now).map_err(|e| match e {
                ParseError::Unparsable(reason) => SealError::Unparsable {
                    path: path.to_owned(),
                    index,
                    reason,
                },
                ParseError::Unusable { subject, problem } => SealError::Unusable {
                    path: path.to_owned(),
                    index,
                    subject,
                    problem,
                },
            })?;
            if let Some(first) = recipients
                .iter()
                .position(|r| r.fingerprint == recipient.fingerprint)
            {
                return Err(SealError::Unusable {
                    path: path.to_owned(),
                    index,
                    subject: recipient.subject,
                    problem: CertificateProblem::Duplicate { first: first + 1 },
                });
            }
            recipients.push(recipient);
        }
        if recipients.is_empty() {
            return Err(SealError::NoCertificate {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            recipients,
        })
    }

    /// The file the certificates were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hex SHA-256 of each recipient certificate's DER, in the file's order (for the evidence).
    pub fn fingerprints(&self) -> Vec<String> {
        self.recipients
            .iter()
            .map(|r| hex::encode(r.fingerprint))
            .collect()
    }

    pub fn summaries(&self) -> Vec<RecipientSummary> {
        self.recipients
            .iter()
            .map(|r| RecipientSummary {
                subject: r.subject.clone(),
                sha256_fingerprint: hex::encode(r.fingerprint),
                rsa_bits: r.public_key.n().bits(),
                not_after: r.not_after,
            })
            .collect()
    }

    /// The certificates, as PEM.
    pub fn certificates_pem(&self) -> String {
        self.recipients
            .iter()
            .filter_map(|r| {
                der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &r.der).ok()
            })
            .collect()
    }

    /// Seals `plaintext` for every recipient: a fresh AES-256 key and nonce per call.
    ///
    /// The envelope is encoded once, with the plaintext where the ciphertext goes, and then
    /// encrypted in place: one buffer the size of the envelope is all the memory sealing adds,
    /// and that buffer holds ciphertext only when this returns (or is dropped, on an error).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed, SealError> {
        let mut content_key = Zeroizing::new([0u8; 32]);
        let mut nonce = [0u8; GCM_NONCE_LEN];
        let mut rng = OsRng;
        rng.try_fill_bytes(content_key.as_mut())
            .and_then(|()| rng.try_fill_bytes(&mut nonce))
            .map_err(|e| SealError::Seal(format!("no randomness: {e}")))?;

        let key_encryption = oaep_sha256_algorithm()?;
        let recipient_infos = self
            .recipients
            .iter()
            .map(|r| r.key_trans_recipient_info(&content_key, &key_encryption))
            .collect::<Result<Vec<_>, _>>()?;
        let gcm_parameters = GcmParameters {
            nonce: octets(nonce.to_vec())?,
            icv_len: GCM_TAG_LEN,
        };
        let envelope = AuthEnvelopedContentInfo {
            content_type: ID_CT_AUTH_ENVELOPED_DATA,
            content: AuthEnvelopedData {
                // RFC 5083: always 0.
                version: CmsVersion::V0,
                recipient_infos: RecipientInfos(
                    SetOfVec::try_from(recipient_infos).map_err(der_error)?,
                ),
                auth_encrypted_content: EncryptedContentInfoRef {
                    content_type: ID_DATA,
                    content_enc_alg: AlgorithmIdentifierOwned {
                        oid: ID_AES256_GCM,
                        parameters: Some(Any::encode_from(&gcm_parameters).map_err(der_error)?),
                    },
                    // Replaced by the ciphertext below (AES-GCM keeps the length).
                    encrypted_content: OctetStringRef::new(plaintext).map_err(der_error)?,
                },
                // Replaced by the tag below. No authenticated attributes: the additional
                // authenticated data is empty.
                mac: octets(vec![0; usize::from(GCM_TAG_LEN)])?,
            },
        };
        let mut der = envelope.to_der().map_err(der_error)?;

        // The mac is the last field: its 16 bytes end the DER, after their OCTET STRING header,
        // and the content's bytes end right before that header.
        let tag_start = der.len() - usize::from(GCM_TAG_LEN);
        let content_end = tag_start - 2;
        let content_start = content_end.checked_sub(plaintext.len());
        let content = match content_start {
            Some(start) if der[content_end..tag_start] == [0x04, GCM_TAG_LEN] => {
                &mut der[start..content_end]
            }
            _ => return Err(SealError::Seal("unexpected envelope layout".into())),
        };
        let cipher = Aes256Gcm::new_from_slice(content_key.as_ref())
            .map_err(|_| SealError::Seal("content key of the wrong size".into()))?;
        let tag = match cipher.encrypt_in_place_detached(&Nonce::from(nonce), b"", content) {
            Ok(tag) => tag,
            Err(_) => {
                der.zeroize();
                return Err(SealError::Seal(
                    "the content is too large for AES-GCM".into(),
                ));
            }
        };
        der[tag_start..].copy_from_slice(&tag);
        let sha256 = Sha256::digest(&der).into();
        Ok(Sealed {
            der: Bytes::from(der),
            sha256,
        })
    }

    /// What the SIGN evidence event records about a seal made by these recipients.
    pub fn evidence(&self, sealed: &Sealed) -> SealEvidence {
        SealEvidence {
            biometric_envelope_sha256: sealed.sha256_hex(),
            recipient_fingerprints: self.fingerprints(),
        }
    }
}

/// The seal's part of the evidence: the envelope's digest and who can open it. (The plaintext's
/// digest is the signature's `biometric_data_sha256`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SealEvidence {
    /// Hex SHA-256 of the stored envelope (the `.p7m` object's bytes).
    pub biometric_envelope_sha256: String,
    /// Hex SHA-256 of each recipient certificate's DER.
    pub recipient_fingerprints: Vec<String>,
}

impl Recipient {
    fn parse(der: Vec<u8>, now: Timestamp) -> Result<Self, ParseError> {
        let certificate =
            Certificate::from_der(&der).map_err(|e| ParseError::Unparsable(e.to_string()))?;
        let tbs = &certificate.tbs_certificate;
        let subject = tbs.subject.to_string();
        let unusable = |problem| ParseError::Unusable {
            subject: subject.clone(),
            problem,
        };
        let public_key = rsa_public_key(&certificate).map_err(unusable)?;
        let bits = public_key.n().bits();
        if !RSA_BITS.contains(&bits) {
            return Err(unusable(CertificateProblem::KeySize { bits }));
        }
        let not_before = timestamp(tbs.validity.not_before);
        let not_after = timestamp(tbs.validity.not_after);
        // RFC 5280: both bounds belong to the validity period.
        if now < not_before {
            return Err(unusable(CertificateProblem::NotYetValid { not_before }));
        }
        if now > not_after {
            return Err(unusable(CertificateProblem::Expired { not_after }));
        }
        if let Some(usage) = key_usage(&certificate).map_err(unusable)? {
            if !usage.key_encipherment() {
                return Err(unusable(CertificateProblem::NoKeyEncipherment));
            }
        }
        Ok(Self {
            fingerprint: Sha256::digest(&der).into(),
            der,
            subject,
            public_key,
            not_after,
            certificate,
        })
    }

    /// The content key, encrypted for this recipient, identified by issuer and serial number
    /// (what `openssl cms -decrypt -recip` matches).
    fn key_trans_recipient_info(
        &self,
        content_key: &[u8; 32],
        key_encryption: &AlgorithmIdentifierOwned,
    ) -> Result<RecipientInfo, SealError> {
        let encrypted_key = self
            .public_key
            .encrypt(&mut OsRng, Oaep::new::<Sha256>(), content_key)
            .map_err(|e| SealError::Seal(format!("RSA-OAEP for {}: {e}", self.subject)))?;
        let tbs = &self.certificate.tbs_certificate;
        Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
            // RFC 5652: 0 with an issuerAndSerialNumber.
            version: CmsVersion::V0,
            rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            key_enc_alg: key_encryption.clone(),
            enc_key: octets(encrypted_key)?,
        }))
    }
}

enum ParseError {
    Unparsable(String),
    Unusable {
        subject: String,
        problem: CertificateProblem,
    },
}

fn rsa_public_key(certificate: &Certificate) -> Result<RsaPublicKey, CertificateProblem> {
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let oid = spki.algorithm.oid;
    if oid != RSA_ENCRYPTION {
        let algorithm = match oid {
            ID_EC_PUBLIC_KEY => "EC".to_owned(),
            ID_ED25519 => "Ed25519".to_owned(),
            ID_RSASSA_PSS => "RSASSA-PSS (restricted to signatures)".to_owned(),
            other => format!("the algorithm {other}"),
        };
        return Err(CertificateProblem::NotRsa { algorithm });
    }
    let bad = |reason: String| CertificateProblem::BadRsaKey { reason };
    let key = rsa::pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
        .map_err(|e| bad(e.to_string()))?;
    RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(key.modulus.as_bytes()),
        BigUint::from_bytes_be(key.public_exponent.as_bytes()),
        *RSA_BITS.end(),
    )
    .map_err(|e| match e {
        rsa::Error::ModulusTooLarge => CertificateProblem::KeySize {
            bits: BigUint::from_bytes_be(key.modulus.as_bytes()).bits(),
        },
        other => bad(other.to_string()),
    })
}

fn key_usage(certificate: &Certificate) -> Result<Option<KeyUsage>, CertificateProblem> {
    let extensions = certificate.tbs_certificate.extensions.iter().flatten();
    for extension in extensions {
        if extension.extn_id == ID_CE_KEY_USAGE {
            return KeyUsage::from_der(extension.extn_value.as_bytes())
                .map(Some)
                .map_err(|e| CertificateProblem::BadRsaKey {
                    reason: format!("unreadable key usage extension: {e}"),
                });
        }
    }
    Ok(None)
}

fn timestamp(time: x509_cert::time::Time) -> Timestamp {
    let seconds = time.to_unix_duration().as_secs();
    // X.509 times end at 9999-12-31, well within chrono's range.
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

fn octets(bytes: Vec<u8>) -> Result<OctetString, SealError> {
    OctetString::new(bytes).map_err(der_error)
}

fn der_error(e: der::Error) -> SealError {
    SealError::Seal(format!("DER encoding: {e}"))
}

/// RSAES-OAEP with SHA-256 and MGF1-SHA-256 and the empty label, written out (RFC 4055; the
/// hash identifiers without parameters, as RFC 5754 asks and OpenSSL writes them).
fn oaep_sha256_algorithm() -> Result<AlgorithmIdentifierOwned, SealError> {
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let params = RsaesOaepParams {
        hash: sha256.clone(),
        mask_gen: AlgorithmIdentifierOwned {
            oid: ID_MGF1,
            parameters: Some(Any::encode_from(&sha256).map_err(der_error)?),
        },
    };
    Ok(AlgorithmIdentifierOwned {
        oid: ID_RSAES_OAEP,
        parameters: Some(Any::encode_from(&params).map_err(der_error)?),
    })
}

/// `RSAES-OAEP-params` (RFC 4055) with the fields this service writes; `pSourceAlgorithm` is
/// the default (empty label) and so absent in DER.
#[derive(Sequence)]
struct RsaesOaepParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    hash: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    mask_gen: AlgorithmIdentifierOwned,
}

/// `GCMParameters` (RFC 5084). The tag length is always written: 16 is not the default (12).
#[derive(Sequence)]
struct GcmParameters {
    nonce: OctetString,
    icv_len: u8,
}

/// `ContentInfo` holding an `AuthEnvelopedData`, encoded in one pass (no intermediate copy of
/// the ciphertext in an `Any`).
#[derive(Sequence)]
struct AuthEnvelopedContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AuthEnvelopedData<'a>,
}

/// `AuthEnvelopedData` (RFC 5083) with the fields this service writes: no originator info, no
/// authenticated or unauthenticated attributes. (`cms` 0.2 has no type for it.)
#[derive(Sequence)]
struct AuthEnvelopedData<'a> {
    version: CmsVersion,
    recipient_infos: RecipientInfos,
    auth_encrypted_content: EncryptedContentInfoRef<'a>,
    mac: OctetString,
}

/// `EncryptedContentInfo` (RFC 5652) borrowing its content, so that encoding copies it once.
#[derive(Sequence)]
struct EncryptedContentInfoRef<'a> {
    content_type: ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    encrypted_content: OctetStringRef<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oaep_identifier_is_the_one_openssl_writes() {
        // `openssl cms -encrypt -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256`.
        let openssl = "303806092a864886f70d010107302ba00d300b0609608648016503040201\
                       a11a301806092a864886f70d010108300b0609608648016503040201";
        let ours = oaep_sha256_algorithm().unwrap().to_der().unwrap();
        assert_eq!(hex::encode(ours), openssl);
    }
}
