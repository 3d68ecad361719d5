//! Sealing for the escrow, checked the way a notary would open an envelope: with the stock
//! `openssl` binary (OpenSSL 3). The keys are the test-only fixtures in `fixtures/escrow/`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use biosign_shared::config::{self, ConfigError};
use biosign_shared::seal::{EscrowRecipients, Sealed};
use biosign_shared::time::{self, Timestamp};
use chrono::{DateTime, Duration};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/escrow")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A PEM file in `dir` made of the given fixtures, in order.
fn pem_file(dir: &Path, fixtures: &[&str]) -> PathBuf {
    let path = dir.join("escrow-certs.pem");
    let pem: String = fixtures.iter().map(|name| read(name)).collect();
    std::fs::write(&path, pem).unwrap();
    path
}

fn recipients(fixtures: &[&str]) -> EscrowRecipients {
    let dir = tempfile::tempdir().unwrap();
    EscrowRecipients::load(&pem_file(dir.path(), fixtures), time::now()).unwrap()
}

/// `openssl cms -decrypt` as the README tells a key holder to run it: the plaintext, or
/// OpenSSL's complaint.
fn openssl_open(envelope: &[u8], key: &str, cert: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let (sealed, plain) = (dir.path().join("sealed.p7m"), dir.path().join("plain.bin"));
    std::fs::write(&sealed, envelope).unwrap();
    let output = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(&sealed)
        .arg("-inkey")
        .arg(fixture(key))
        .arg("-recip")
        .arg(fixture(cert))
        .arg("-out")
        .arg(&plain)
        .output()
        .expect("run openssl");
    if output.status.success() {
        Ok(std::fs::read(&plain).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn openssl_print(envelope: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sealed = dir.path().join("sealed.p7m");
    std::fs::write(&sealed, envelope).unwrap();
    let output = Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&sealed)
        .output()
        .expect("run openssl");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sigdata() -> Vec<u8> {
    let xs: Vec<String> = (0..400).map(|i| format!("{}.5", 10 + i % 500)).collect();
    format!(
        r#"{{"format":"sigdata/1","capture":{{"width":600,"height":200,"pointer_type":"pen"}},"strokes":[{{"t":[{}],"x":[{}],"y":[{}]}}]}}"#,
        (0..400).map(|i| (i * 4).to_string()).collect::<Vec<_>>().join(","),
        xs.join(","),
        xs.join(",")
    )
    .into_bytes()
}

/// ISO/IEC 19794-7 starts with `SDI\0` and ` 10\0`; the rest is binary.
fn iso_like() -> Vec<u8> {
    let mut data = b"SDI\0 10\0".to_vec();
    data.extend((0..5000u32).flat_map(|i| (i.wrapping_mul(2654435761)).to_be_bytes()));
    data
}

/// The largest biometric data a request can carry: 307,200 base64 characters.
fn largest() -> Vec<u8> {
    (0..230_400u32)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect()
}

fn assert_opens(sealed: &Sealed, plaintext: &[u8], key: &str, cert: &str) {
    let opened = openssl_open(&sealed.der, key, cert).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert!(opened == plaintext, "{key}: different bytes");
    assert_eq!(Sha256::digest(&opened), Sha256::digest(plaintext));
    assert_eq!(sealed.sha256, <[u8; 32]>::from(Sha256::digest(&sealed.der)));
}

#[test]
fn openssl_opens_an_envelope_for_one_recipient_in_both_formats_and_at_the_largest_size() {
    let escrow = recipients(&["rsa2048.crt.pem"]);
    for plaintext in [sigdata(), iso_like(), largest(), b"x".to_vec()] {
        let sealed = escrow.seal(&plaintext).unwrap();
        assert_opens(&sealed, &plaintext, "rsa2048.key.pem", "rsa2048.crt.pem");
    }
}

#[test]
fn the_envelope_is_auth_enveloped_data_with_aes_256_gcm_and_rsa_oaep_sha256() {
    let sealed = recipients(&["rsa3072.crt.pem"]).seal(&sigdata()).unwrap();
    let printed = openssl_print(&sealed.der);
    for expected in [
        "contentType: id-smime-ct-authEnvelopedData",
        "algorithm: rsaesOaep",
        ":sha256",
        ":mgf1",
        "algorithm: aes-256-gcm",
        "contentType: pkcs7-data",
    ] {
        assert!(
            printed.contains(expected),
            "{expected} missing in\n{printed}"
        );
    }
    assert!(!printed.contains("sha1"), "{printed}");
}

#[test]
fn two_recipients_each_open_it_alone() {
    let escrow = recipients(&["rsa2048.crt.pem", "rsa3072.crt.pem"]);
    let plaintext = sigdata();
    let sealed = escrow.seal(&plaintext).unwrap();
    assert_opens(&sealed, &plaintext, "rsa2048.key.pem", "rsa2048.crt.pem");
    assert_opens(&sealed, &plaintext, "rsa3072.key.pem", "rsa3072.crt.pem");
    assert_eq!(openssl_print(&sealed.der).matches("rsaesOaep").count(), 2);
    let evidence = escrow.evidence(&sealed);
    assert_eq!(
        evidence.biometric_envelope_sha256,
        hex::encode(Sha256::digest(&sealed.der))
    );
    assert_eq!(evidence.recipient_fingerprints, escrow.fingerprints());
    assert_eq!(evidence.recipient_fingerprints.len(), 2);
}

#[test]
fn a_key_that_is_not_a_recipient_does_not_open_it() {
    let plaintext = sigdata();
    let sealed = recipients(&["rsa2048.crt.pem"]).seal(&plaintext).unwrap();
    // Another certificate and its key: no recipient matches.
    let err = openssl_open(
        &sealed.der,
        "rsa2048-other.key.pem",
        "rsa2048-other.crt.pem",
    )
    .unwrap_err();
    assert!(err.contains("Error decrypting CMS"), "{err}");
    // The recipient's certificate with another key: the content key does not decrypt.
    let err = openssl_open(&sealed.der, "rsa2048-other.key.pem", "rsa2048.crt.pem").unwrap_err();
    assert!(err.contains("decrypt"), "{err}");
    // The other recipient of a two-recipient file is not enough for a one-recipient envelope.
    assert!(openssl_open(&sealed.der, "rsa3072.key.pem", "rsa3072.crt.pem").is_err());
}

#[test]
fn a_flipped_byte_is_detected() {
    let plaintext = iso_like();
    let sealed = recipients(&["rsa2048.crt.pem"]).seal(&plaintext).unwrap();
    let len = sealed.der.len();
    // The envelope ends with the 16-byte tag (after its 2-byte header); before it, the
    // ciphertext; near the start, the recipient's encrypted key.
    for (what, at) in [
        ("the tag", len - 1),
        ("the ciphertext", len - 18 - 100),
        ("the ciphertext's first block", len - 18 - plaintext.len()),
        ("the encrypted key", 200),
    ] {
        let mut tampered = sealed.der.to_vec();
        tampered[at] ^= 0x01;
        assert!(
            openssl_open(&tampered, "rsa2048.key.pem", "rsa2048.crt.pem").is_err(),
            "{what}: opened"
        );
        assert_ne!(
            <[u8; 32]>::from(Sha256::digest(&tampered)),
            sealed.sha256,
            "{what}"
        );
    }
}

#[test]
fn every_seal_has_a_fresh_content_key_and_holds_no_window_of_the_plaintext() {
    let escrow = recipients(&["rsa2048.crt.pem", "rsa3072.crt.pem"]);
    let plaintext = sigdata();
    let (a, b) = (
        escrow.seal(&plaintext).unwrap(),
        escrow.seal(&plaintext).unwrap(),
    );
    assert_ne!(a.der, b.der);
    assert_ne!(a.sha256, b.sha256);
    let windows: HashSet<&[u8]> = plaintext.windows(32).collect();
    for sealed in [&a, &b] {
        assert!(
            !sealed.der.windows(32).any(|w| windows.contains(w)),
            "a 32-byte window of the plaintext is in the envelope"
        );
    }
}

#[test]
fn fingerprints_are_the_sha256_of_each_certificate_in_file_order() {
    let escrow = recipients(&["rsa3072.crt.pem", "rsa2048.crt.pem"]);
    let expected: Vec<String> = ["rsa3072.crt.pem", "rsa2048.crt.pem"]
        .iter()
        .map(|name| {
            let output = Command::new("openssl")
                .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
                .arg(fixture(name))
                .output()
                .unwrap();
            let line = String::from_utf8(output.stdout).unwrap();
            let hex = line.trim().rsplit('=').next().unwrap();
            hex.replace(':', "").to_lowercase()
        })
        .collect();
    assert_eq!(escrow.fingerprints(), expected);
    let summaries = escrow.summaries();
    assert_eq!(summaries[0].rsa_bits, 3072);
    assert_eq!(
        summaries[1].subject,
        "CN=TEST ONLY escrow 2048 (private key is public),O=biosign tests"
    );
    assert_eq!(summaries[1].sha256_fingerprint, expected[1]);
    assert_eq!(
        escrow.certificates_pem(),
        read("rsa3072.crt.pem") + &read("rsa2048.crt.pem")
    );
    // What a log or a panic message shows of the configuration: the fingerprints, not the
    // certificates.
    let debug = format!("{escrow:?}");
    assert!(debug.starts_with("EscrowRecipients {"), "{debug}");
    for fingerprint in &expected {
        assert!(debug.contains(fingerprint.as_str()), "{debug}");
    }
    assert!(!debug.contains("BEGIN"), "{debug}");
}

/// The certificate's validity period: (notBefore, notAfter).
fn validity(name: &str) -> (Timestamp, Timestamp) {
    let der = der::pem::decode_vec(read(name).as_bytes()).unwrap().1;
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let bounds = cert.tbs_certificate.validity;
    let at = |time: x509_cert::time::Time| {
        DateTime::from_timestamp(time.to_unix_duration().as_secs() as i64, 0).unwrap()
    };
    (at(bounds.not_before), at(bounds.not_after))
}

#[test]
fn validity_bounds_are_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    let path = pem_file(dir.path(), &["rsa2048.crt.pem"]);
    let (start, end) = validity("rsa2048.crt.pem");
    assert!(EscrowRecipients::load(&path, start).is_ok());
    assert!(EscrowRecipients::load(&path, end).is_ok());
    let err = EscrowRecipients::load(&path, start - Duration::milliseconds(1000)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(&format!("not valid before {}", time::format(&start))),
        "{err}"
    );
    let err = EscrowRecipients::load(&path, end + Duration::milliseconds(1000)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(&format!("expired at {}", time::format(&end))),
        "{err}"
    );
}

/// `ESCROW_CERTS` pointing at `path`, read the way a function's `main` reads it.
fn configure(path: &Path) -> Result<EscrowRecipients, ConfigError> {
    let value = path.to_string_lossy().into_owned();
    config::escrow_recipients(
        &move |name: &str| (name == config::ESCROW_CERTS).then(|| value.clone()),
        time::now(),
    )
}

/// A copy of the 2048-bit certificate whose key is replaced by a 9000-bit modulus (the
/// certificate's signature no longer verifies, which this check does not look at).
fn oversized_key_pem() -> String {
    let der = der::pem::decode_vec(read("rsa2048.crt.pem").as_bytes())
        .unwrap()
        .1;
    let mut cert = x509_cert::Certificate::from_der(&der).unwrap();
    let mut modulus = vec![0xC5u8; 9000 / 8];
    modulus[9000 / 8 - 1] |= 1;
    let key = rsa::pkcs1::RsaPublicKey {
        modulus: der::asn1::UintRef::new(&modulus).unwrap(),
        public_exponent: der::asn1::UintRef::new(&[1, 0, 1]).unwrap(),
    };
    cert.tbs_certificate
        .subject_public_key_info
        .subject_public_key = der::asn1::BitString::from_bytes(&key.to_der().unwrap()).unwrap();
    der::pem::encode_string(
        "CERTIFICATE",
        der::pem::LineEnding::LF,
        &cert.to_der().unwrap(),
    )
    .unwrap()
}

#[test]
fn each_bad_escrow_certs_case_fails_naming_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let unset = config::escrow_recipients(&|_: &str| None, time::now()).unwrap_err();
    assert_eq!(
        unset.to_string(),
        "the environment variable ESCROW_CERTS is required but not set"
    );

    let missing = dir.path().join("nowhere.pem");
    let err = configure(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "the environment variable ESCROW_CERTS is invalid: {}: cannot read the file: ",
            missing.display()
        )),
        "{err}"
    );

    let key_and_cert = read("rsa2048.crt.pem") + &read("rsa2048.key.pem");
    let cases: Vec<(&str, String, String)> = vec![
        ("empty", String::new(), "holds no PEM certificate".into()),
        (
            "not PEM",
            "these are not the certificates you are looking for\n".into(),
            "holds no PEM certificate".into(),
        ),
        (
            "garbage",
            read("garbage.pem"),
            "certificate 1 is not a readable X.509 certificate: ".into(),
        ),
        (
            "1024 bits",
            read("rsa1024.crt.pem"),
            "certificate 1 (CN=TEST ONLY rsa 1024): its RSA key has 1024 bits (2048 to 8192 accepted)"
                .into(),
        ),
        (
            "9000 bits",
            oversized_key_pem(),
            "certificate 1 (CN=TEST ONLY escrow 2048 (private key is public),O=biosign tests): its RSA key has 9000 bits (2048 to 8192 accepted)"
                .into(),
        ),
        (
            "EC",
            read("ec-p256.crt.pem"),
            "certificate 1 (CN=TEST ONLY ec p256): its key is EC, not RSA".into(),
        ),
        (
            "RSA-PSS",
            read("rsa-pss.crt.pem"),
            "certificate 1 (CN=TEST ONLY rsa-pss): its key is RSASSA-PSS (restricted to signatures), not RSA"
                .into(),
        ),
        (
            "signing only",
            read("signing-only.crt.pem"),
            "certificate 1 (CN=TEST ONLY signing only): its key usage extension does not allow keyEncipherment"
                .into(),
        ),
        (
            "expired",
            read("expired.crt.pem"),
            "certificate 1 (CN=TEST ONLY expired): expired at 2001-01-01T00:00:00.000Z".into(),
        ),
        (
            "not yet valid",
            read("not-yet-valid.crt.pem"),
            "certificate 1 (CN=TEST ONLY not yet valid): not valid before 2100-01-01T00:00:00.000Z"
                .into(),
        ),
        (
            "a bad second certificate",
            read("rsa3072.crt.pem") + &read("expired.crt.pem"),
            "certificate 2 (CN=TEST ONLY expired): expired at 2001-01-01T00:00:00.000Z".into(),
        ),
        (
            "the same certificate twice",
            read("rsa3072.crt.pem") + &read("rsa3072.crt.pem"),
            "certificate 2 (CN=TEST ONLY escrow 3072 (private key is public),O=biosign tests): the same certificate as certificate 1"
                .into(),
        ),
        (
            "a private key beside the certificate",
            key_and_cert,
            "PEM block 2 is a private key (PRIVATE KEY): the service must never hold an escrow private key; give it the certificates only"
                .into(),
        ),
    ];
    for (case, pem, reason) in cases {
        let path = dir.path().join(format!("{}.pem", case.replace(' ', "-")));
        std::fs::write(&path, pem).unwrap();
        let err = configure(&path).unwrap_err().to_string();
        let expected = format!(
            "the environment variable ESCROW_CERTS is invalid: {}: {reason}",
            path.display()
        );
        assert!(err.starts_with(&expected), "{case}:\n{err}\n{expected}");
    }
}

#[test]
fn a_good_file_configures_every_certificate_in_it() {
    let dir = tempfile::tempdir().unwrap();
    // OpenSSL's `-text` output and comments between the blocks are ignored.
    let pem = format!(
        "# escrow certificates of the deployment\nsubject=...\n{}\n{}",
        read("rsa2048.crt.pem"),
        read("rsa3072.crt.pem")
    );
    let path = dir.path().join("escrow-certs.pem");
    std::fs::write(&path, pem).unwrap();
    let escrow = configure(&path).unwrap();
    assert_eq!(escrow.fingerprints().len(), 2);
    assert_eq!(escrow.path(), path);
}
