//! RFC 3161 trusted timestamps: a client for a timestamp authority (TSA), and the checks of its
//! answers that both the client and the offline evidence verifier run.
//!
//! A token proves that a TSA saw a SHA-256 digest (here: an evidence chain head) at its `genTime`.
//! It is a CMS `SignedData` over a `TSTInfo`; checking it means: status granted, the `TSTInfo`'s
//! imprint (and nonce) as asked, the signed attributes' message digest equal to the digest of the
//! `TSTInfo`, the signature over those attributes valid under the signer certificate's key, the
//! signing-certificate attribute naming that certificate, and the certificate trusted.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use cms::cert::CertificateChoices;
use cms::cert::x509::Certificate;
use cms::cert::x509::ext::pkix::name::GeneralName;
use cms::cert::x509::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use crate::config::{self, ConfigError};
use crate::time::Timestamp;

/// The TSA's endpoint: `https://…`, or `http://` on a loopback address (tests).
pub const TSA_URL: &str = "TSA_URL";
/// The path of a PEM file holding the certificates that may sign the TSA's answers (the signer
/// itself, or a CA it chains to through certificates the token carries).
pub const TSA_CERTS: &str = "TSA_CERTS";

/// How long a request may take, all in (connect, TLS, answer, checks): the sign's 204 waits for
/// it, and must not depend on it.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The content type a stored token (`TimeStampResp`, DER) is written with.
pub const TOKEN_CONTENT_TYPE: &str = "application/timestamp-reply";

/// Where a sign's timestamp token is stored: content-addressed under the sign's prefix, so the
/// TIMESTAMP event's `token_sha256` finds it and no key is ever reused.
pub fn timestamp_token_key(key: &crate::ids::SignKey, token_sha256: &str) -> String {
    format!(
        "signs/{}/{}/timestamps/{token_sha256}.tsr",
        key.org_id, key.sign_id
    )
}

/// A TSA's answer is a few kilobytes; anything much larger is not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Certificate paths longer than this are refused (a TSA's is one or two).
const MAX_CHAIN_LENGTH: usize = 6;

mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
    pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
    pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
    pub const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
}

/// Why no (acceptable) token was had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsaError {
    #[error("the TSA could not be reached: {0}")]
    Unreachable(String),
    #[error("the TSA did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the TSA answered HTTP {0}")]
    HttpStatus(u16),
    #[error("the TSA did not grant the request: status {status}{detail}")]
    NotGranted { status: String, detail: String },
    #[error("the TSA's answer is malformed: {0}")]
    Malformed(String),
    #[error("the token's nonce is not the request's")]
    NonceMismatch,
    #[error("the token's message imprint is not the digest asked for")]
    ImprintMismatch,
    #[error("the token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the token's signer is not trusted: {0}")]
    UntrustedSigner(String),
    #[error("the token uses what this verifier does not support: {0}")]
    Unsupported(String),
}

fn malformed(what: &str) -> impl Fn(der::Error) -> TsaError + '_ {
    move |e| TsaError::Malformed(format!("{what}: {e}"))
}

/// A token the TSA granted, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The `TimeStampResp`, DER, exactly as the TSA sent it.
    pub der: Bytes,
    /// The TSA's `genTime`, to the millisecond (finer digits are in `der`).
    pub gen_time: Timestamp,
    /// The TSA's name: the `TSTInfo`'s `tsa` field, else the signer certificate's subject.
    pub tsa_name: String,
    /// The digest that was timestamped.
    pub imprint: [u8; 32],
}

/// Certificates read from PEM: those of `TSA_CERTS`, or a verifier's `--tsa-ca`.
#[derive(Debug, Clone, Default)]
pub struct TrustedCerts {
    certs: Vec<Certificate>,
}

impl TrustedCerts {
    /// Every block of `pem`, each a `CERTIFICATE`; at least one. Text between blocks is ignored,
    /// as for `ESCROW_CERTS`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let mut certs = Vec::new();
        for (index, (label, der)) in crate::pem::blocks(pem)
            .map_err(|e| e.to_string())?
            .into_iter()
            .enumerate()
        {
            let block = index + 1;
            if label != "CERTIFICATE" {
                return Err(format!("PEM block {block} is a {label}, not a CERTIFICATE"));
            }
            let cert = Certificate::from_der(&der).map_err(|e| {
                format!("PEM block {block} is not a readable X.509 certificate: {e}")
            })?;
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err("no certificate in it".into());
        }
        Ok(Self { certs })
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Each certificate, DER-encoded.
    pub fn to_der(&self) -> Vec<Vec<u8>> {
        self.certs.iter().filter_map(|c| c.to_der().ok()).collect()
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn contains(&self, cert: &Certificate) -> bool {
        self.certs.iter().any(|c| c == cert)
    }
}

/// Whose certificates a token's signer is checked against.
#[derive(Debug, Clone, Copy)]
pub enum SignerTrust<'a> {
    /// The signer must be one of these, or chain to one through certificates the token carries.
    Anchors(&'a TrustedCerts),
    /// The signature is checked with the certificate the token names, trusted as it is (an
    /// offline verifier without a CA: the signature holds, who signed is not judged).
    TokenCertificate,
}

/// What a checked token states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub gen_time: Timestamp,
    /// `genTime` as the TSA wrote it (`YYYYMMDDhhmmss[.f*]Z`).
    pub gen_time_text: String,
    pub tsa_name: String,
    /// The SHA-256 message imprint.
    pub imprint: [u8; 32],
    /// The nonce's DER integer content, if the token has one.
    pub nonce: Option<Vec<u8>>,
    /// The token's serial number, hex.
    pub serial_number: String,
    /// The TSA's policy OID.
    pub policy: String,
    /// The signer certificate's subject.
    pub signer: String,
}

/// Checks a `TimeStampResp` (DER): granted, well-formed, its signature valid, and its signer
/// trusted as `trust` says. The caller compares the imprint and nonce with what it expects.
pub fn verify_response(der: &[u8], trust: SignerTrust<'_>) -> Result<TokenFacts, TsaError> {
    let response = TimeStampResp::from_der(der).map_err(malformed("TimeStampResp"))?;
    let status = response.status.status as u8;
    // granted (0) and grantedWithMods (1) both carry a token.
    if status > 1 {
        let detail = response
            .status
            .status_string
            .map(|texts| {
                let texts: Vec<&str> = texts.iter().map(|t| t.as_str()).collect();
                format!(" ({})", texts.join("; "))
            })
            .unwrap_or_default();
        return Err(TsaError::NotGranted {
            status: format!("{:?}", response.status.status),
            detail,
        });
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| TsaError::Malformed("granted, but no timeStampToken".into()))?;
    verify_token(&token, trust)
}

fn verify_token(token: &ContentInfo, trust: SignerTrust<'_>) -> Result<TokenFacts, TsaError> {
    if token.content_type != oid::SIGNED_DATA {
        return Err(TsaError::Malformed("the token is not SignedData".into()));
    }
    let signed: SignedData = token.content.decode_as().map_err(malformed("SignedData"))?;
    if signed.encap_content_info.econtent_type != oid::TST_INFO {
        return Err(TsaError::Malformed(
            "the token's content is not a TSTInfo".into(),
        ));
    }
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TsaError::Malformed("the token holds no TSTInfo".into()))?
        .decode_as::<OctetString>()
        .map_err(malformed("eContent"))?
        .into_bytes();
    let tst = TstInfo::from_der(&tst_der).map_err(malformed("TSTInfo"))?;

    let signer_infos: Vec<&SignerInfo> = signed.signer_infos.0.iter().collect();
    let [signer_info] = signer_infos.as_slice() else {
        return Err(TsaError::Malformed(format!(
            "a token has one signer, this one {}",
            signer_infos.len()
        )));
    };
    let token_certs: Vec<&Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        })
        .collect();

    let attrs = signer_info
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TsaError::Malformed("the signer has no signed attributes".into()))?;
    let attribute = |wanted: ObjectIdentifier| -> Option<&Any> {
        attrs
            .iter()
            .find(|a| a.oid == wanted)
            .and_then(|a| a.values.iter().next())
    };
    let content_type: ObjectIdentifier = attribute(oid::CONTENT_TYPE)
        .ok_or_else(|| TsaError::Malformed("no content-type attribute".into()))?
        .decode_as()
        .map_err(malformed("content-type attribute"))?;
    if content_type != oid::TST_INFO {
        return Err(TsaError::Malformed(
            "the content-type attribute is not TSTInfo".into(),
        ));
    }
    let message_digest: OctetString = attribute(oid::MESSAGE_DIGEST)
        .ok_or_else(|| TsaError::Malformed("no message-digest attribute".into()))?
        .decode_as()
        .map_err(malformed("message-digest attribute"))?;
    let digest_alg = DigestAlg::from_oid(&signer_info.digest_alg.oid)?;
    if message_digest.as_bytes() != digest_alg.digest(&tst_der).as_slice() {
        return Err(TsaError::BadSignature(
            "the message-digest attribute is not the TSTInfo's digest".into(),
        ));
    }

    let signer_cert = find_signer(&signer_info.sid, &token_certs, trust)?;
    // RFC 5652: the signature covers the DER encoding of the attributes as a SET OF.
    let signed_bytes = attrs.to_der().map_err(malformed("signed attributes"))?;
    verify_signature(
        &signer_cert.tbs_certificate.subject_public_key_info,
        &signer_info.signature_algorithm,
        Some(digest_alg),
        &signed_bytes,
        signer_info.signature.as_bytes(),
    )?;
    check_signing_certificate_attribute(
        signer_cert,
        attribute(oid::SIGNING_CERTIFICATE_V2),
        attribute(oid::SIGNING_CERTIFICATE),
    )?;

    let (gen_time, gen_time_text) = parse_generalized_time(&tst.gen_time)?;
    check_time_stamping_usage(signer_cert)?;
    if let SignerTrust::Anchors(anchors) = trust {
        check_chain(signer_cert, &token_certs, anchors, gen_time)?;
    }

    if tst.message_imprint.hash_algorithm.oid != oid::SHA256 {
        return Err(TsaError::ImprintMismatch);
    }
    let imprint: [u8; 32] = tst
        .message_imprint
        .hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| TsaError::ImprintMismatch)?;
    let signer = signer_cert.tbs_certificate.subject.to_string();
    let tsa_name = match &tst.tsa {
        Some(name) => general_name(name),
        None => signer.clone(),
    };
    Ok(TokenFacts {
        gen_time,
        gen_time_text,
        tsa_name,
        imprint,
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        serial_number: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        signer,
    })
}

/// TSTInfo (RFC 3161 §2.4.2), with `genTime` kept raw: `der`'s GeneralizedTime refuses the
/// fractional seconds many TSAs write.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<x509_tsp::Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<cms::cert::x509::ext::Extensions>,
}

/// `YYYYMMDDhhmmss[.f+]Z`, as RFC 3161 requires of `genTime`.
fn parse_generalized_time(any: &Any) -> Result<(Timestamp, String), TsaError> {
    let bad = || TsaError::Malformed("genTime is not a UTC GeneralizedTime".into());
    if any.tag() != Tag::GeneralizedTime {
        return Err(bad());
    }
    let text = std::str::from_utf8(any.value()).map_err(|_| bad())?;
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 14 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let naive = NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").map_err(|_| bad())?;
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().map_err(|_| bad())?;
    let at = DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc)
        + chrono::Duration::milliseconds(millis);
    Ok((at, text.to_owned()))
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(dn) => dn.to_string(),
        GeneralName::DnsName(dns) => format!("DNS:{}", dns.as_str()),
        GeneralName::UniformResourceIdentifier(uri) => format!("URI:{}", uri.as_str()),
        GeneralName::Rfc822Name(mail) => format!("email:{}", mail.as_str()),
        other => format!("{other:?}"),
    }
}

fn find_signer<'c>(
    sid: &SignerIdentifier,
    token_certs: &[&'c Certificate],
    trust: SignerTrust<'c>,
) -> Result<&'c Certificate, TsaError> {
    let anchors: &[Certificate] = match trust {
        SignerTrust::Anchors(anchors) => &anchors.certs,
        SignerTrust::TokenCertificate => &[],
    };
    let matches = |cert: &Certificate| match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            cert.tbs_certificate.issuer == id.issuer
                && cert.tbs_certificate.serial_number == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            extension::<SubjectKeyIdentifier>(cert, oid::SUBJECT_KEY_IDENTIFIER)
                .ok()
                .flatten()
                .is_some_and(|own| own == *ski)
        }
    };
    token_certs
        .iter()
        .copied()
        .chain(anchors.iter())
        .find(|c| matches(c))
        .ok_or_else(|| match trust {
            SignerTrust::Anchors(_) => TsaError::UntrustedSigner(
                "the signer certificate is neither in the token nor among the trusted ones".into(),
            ),
            SignerTrust::TokenCertificate => {
                TsaError::Malformed("the token does not carry its signer's certificate".into())
            }
        })
}

/// The value of the extension `id` of `cert`, decoded; `None` if absent.
fn extension<T: for<'a> Decode<'a>>(
    cert: &Certificate,
    id: ObjectIdentifier,
) -> Result<Option<T>, TsaError> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == id)
        .map(|e| T::from_der(e.extn_value.as_bytes()).map_err(malformed("certificate extension")))
        .transpose()
}

/// RFC 3161 §2.3: the signer's certificate has exactly one extended key usage, timeStamping, and
/// the extension is critical.
fn check_time_stamping_usage(cert: &Certificate) -> Result<(), TsaError> {
    let eku = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid::EXTENDED_KEY_USAGE);
    let ok = eku.is_some_and(|e| {
        e.critical
            && ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|usage| usage.0 == [oid::TIME_STAMPING])
    });
    if ok {
        Ok(())
    } else {
        Err(TsaError::UntrustedSigner(
            "the signer certificate is not for timestamping (critical extendedKeyUsage timeStamping)"
                .into(),
        ))
    }
}

/// The signer is trusted if it is an anchor, or chains to one through CA certificates from the
/// token, each valid at `at` and signed by the next.
fn check_chain(
    signer: &Certificate,
    token_certs: &[&Certificate],
    anchors: &TrustedCerts,
    at: Timestamp,
) -> Result<(), TsaError> {
    let mut current = signer;
    for _ in 0..MAX_CHAIN_LENGTH {
        check_validity(current, at)?;
        if anchors.contains(current) {
            return Ok(());
        }
        let issuer_name = &current.tbs_certificate.issuer;
        let issuer = token_certs
            .iter()
            .copied()
            .chain(anchors.certs.iter())
            .filter(|c| &c.tbs_certificate.subject == issuer_name && *c != current)
            .find(|c| verify_certificate_signature(current, c).is_ok())
            .ok_or_else(|| {
                TsaError::UntrustedSigner(format!(
                    "no trusted certificate issued {}",
                    current.tbs_certificate.subject
                ))
            })?;
        let is_ca =
            extension::<BasicConstraints>(issuer, oid::BASIC_CONSTRAINTS)?.is_some_and(|bc| bc.ca);
        if !is_ca && !anchors.contains(issuer) {
            return Err(TsaError::UntrustedSigner(format!(
                "{} is not a CA",
                issuer.tbs_certificate.subject
            )));
        }
        current = issuer;
    }
    Err(TsaError::UntrustedSigner(
        "the certificate chain is too long".into(),
    ))
}

fn check_validity(cert: &Certificate, at: Timestamp) -> Result<(), TsaError> {
    let validity = &cert.tbs_certificate.validity;
    let seconds = |t: cms::cert::x509::time::Time| t.to_unix_duration().as_secs() as i64;
    let at_seconds = at.timestamp();
    if at_seconds < seconds(validity.not_before) || at_seconds > seconds(validity.not_after) {
        return Err(TsaError::UntrustedSigner(format!(
            "{} was not valid at the token's time",
            cert.tbs_certificate.subject
        )));
    }
    Ok(())
}

fn verify_certificate_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), TsaError> {
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(malformed("certificate"))?;
    let signature = cert
        .signature
        .as_bytes()
        .ok_or_else(|| TsaError::Malformed("certificate signature".into()))?;
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        None,
        &tbs,
        signature,
    )
}

/// ESS signing-certificate (v2, or v1 with SHA-1): the token says which certificate signed it,
/// so another certificate with the same key or name cannot stand in for it.
fn check_signing_certificate_attribute(
    signer: &Certificate,
    v2: Option<&Any>,
    v1: Option<&Any>,
) -> Result<(), TsaError> {
    let cert_der = signer.to_der().map_err(malformed("certificate"))?;
    let (expected, named) = if let Some(v2) = v2 {
        let attr: SigningCertificate = v2.decode_as().map_err(malformed("signingCertificateV2"))?;
        let first = attr
            .certs
            .first()
            .ok_or_else(|| TsaError::Malformed("empty signingCertificateV2".into()))?;
        let alg = match &first.hash_algorithm {
            Some(alg) => DigestAlg::from_oid(&alg.oid)?,
            None => DigestAlg::Sha256,
        };
        (alg.digest(&cert_der), first.cert_hash.as_bytes().to_vec())
    } else if let Some(v1) = v1 {
        let attr: SigningCertificate = v1.decode_as().map_err(malformed("signingCertificate"))?;
        let first = attr
            .certs
            .first()
            .ok_or_else(|| TsaError::Malformed("empty signingCertificate".into()))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        (sha1.as_ref().to_vec(), first.cert_hash.as_bytes().to_vec())
    } else {
        return Err(TsaError::Malformed(
            "no signing-certificate attribute names the signer".into(),
        ));
    };
    if expected == named {
        Ok(())
    } else {
        Err(TsaError::BadSignature(
            "the signing-certificate attribute names another certificate".into(),
        ))
    }
}

/// SigningCertificate and SigningCertificateV2 share this shape (RFC 2634, RFC 5035): v1's
/// ESSCertID has no algorithm (SHA-1), v2's a default of SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// RSASSA-PSS-params (RFC 4055); every field has a default, but PSS is only accepted with an
/// explicit SHA-2 hash, MGF1 with the same hash, and a salt as long as the hash.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_oid(id: &ObjectIdentifier) -> Result<Self, TsaError> {
        match *id {
            oid::SHA256 => Ok(Self::Sha256),
            oid::SHA384 => Ok(Self::Sha384),
            oid::SHA512 => Ok(Self::Sha512),
            other => Err(TsaError::Unsupported(format!("digest algorithm {other}"))),
        }
    }

    fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(bytes).to_vec(),
            Self::Sha384 => Sha384::digest(bytes).to_vec(),
            Self::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }

    fn len(self) -> u32 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// Verifies `signature` over `message` with `key`. `digest` is the CMS SignerInfo's digest
/// algorithm, for signature algorithms that do not name one (`rsaEncryption`, `id-ecPublicKey`).
fn verify_signature(
    key: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<DigestAlg>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), TsaError> {
    use ring::signature as sig;
    let unsupported = || TsaError::Unsupported(format!("signature algorithm {}", algorithm.oid));
    let key_bytes = key
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| TsaError::Malformed("public key".into()))?;
    let is_rsa_key = key.algorithm.oid == oid::RSA_ENCRYPTION;
    let curve = if key.algorithm.oid == oid::EC_PUBLIC_KEY {
        key.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    } else {
        None
    };
    let rsa_pkcs1 = |d: DigestAlg| -> &'static dyn sig::VerificationAlgorithm {
        match d {
            DigestAlg::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            DigestAlg::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            DigestAlg::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        }
    };
    let ecdsa = |d: DigestAlg| -> Option<&'static dyn sig::VerificationAlgorithm> {
        match (curve?, d) {
            (oid::P256, DigestAlg::Sha256) => Some(&sig::ECDSA_P256_SHA256_ASN1),
            (oid::P256, DigestAlg::Sha384) => Some(&sig::ECDSA_P256_SHA384_ASN1),
            (oid::P384, DigestAlg::Sha256) => Some(&sig::ECDSA_P384_SHA256_ASN1),
            (oid::P384, DigestAlg::Sha384) => Some(&sig::ECDSA_P384_SHA384_ASN1),
            _ => None,
        }
    };
    let verifier: &'static dyn sig::VerificationAlgorithm = match algorithm.oid {
        oid::SHA256_WITH_RSA if is_rsa_key => rsa_pkcs1(DigestAlg::Sha256),
        oid::SHA384_WITH_RSA if is_rsa_key => rsa_pkcs1(DigestAlg::Sha384),
        oid::SHA512_WITH_RSA if is_rsa_key => rsa_pkcs1(DigestAlg::Sha512),
        oid::RSA_ENCRYPTION if is_rsa_key => rsa_pkcs1(digest.ok_or_else(unsupported)?),
        oid::RSASSA_PSS if is_rsa_key => {
            let params: PssParams = algorithm
                .parameters
                .as_ref()
                .ok_or_else(unsupported)?
                .decode_as()
                .map_err(malformed("RSASSA-PSS parameters"))?;
            let hash = DigestAlg::from_oid(&params.hash.ok_or_else(unsupported)?.oid)?;
            let mgf = params.mask_gen.ok_or_else(unsupported)?;
            let mgf_hash = mgf
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
                .map(|a| a.oid);
            if mgf.oid != oid::MGF1
                || mgf_hash != Some(hash_oid(hash))
                || params.salt_length != Some(hash.len())
                || params.trailer_field.is_some_and(|t| t != 1)
            {
                return Err(unsupported());
            }
            match hash {
                DigestAlg::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                DigestAlg::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                DigestAlg::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
            }
        }
        oid::ECDSA_WITH_SHA256 => ecdsa(DigestAlg::Sha256).ok_or_else(unsupported)?,
        oid::ECDSA_WITH_SHA384 => ecdsa(DigestAlg::Sha384).ok_or_else(unsupported)?,
        oid::EC_PUBLIC_KEY => ecdsa(digest.ok_or_else(unsupported)?).ok_or_else(unsupported)?,
        _ => return Err(unsupported()),
    };
    sig::UnparsedPublicKey::new(verifier, key_bytes)
        .verify(message, signature)
        .map_err(|_| TsaError::BadSignature("the signature does not match the key".into()))
}

fn hash_oid(alg: DigestAlg) -> ObjectIdentifier {
    match alg {
        DigestAlg::Sha256 => oid::SHA256,
        DigestAlg::Sha384 => oid::SHA384,
        DigestAlg::Sha512 => oid::SHA512,
    }
}

/// A DER `TimeStampReq` for the SHA-256 `imprint`, with `nonce` (a positive DER integer's
/// content octets) and `certReq` true (the token then carries its signer's certificate).
pub fn build_request(imprint: &[u8; 32], nonce: &[u8]) -> Result<Vec<u8>, TsaError> {
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: spki::AlgorithmIdentifier {
                oid: oid::SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.to_vec()).map_err(malformed("imprint"))?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce).map_err(malformed("nonce"))?),
        cert_req: true,
        extensions: None,
    };
    request.to_der().map_err(malformed("TimeStampReq"))
}

/// Eight random bytes as a positive, minimally encoded DER integer.
fn random_nonce() -> Result<[u8; 8], TsaError> {
    use ring::rand::SecureRandom;
    let mut nonce = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| TsaError::Unreachable("no randomness for the nonce".into()))?;
    // High bit clear: positive. Next bit set: no leading zero octet, so the TSA's echo is the
    // same octets.
    nonce[0] = (nonce[0] & 0x7f) | 0x40;
    Ok(nonce)
}

/// Asks one TSA for tokens and checks them against the configured certificates.
pub struct TsaClient {
    url: String,
    trusted: TrustedCerts,
}

impl std::fmt::Debug for TsaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsaClient")
            .field("url", &self.url)
            .field("trusted", &self.trusted.len())
            .finish()
    }
}

impl TsaClient {
    /// The client `TSA_URL` and `TSA_CERTS` configure; `None` when `TSA_URL` is not set (no
    /// timestamps). `TSA_URL` without `TSA_CERTS`, a URL that is neither HTTPS nor HTTP on
    /// loopback, or a certificate file that does not read, is a configuration error.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(url) = config::optional(&lookup, TSA_URL) else {
            return Ok(None);
        };
        let path = config::required(&lookup, TSA_CERTS)?;
        let trusted = TrustedCerts::load(std::path::Path::new(&path)).map_err(|reason| {
            ConfigError::Invalid {
                name: TSA_CERTS,
                reason,
            }
        })?;
        Self::new(&url, trusted)
            .map(Some)
            .map_err(|reason| ConfigError::Invalid {
                name: TSA_URL,
                reason,
            })
    }

    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn new(url: &str, trusted: TrustedCerts) -> Result<Self, String> {
        crate::http::check_url(url).map_err(|reason| format!("{url:?}: {reason}"))?;
        Ok(Self {
            url: url.to_owned(),
            trusted,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn trusted(&self) -> &TrustedCerts {
        &self.trusted
    }

    /// A checked token for `imprint`, within [`TIMEOUT`] all in.
    pub async fn request(&self, imprint: [u8; 32]) -> Result<Token, TsaError> {
        tokio::time::timeout(TIMEOUT, self.request_unbounded(imprint))
            .await
            .unwrap_or(Err(TsaError::Timeout(TIMEOUT)))
    }

    async fn request_unbounded(&self, imprint: [u8; 32]) -> Result<Token, TsaError> {
        let nonce = random_nonce()?;
        let body = build_request(&imprint, &nonce)?;
        let der = self.post(body).await?;
        let facts = verify_response(&der, SignerTrust::Anchors(&self.trusted))?;
        if facts.nonce.as_deref() != Some(nonce.as_slice()) {
            return Err(TsaError::NonceMismatch);
        }
        if facts.imprint != imprint {
            return Err(TsaError::ImprintMismatch);
        }
        Ok(Token {
            der: Bytes::from(der),
            gen_time: facts.gen_time,
            tsa_name: facts.tsa_name,
            imprint,
        })
    }

    async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, TsaError> {
        let mut request = aws_smithy_runtime_api::http::Request::new(body.into());
        request
            .set_method("POST")
            .map_err(|e| TsaError::Unreachable(e.to_string()))?;
        request
            .set_uri(self.url.as_str())
            .map_err(|e| TsaError::Unreachable(e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert("content-type", "application/timestamp-query");
        headers.insert("accept", "application/timestamp-reply");
        let reply = crate::http::fetch(request, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| TsaError::Unreachable(e.to_string()))?;
        if reply.status != 200 {
            return Err(TsaError::HttpStatus(reply.status));
        }
        Ok(reply.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_under_its_signs_prefix_by_its_digest() {
        let key = crate::ids::SignKey::new(
            crate::ids::OrgId::parse("acme").unwrap(),
            crate::ids::SignId::new_random(),
        );
        assert_eq!(
            timestamp_token_key(&key, "0f1e"),
            format!("signs/acme/{}/timestamps/0f1e.tsr", key.sign_id)
        );
    }

    #[test]
    fn trusted_certs_are_every_certificate_of_the_pem_and_at_least_one() {
        let fixtures = [
            include_str!("../tests/fixtures/escrow/rsa2048.crt.pem"),
            include_str!("../tests/fixtures/escrow/rsa3072.crt.pem"),
        ];
        let certs = TrustedCerts::from_pem(fixtures.concat().as_bytes()).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(!certs.is_empty());
        let expected: Vec<Vec<u8>> = fixtures
            .iter()
            .map(|pem| der::pem::decode_vec(pem.as_bytes()).unwrap().1)
            .collect();
        assert_eq!(certs.to_der(), expected);
        assert!(certs.contains(&Certificate::from_der(&expected[1]).unwrap()));

        let none = TrustedCerts::default();
        assert!(none.is_empty());
        assert_eq!(none.len(), 0);
        assert!(!none.contains(&Certificate::from_der(&expected[0]).unwrap()));
        // What is wrong, by block; text around the blocks is not.
        let with_text = format!("subject=CN=x\n{}\nissuer=CN=y\n", fixtures[0]);
        assert_eq!(
            TrustedCerts::from_pem(with_text.as_bytes()).unwrap().len(),
            1
        );
        let key_too = [
            fixtures[0],
            include_str!("../tests/fixtures/escrow/rsa2048.key.pem"),
        ];
        assert_eq!(
            TrustedCerts::from_pem(key_too.concat().as_bytes()).unwrap_err(),
            "PEM block 2 is a PRIVATE KEY, not a CERTIFICATE"
        );
        let not_x509 = TrustedCerts::from_pem(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        assert!(
            not_x509
                .as_ref()
                .is_err_and(|e| e.starts_with("PEM block 1 is not a readable X.509 certificate: ")),
            "{not_x509:?}"
        );
        let broken = TrustedCerts::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n");
        assert_eq!(
            broken.unwrap_err(),
            "PEM block 1 is unreadable: no END line"
        );
        for empty in [&b""[..], b"\n", b"no PEM block here\n"] {
            assert_eq!(
                TrustedCerts::from_pem(empty).unwrap_err(),
                "no certificate in it"
            );
        }
    }

    /// A certificate of `shared/tests/fixtures/tsa/` (made by its `make.sh`).
    fn fixture(name: &str) -> Certificate {
        let path = format!(
            "{}/tests/fixtures/tsa/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        TrustedCerts::from_pem(&pem).unwrap().certs.remove(0)
    }

    fn trusting(names: &[&str]) -> TrustedCerts {
        TrustedCerts {
            certs: names.iter().map(|name| fixture(name)).collect(),
        }
    }

    fn untrusted(checked: Result<(), TsaError>) -> String {
        match checked {
            Err(TsaError::UntrustedSigner(why)) => why,
            other => panic!("expected an untrusted signer, got {other:?}"),
        }
    }

    #[test]
    fn a_signer_certificate_is_for_timestamping_alone_and_says_so_critically() {
        assert_eq!(
            check_time_stamping_usage(&fixture("tsa-under-intermediate")),
            Ok(())
        );
        for name in [
            "eku-not-critical",
            "eku-two-usages",
            "eku-other-usage",
            "eku-absent",
        ] {
            assert_eq!(
                untrusted(check_time_stamping_usage(&fixture(name))),
                "the signer certificate is not for timestamping (critical extendedKeyUsage timeStamping)",
                "{name}"
            );
        }
    }

    #[test]
    fn a_certificate_is_valid_from_its_first_second_to_its_last() {
        let cert = fixture("root");
        let validity = cert.tbs_certificate.validity;
        let at = |bound: cms::cert::x509::time::Time, offset: i64| {
            DateTime::from_timestamp(bound.to_unix_duration().as_secs() as i64 + offset, 0).unwrap()
        };
        assert_eq!(check_validity(&cert, at(validity.not_before, 0)), Ok(()));
        assert_eq!(check_validity(&cert, at(validity.not_after, 0)), Ok(()));
        for outside in [at(validity.not_before, -1), at(validity.not_after, 1)] {
            assert_eq!(
                untrusted(check_validity(&cert, outside)),
                "CN=biosign fixture root was not valid at the token's time"
            );
        }
    }

    #[test]
    fn a_signer_is_trusted_through_valid_ca_certificates_up_to_an_anchor() {
        let now = crate::time::now();
        let signer = fixture("tsa-under-intermediate");
        let intermediate = fixture("intermediate");
        let root = fixture("root");
        // Through the token's intermediate CA to the trusted root, or trusting the intermediate.
        let root_only = trusting(&["root"]);
        assert_eq!(
            check_chain(&signer, &[&intermediate], &root_only, now),
            Ok(())
        );
        assert_eq!(
            check_chain(&signer, &[], &trusting(&["intermediate"]), now),
            Ok(())
        );
        assert_eq!(
            check_chain(&signer, &[], &trusting(&["root", "intermediate"]), now),
            Ok(())
        );
        // A missing link, and a chain that reaches only an untrusted root (which must not be
        // taken as its own issuer).
        assert_eq!(
            untrusted(check_chain(&signer, &[], &root_only, now)),
            "no trusted certificate issued CN=tsa under the intermediate"
        );
        assert_eq!(
            untrusted(check_chain(
                &signer,
                &[&intermediate, &root],
                &trusting(&["eku-absent"]),
                now
            )),
            "no trusted certificate issued CN=biosign fixture root"
        );
        // The issuer is the certificate whose key signed, not one with the issuer's name; and the
        // impostor, if the token carries it, chains to nothing trusted.
        let impostors_signer = fixture("tsa-under-impostor");
        assert_eq!(
            untrusted(check_chain(&impostors_signer, &[], &root_only, now)),
            "no trusted certificate issued CN=tsa under an impostor"
        );
        assert_eq!(
            untrusted(check_chain(
                &impostors_signer,
                &[&fixture("impostor-root")],
                &root_only,
                now
            )),
            "no trusted certificate issued CN=biosign fixture root"
        );
        // Every certificate of the path must be valid at the token's time.
        let in_two_centuries = now + chrono::Duration::days(365 * 200);
        assert_eq!(
            untrusted(check_chain(
                &signer,
                &[&intermediate],
                &root_only,
                in_two_centuries
            )),
            "CN=tsa under the intermediate was not valid at the token's time"
        );
        // An issuer that is not a CA issues nothing, unless it is trusted itself.
        let under_not_a_ca = fixture("tsa-under-not-a-ca");
        let not_a_ca = fixture("not-a-ca");
        assert_eq!(
            untrusted(check_chain(&under_not_a_ca, &[&not_a_ca], &root_only, now)),
            "CN=biosign fixture not a CA is not a CA"
        );
        assert_eq!(
            check_chain(&under_not_a_ca, &[], &trusting(&["not-a-ca"]), now),
            Ok(())
        );
    }

    #[test]
    fn the_signer_is_found_by_its_key_identifier_or_its_issuer_and_serial() {
        let signer = fixture("tsa-under-intermediate");
        let other = fixture("intermediate");
        let key_id = extension::<SubjectKeyIdentifier>(&signer, oid::SUBJECT_KEY_IDENTIFIER)
            .unwrap()
            .expect("the fixture has a subjectKeyIdentifier");
        let by_key_id = SignerIdentifier::SubjectKeyIdentifier(key_id);
        let by_serial = SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
            issuer: signer.tbs_certificate.issuer.clone(),
            serial_number: signer.tbs_certificate.serial_number.clone(),
        });
        for sid in [&by_key_id, &by_serial] {
            let found = find_signer(sid, &[&other, &signer], SignerTrust::TokenCertificate);
            assert_eq!(found, Ok(&signer), "{sid:?}");
        }
        // Another certificate of the same issuer is not the one with that serial number.
        let sibling = fixture("not-a-ca"); // issued by the root, as `other` is
        let sibling_by_serial =
            SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
                issuer: sibling.tbs_certificate.issuer.clone(),
                serial_number: sibling.tbs_certificate.serial_number.clone(),
            });
        assert_eq!(
            find_signer(
                &sibling_by_serial,
                &[&other, &sibling],
                SignerTrust::TokenCertificate
            ),
            Ok(&sibling)
        );
        // Not in the token: among the trusted certificates, if the caller trusts some.
        let trusted = trusting(&["tsa-under-intermediate"]);
        assert_eq!(
            find_signer(&by_key_id, &[&other], SignerTrust::Anchors(&trusted)),
            Ok(&trusted.certs[0])
        );
        assert!(matches!(
            find_signer(&by_key_id, &[&other], SignerTrust::TokenCertificate),
            Err(TsaError::Malformed(_))
        ));
        let root_only = trusting(&["root"]);
        assert!(matches!(
            find_signer(&by_key_id, &[&other], SignerTrust::Anchors(&root_only)),
            Err(TsaError::UntrustedSigner(_))
        ));
    }

    #[test]
    fn the_signing_certificate_attribute_must_name_the_signer_by_its_hash() {
        let signer = fixture("tsa-under-intermediate");
        let other = fixture("intermediate");
        let der = |cert: &Certificate| cert.to_der().unwrap();
        // SigningCertificate(V2) { certs: [ESSCertID(v2) { hashAlgorithm, certHash }] }, as Any.
        let attribute = |alg: Option<ObjectIdentifier>, hash: Vec<u8>| {
            let value = SigningCertificate {
                certs: vec![EssCertId {
                    hash_algorithm: alg.map(|oid| AlgorithmIdentifierOwned {
                        oid,
                        parameters: None,
                    }),
                    cert_hash: OctetString::new(hash).unwrap(),
                    issuer_serial: None,
                }],
                policies: None,
            };
            Any::from_der(&value.to_der().unwrap()).unwrap()
        };
        let sha256 = |c: &Certificate| Sha256::digest(der(c)).to_vec();
        let sha1 = |c: &Certificate| {
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der(c))
                .as_ref()
                .to_vec()
        };
        let v2_default = attribute(None, sha256(&signer));
        let v2_sha384 = attribute(Some(oid::SHA384), Sha384::digest(der(&signer)).to_vec());
        let v2_other = attribute(None, sha256(&other));
        let v1 = attribute(None, sha1(&signer));
        let v1_other = attribute(None, sha1(&other));
        let names_another = Err(TsaError::BadSignature(
            "the signing-certificate attribute names another certificate".into(),
        ));
        // V2 (SHA-256 by default, or the algorithm it names) is read when present, else V1.
        for (v2, v1, expected) in [
            (Some(&v2_default), None, Ok(())),
            (Some(&v2_sha384), None, Ok(())),
            (Some(&v2_default), Some(&v1_other), Ok(())),
            (Some(&v2_other), None, names_another.clone()),
            (Some(&v2_other), Some(&v1), names_another.clone()),
            (None, Some(&v1), Ok(())),
            (None, Some(&v1_other), names_another.clone()),
            (
                None,
                None,
                Err(TsaError::Malformed(
                    "no signing-certificate attribute names the signer".into(),
                )),
            ),
        ] {
            assert_eq!(
                check_signing_certificate_attribute(&signer, v2, v1),
                expected,
                "v2 {v2:?}, v1 {v1:?}"
            );
        }
        let empty = Any::from_der(
            &SigningCertificate {
                certs: vec![],
                policies: None,
            }
            .to_der()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            check_signing_certificate_attribute(&signer, Some(&empty), None),
            Err(TsaError::Malformed("empty signingCertificateV2".into()))
        );
        assert_eq!(
            check_signing_certificate_attribute(&signer, None, Some(&empty)),
            Err(TsaError::Malformed("empty signingCertificate".into()))
        );
    }

    #[test]
    fn signatures_verify_under_the_algorithms_tokens_use_and_no_other() {
        use ring::rand::SystemRandom;
        use ring::signature as sig;
        let rng = SystemRandom::new();
        // The message the fixtures' ECDSA signatures sign.
        let message = b"the signed attributes";
        let alg = |oid: ObjectIdentifier, parameters: Option<Any>| AlgorithmIdentifierOwned {
            oid,
            parameters,
        };
        let pem = |text: &str| der::pem::decode_vec(text.as_bytes()).unwrap().1;
        // RSA: the escrow fixture's key and its certificate's public key.
        let rsa = sig::RsaKeyPair::from_pkcs8(&pem(include_str!(
            "../tests/fixtures/escrow/rsa2048.key.pem"
        )))
        .unwrap();
        let rsa_key = Certificate::from_der(&pem(include_str!(
            "../tests/fixtures/escrow/rsa2048.crt.pem"
        )))
        .unwrap()
        .tbs_certificate
        .subject_public_key_info;
        let rsa_signed = |padding: &'static dyn sig::RsaEncoding| {
            let mut signature = vec![0; rsa.public().modulus_len()];
            rsa.sign(padding, &rng, message, &mut signature).unwrap();
            signature
        };
        // ECDSA: a P-256 and a P-384 key, each signature made with either hash (make.sh).
        let ec_key = |text: &str| SubjectPublicKeyInfoOwned::from_der(&pem(text)).unwrap();
        let p256_key = ec_key(include_str!("../tests/fixtures/tsa/ecdsa-p256.pub.pem"));
        let p384_key = ec_key(include_str!("../tests/fixtures/tsa/ecdsa-p384.pub.pem"));
        let p256_sha256 = include_bytes!("../tests/fixtures/tsa/ecdsa-p256-sha256.sig").to_vec();
        let p256_sha384 = include_bytes!("../tests/fixtures/tsa/ecdsa-p256-sha384.sig").to_vec();
        let p384_sha256 = include_bytes!("../tests/fixtures/tsa/ecdsa-p384-sha256.sig").to_vec();
        let p384_sha384 = include_bytes!("../tests/fixtures/tsa/ecdsa-p384-sha384.sig").to_vec();
        // RSASSA-PSS parameters: hash, MGF1 with `mgf_hash`, salt length, trailer field.
        let pss = |hash: ObjectIdentifier, mgf: ObjectIdentifier, mgf_hash, salt, trailer| {
            let params = PssParams {
                hash: Some(alg(hash, None)),
                mask_gen: Some(alg(
                    mgf,
                    Some(Any::encode_from(&alg(mgf_hash, None)).unwrap()),
                )),
                salt_length: Some(salt),
                trailer_field: trailer,
            };
            alg(
                oid::RSASSA_PSS,
                Some(Any::from_der(&params.to_der().unwrap()).unwrap()),
            )
        };
        let good_pss = pss(oid::SHA256, oid::MGF1, oid::SHA256, 32, Some(1));

        let rsa_sha256 = rsa_signed(&sig::RSA_PKCS1_SHA256);
        let rsa_sha384 = rsa_signed(&sig::RSA_PKCS1_SHA384);
        let rsa_sha512 = rsa_signed(&sig::RSA_PKCS1_SHA512);
        let rsa_pss = rsa_signed(&sig::RSA_PSS_SHA256);
        let verifies = [
            (&rsa_key, alg(oid::SHA256_WITH_RSA, None), None, &rsa_sha256),
            (&rsa_key, alg(oid::SHA384_WITH_RSA, None), None, &rsa_sha384),
            (&rsa_key, alg(oid::SHA512_WITH_RSA, None), None, &rsa_sha512),
            // rsaEncryption as the signature algorithm: the digest algorithm says which hash.
            (
                &rsa_key,
                alg(oid::RSA_ENCRYPTION, None),
                Some(DigestAlg::Sha384),
                &rsa_sha384,
            ),
            (&rsa_key, good_pss.clone(), None, &rsa_pss),
            (
                &p256_key,
                alg(oid::ECDSA_WITH_SHA256, None),
                None,
                &p256_sha256,
            ),
            (
                &p256_key,
                alg(oid::ECDSA_WITH_SHA384, None),
                None,
                &p256_sha384,
            ),
            (
                &p384_key,
                alg(oid::ECDSA_WITH_SHA256, None),
                None,
                &p384_sha256,
            ),
            (
                &p384_key,
                alg(oid::ECDSA_WITH_SHA384, None),
                None,
                &p384_sha384,
            ),
            // id-ecPublicKey as the signature algorithm: the digest algorithm says which hash.
            (
                &p384_key,
                alg(oid::EC_PUBLIC_KEY, None),
                Some(DigestAlg::Sha384),
                &p384_sha384,
            ),
        ];
        for (key, algorithm, digest, signature) in &verifies {
            assert_eq!(
                verify_signature(key, algorithm, *digest, message, signature),
                Ok(()),
                "{} with {}",
                key.algorithm.oid,
                algorithm.oid
            );
            assert_eq!(
                verify_signature(key, algorithm, *digest, b"other attributes", signature),
                Err(TsaError::BadSignature(
                    "the signature does not match the key".into()
                )),
                "{} with {}",
                key.algorithm.oid,
                algorithm.oid
            );
        }
        // Refused before any signature is checked: an algorithm that is not the key's, one
        // that needs a digest algorithm and has none, PSS parameters other than the hash's own.
        let unsupported = [
            (
                &p256_key,
                alg(oid::SHA256_WITH_RSA, None),
                None,
                &rsa_sha256,
            ),
            (
                &p256_key,
                alg(oid::SHA384_WITH_RSA, None),
                None,
                &rsa_sha384,
            ),
            (
                &p256_key,
                alg(oid::SHA512_WITH_RSA, None),
                None,
                &rsa_sha256,
            ),
            (
                &p256_key,
                alg(oid::RSA_ENCRYPTION, None),
                Some(DigestAlg::Sha256),
                &rsa_sha256,
            ),
            (&p256_key, good_pss.clone(), None, &rsa_pss),
            (
                &rsa_key,
                alg(oid::ECDSA_WITH_SHA256, None),
                None,
                &p256_sha384,
            ),
            (&rsa_key, alg(oid::RSA_ENCRYPTION, None), None, &rsa_sha256),
            (&p384_key, alg(oid::EC_PUBLIC_KEY, None), None, &p384_sha384),
            (
                &p256_key,
                alg(oid::EC_PUBLIC_KEY, None),
                Some(DigestAlg::Sha512),
                &p256_sha384,
            ),
            (&rsa_key, alg(oid::SHA256, None), None, &rsa_sha256),
            (&rsa_key, alg(oid::RSASSA_PSS, None), None, &rsa_pss),
            (
                &rsa_key,
                pss(oid::SHA256, oid::MGF1, oid::SHA384, 32, None),
                None,
                &rsa_pss,
            ),
            (
                &rsa_key,
                pss(oid::SHA256, oid::SHA256, oid::SHA256, 32, None),
                None,
                &rsa_pss,
            ),
            (
                &rsa_key,
                pss(oid::SHA256, oid::MGF1, oid::SHA256, 20, None),
                None,
                &rsa_pss,
            ),
            (
                &rsa_key,
                pss(oid::SHA256, oid::MGF1, oid::SHA256, 32, Some(2)),
                None,
                &rsa_pss,
            ),
        ];
        for (key, algorithm, digest, signature) in unsupported {
            let checked = verify_signature(key, &algorithm, digest, message, signature);
            assert!(
                matches!(checked, Err(TsaError::Unsupported(_))),
                "{} with {}: {checked:?}",
                key.algorithm.oid,
                algorithm.oid
            );
        }
    }

    #[test]
    fn a_client_shows_its_url_and_how_many_certificates_it_trusts() {
        let trusted = TrustedCerts::from_pem(
            [
                include_str!("../tests/fixtures/tsa/root.pem"),
                include_str!("../tests/fixtures/tsa/intermediate.pem"),
            ]
            .concat()
            .as_bytes(),
        )
        .unwrap();
        let client = TsaClient::new("https://tsa.example/tsr", trusted).unwrap();
        assert_eq!(client.url(), "https://tsa.example/tsr");
        assert_eq!(client.trusted().len(), 2);
        assert_eq!(
            format!("{client:?}"),
            r#"TsaClient { url: "https://tsa.example/tsr", trusted: 2 }"#
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        let ok = [
            "https://tsa.example/tsr",
            "http://127.0.0.1:3180/",
            "http://127.8.9.10/",
            "http://[::1]:80/",
            "http://localhost:9/x",
        ];
        for url in ok {
            assert!(
                TsaClient::new(url, TrustedCerts::default()).is_ok(),
                "{url}"
            );
        }
        let refused = [
            ("http://tsa.example/", "plain HTTP"),
            ("http://10.0.0.1/", "plain HTTP"),
            ("ftp://tsa.example/", "scheme"),
            ("tsa.example", "scheme"),
            ("not a url", "not a URL"),
        ];
        for (url, why) in refused {
            let error = TsaClient::new(url, TrustedCerts::default()).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
        }
    }

    #[test]
    fn configuration_names_what_is_wrong() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(TsaClient::from_lookup(lookup(&[])).unwrap().is_none());
        let missing = TsaClient::from_lookup(lookup(&[("TSA_URL", "https://t.example/")]));
        assert!(matches!(missing, Err(ConfigError::Missing("TSA_CERTS"))));
        let unreadable = TsaClient::from_lookup(lookup(&[
            ("TSA_URL", "https://t.example/"),
            ("TSA_CERTS", "/nonexistent/tsa.pem"),
        ]));
        assert!(
            matches!(&unreadable, Err(ConfigError::Invalid { name: "TSA_CERTS", reason }) if reason.contains("/nonexistent/tsa.pem")),
            "{unreadable:?}"
        );
    }

    #[test]
    fn a_request_is_der_with_sha256_imprint_nonce_and_cert_req() {
        let imprint = [7u8; 32];
        let nonce = random_nonce().unwrap();
        // Every nonce is positive and minimal (a random first byte would be neither half the time).
        for _ in 0..64 {
            assert_eq!(
                random_nonce().unwrap()[0] & 0xc0,
                0x40,
                "positive and minimal"
            );
        }
        let der = build_request(&imprint, &nonce).unwrap();
        let parsed = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(parsed.message_imprint.hash_algorithm.oid, oid::SHA256);
        assert_eq!(parsed.message_imprint.hashed_message.as_bytes(), imprint);
        assert_eq!(parsed.nonce.unwrap().as_bytes(), nonce);
        assert!(parsed.cert_req);
        assert_ne!(random_nonce().unwrap(), nonce);
    }

    #[test]
    fn gen_time_reads_with_and_without_fractions() {
        let time = |text: &str| {
            let any = Any::new(Tag::GeneralizedTime, text.as_bytes()).unwrap();
            parse_generalized_time(&any).map(|(t, _)| crate::time::format(&t))
        };
        assert_eq!(time("20261127101507Z").unwrap(), "2026-11-27T10:15:07.000Z");
        assert_eq!(
            time("20261127101507.1Z").unwrap(),
            "2026-11-27T10:15:07.100Z"
        );
        assert_eq!(
            time("20261127101507.123456Z").unwrap(),
            "2026-11-27T10:15:07.123Z"
        );
        for bad in [
            "20261127101507",
            "2026112710150Z",
            "20261327101507Z",
            "20261127101507.Z1",
        ] {
            assert!(time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_and_refusals_are_named() {
        assert!(matches!(
            verify_response(b"not der", SignerTrust::TokenCertificate),
            Err(TsaError::Malformed(_))
        ));
        // TimeStampResp { status { rejection(2), statusString { "no" } } }
        let rejected = [
            0x30, 0x0b, 0x30, 0x09, 0x02, 0x01, 0x02, 0x30, 0x04, 0x0c, 0x02, b'n', b'o',
        ];
        match verify_response(&rejected, SignerTrust::TokenCertificate) {
            Err(TsaError::NotGranted { status, detail }) => {
                assert_eq!(status, "Rejection");
                assert_eq!(detail, " (no)");
            }
            other => panic!("{other:?}"),
        }
        // Granted, but without a token.
        let empty = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
        assert!(matches!(
            verify_response(&empty, SignerTrust::TokenCertificate),
            Err(TsaError::Malformed(m)) if m.contains("no timeStampToken")
        ));
    }
}
