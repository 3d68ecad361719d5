//! The RFC 3161 client against a TSA on loopback (`openssl ts -reply`): a granted token is
//! checked and OpenSSL agrees with it; every way a TSA can fail is an error naming the failure.

use std::path::Path;

use biosign_e2e::tsa::{LoopbackTsa, TsaKey, TsaMode, unused_loopback_url};
use biosign_shared::timestamp::{
    SignerTrust, Token, TrustedCerts, TsaClient, TsaError, verify_response,
};
use cms::signed_data::SignedData;
use der::Decode;
use sha2::{Digest, Sha256};
use x509_tsp::TimeStampResp;

fn client(url: &str, trusted: &Path) -> TsaClient {
    let trusted = TrustedCerts::load(trusted).expect("the TSA's PEM reads");
    TsaClient::new(url, trusted).expect("a loopback URL is allowed")
}

fn imprint(seed: &str) -> [u8; 32] {
    Sha256::digest(seed.as_bytes()).into()
}

/// A granted token from `tsa` (trusting its CA) for the imprint of `seed`, and that imprint.
async fn granted(tsa: &LoopbackTsa, seed: &str) -> ([u8; 32], Token) {
    let digest = imprint(seed);
    let token = client(&tsa.url, &tsa.ca_pem())
        .request(digest)
        .await
        .unwrap_or_else(|e| panic!("the loopback TSA grants {seed:?}: {e}"));
    (digest, token)
}

#[tokio::test]
async fn a_granted_token_is_accepted_and_openssl_verifies_it() {
    for key in [TsaKey::Rsa, TsaKey::RsaCertSignedWithPss, TsaKey::EcdsaP256] {
        let tsa = LoopbackTsa::start_with(key).await;
        // Trusting the signer itself, or the CA it chains to through the token's certificates.
        for trusted in [tsa.signer_pem(), tsa.ca_pem()] {
            let digest = imprint(&format!("{key:?} {}", trusted.display()));
            let token = client(&tsa.url, &trusted)
                .request(digest)
                .await
                .unwrap_or_else(|e| panic!("{key:?}, trusting {}: {e}", trusted.display()));
            assert_eq!(token.imprint, digest);
            assert_eq!(token.tsa_name, "CN=tsa.test,O=biosign tests");
            let age = chrono::Utc::now() - token.gen_time;
            assert!(age.num_minutes().abs() < 5, "genTime {}", token.gen_time);
            tsa.openssl_verify(&token.der, &hex::encode(digest))
                .unwrap_or_else(|e| panic!("{key:?}: openssl refuses the token: {e}"));
            // The offline verifier reads the same facts from the stored bytes.
            let facts = verify_response(&token.der, SignerTrust::TokenCertificate).unwrap();
            assert_eq!(
                (facts.gen_time, facts.imprint, facts.tsa_name.as_str()),
                (token.gen_time, digest, token.tsa_name.as_str())
            );
            assert!(
                facts.gen_time_text.contains('.'),
                "the TSA writes milliseconds: {}",
                facts.gen_time_text
            );
            assert_eq!(facts.policy, "1.3.6.1.4.1.55555.1");
        }
        assert_eq!(tsa.requests(), 2);
    }
}

#[tokio::test]
async fn every_failing_tsa_is_an_error_naming_the_failure() {
    let tsa = LoopbackTsa::start().await;
    let trusted = client(&tsa.url, &tsa.ca_pem());
    type Expected = fn(&TsaError) -> bool;
    let cases: [(TsaMode, Expected); 6] = [
        (TsaMode::Down, |e| matches!(e, TsaError::Unreachable(_))),
        (TsaMode::HttpError, |e| {
            matches!(e, TsaError::HttpStatus(500))
        }),
        (TsaMode::BadStatus, |e| {
            matches!(e, TsaError::NotGranted { status, detail }
                if status == "Rejection" && detail.contains("test TSA refuses"))
        }),
        (TsaMode::WrongNonce, |e| {
            matches!(e, TsaError::NonceMismatch)
        }),
        (TsaMode::WrongImprint, |e| {
            matches!(e, TsaError::ImprintMismatch)
        }),
        (TsaMode::UntrustedSigner, |e| {
            matches!(e, TsaError::UntrustedSigner(_))
        }),
    ];
    for (mode, expected) in cases {
        tsa.set_mode(mode);
        let error = trusted
            .request(imprint("x"))
            .await
            .expect_err(&format!("{mode:?} must fail"));
        assert!(expected(&error), "{mode:?}: {error:?}");
    }
    // The stranger's token is refused when the TSA's own certificate is the only one trusted.
    tsa.set_mode(TsaMode::UntrustedSigner);
    let pinned = client(&tsa.url, &tsa.signer_pem());
    let error = pinned.request(imprint("x")).await.unwrap_err();
    assert!(matches!(error, TsaError::UntrustedSigner(_)), "{error:?}");
    // And once the TSA behaves, the same client gets a token.
    tsa.set_mode(TsaMode::Good);
    assert!(trusted.request(imprint("x")).await.is_ok());
}

#[tokio::test]
async fn a_slow_tsa_is_given_up_on() {
    let tsa = LoopbackTsa::start().await;
    tsa.set_mode(TsaMode::Slow);
    let error = client(&tsa.url, &tsa.ca_pem())
        .request(imprint("slow"))
        .await
        .unwrap_err();
    assert!(matches!(error, TsaError::Timeout(_)), "{error:?}");
    assert_eq!(error.to_string(), "the TSA did not answer within 3000 ms");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let tsa = LoopbackTsa::start().await;
    let error = client(&unused_loopback_url(), &tsa.ca_pem())
        .request(imprint("none"))
        .await
        .unwrap_err();
    assert!(matches!(error, TsaError::Unreachable(_)), "{error:?}");
}

#[tokio::test]
async fn https_uses_tls_with_the_system_roots() {
    // The loopback TSA speaks plain HTTP: an https:// client loads the system's roots, starts a
    // TLS handshake and fails it, rather than sending the request in the clear.
    let tsa = LoopbackTsa::start().await;
    let https = tsa.url.replacen("http://", "https://", 1);
    let error = client(&https, &tsa.ca_pem())
        .request(imprint("tls"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TsaError::Unreachable(m) if !m.contains("no TLS roots")),
        "{error:?}"
    );
    assert_eq!(tsa.requests(), 0, "no query reached the plain-HTTP handler");
}

#[tokio::test]
async fn a_changed_token_no_longer_verifies() {
    let tsa = LoopbackTsa::start().await;
    let (digest, token) = granted(&tsa, "tamper").await;
    // Flip one bit of the imprint inside the TSTInfo: the signed message digest no longer holds.
    let at = token
        .der
        .windows(32)
        .position(|w| w == digest)
        .expect("the imprint is in the token");
    let mut changed = token.der.to_vec();
    changed[at] ^= 1;
    let error = verify_response(&changed, SignerTrust::TokenCertificate).unwrap_err();
    assert!(matches!(error, TsaError::BadSignature(_)), "{error:?}");
    assert!(tsa.openssl_verify(&changed, &hex::encode(digest)).is_err());
    // Trusting the other CA, the genuine token is refused.
    let other = TrustedCerts::load(&tsa.other_ca_pem()).unwrap();
    let error = verify_response(&token.der, SignerTrust::Anchors(&other)).unwrap_err();
    assert!(matches!(error, TsaError::UntrustedSigner(_)), "{error:?}");
}

#[tokio::test]
async fn granted_with_modifications_is_granted_and_every_other_status_is_refused() {
    let tsa = LoopbackTsa::start().await;
    let (digest, token) = granted(&tsa, "status").await;
    // The PKIStatusInfo leads the response, outside the signed token: `SEQUENCE { INTEGER 0 }`.
    let granted = [0x30, 0x03, 0x02, 0x01, 0x00];
    let at = token
        .der
        .windows(granted.len())
        .position(|w| w == granted)
        .expect("the response starts with its status")
        + granted.len()
        - 1;
    let with_status = |status: u8| {
        let mut der = token.der.to_vec();
        der[at] = status;
        der
    };
    // grantedWithMods (1): RFC 3161 has it carry a token like granted (0) does.
    let facts = verify_response(&with_status(1), SignerTrust::TokenCertificate).unwrap();
    assert_eq!(facts.imprint, digest);
    for (status, name) in [
        (2, "Rejection"),
        (3, "Waiting"),
        (4, "RevocationWarning"),
        (5, "RevocationNotification"),
    ] {
        match verify_response(&with_status(status), SignerTrust::TokenCertificate) {
            Err(TsaError::NotGranted { status, detail }) => {
                assert_eq!((status.as_str(), detail.as_str()), (name, ""));
            }
            other => panic!("status {status}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_token_whose_signature_is_changed_is_refused() {
    for key in [TsaKey::Rsa, TsaKey::EcdsaP256] {
        let tsa = LoopbackTsa::start_with(key).await;
        let (digest, token) = granted(&tsa, &format!("signature {key:?}")).await;
        // The SignerInfo's signature value, found in the response's bytes; one bit of it flipped.
        // The signed attributes, the TSTInfo and its digest are untouched.
        let response = TimeStampResp::from_der(&token.der).unwrap();
        let signed: SignedData = response
            .time_stamp_token
            .expect("a granted response has a token")
            .content
            .decode_as()
            .unwrap();
        let signature = signed
            .signer_infos
            .0
            .iter()
            .next()
            .unwrap()
            .signature
            .as_bytes();
        let at = token
            .der
            .windows(signature.len())
            .position(|w| w == signature)
            .expect("the signature is in the response")
            + signature.len() / 2;
        let mut changed = token.der.to_vec();
        changed[at] ^= 0x10;
        let trusted = TrustedCerts::load(&tsa.ca_pem()).unwrap();
        for trust in [
            SignerTrust::TokenCertificate,
            SignerTrust::Anchors(&trusted),
        ] {
            assert_eq!(
                verify_response(&changed, trust).unwrap_err(),
                TsaError::BadSignature("the signature does not match the key".into()),
                "{key:?}"
            );
        }
        assert!(tsa.openssl_verify(&changed, &hex::encode(digest)).is_err());
    }
}
