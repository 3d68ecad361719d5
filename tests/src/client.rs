//! The client's side: responses as a client sees them, the device headers and signatures an
//! app sends, dev tokens, and requests to the three endpoints of a [`TestEnv`]'s server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fixtures;
use crate::harness::TestEnv;

/// A response as the client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error body: one error with this code and title, a `ref` to the
    /// code's anchor, and `details` starting with `details_prefix`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, title: &str, details_prefix: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/json")
        );
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors array: {}", self.body));
        assert_eq!(errors.len(), 1, "{}", self.body);
        let error = &errors[0];
        assert_eq!(error["code"], code, "{}", self.body);
        assert_eq!(error["title"], title, "{}", self.body);
        let reference = error["ref"].as_str().unwrap();
        assert!(
            reference.ends_with(&format!("#{}", code.to_lowercase())),
            "ref {reference}"
        );
        let details = error["details"].as_str().unwrap();
        assert!(
            details.starts_with(details_prefix),
            "details {details:?} should start with {details_prefix:?}"
        );
    }

    #[track_caller]
    pub fn assert_no_content(&self) {
        assert_eq!(self.status, 204, "body: {}", self.body);
        assert!(self.raw.is_empty(), "a 204 has no body");
    }
}

/// The device evidence headers a well-behaved app sends.
pub fn device_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "x-installation_id",
            "5f0c3a52-8d3b-4a8e-9a53-0a8f8e0d7c11".into(),
        ),
        ("x-fingerprint", "3f8a1c2e9b7d4f60a1b2c3d4e5f60718".into()),
        ("x-location", "40.4168,-3.7038".into()),
    ]
}

/// A signature to send, with the digests the service must report for it.
#[derive(Debug, Clone)]
pub struct Signature {
    pub biometric_data: Vec<u8>,
    pub image: Vec<u8>,
}

impl Signature {
    /// A distinct, realistic signature per `seed`: a synthetic ten-second pen capture in
    /// sigdata/1 (`biosign sample-signature --seed`) and the PNG rendered from its strokes.
    pub fn sample(seed: u32) -> Self {
        let sample = biosign_shared::capture::sample::pen_signature(u64::from(seed));
        Self {
            biometric_data: sample.biometric_data,
            image: sample.png,
        }
    }

    /// The same capture as [`Signature::sample`], as an ISO/IEC 19794-7 record.
    pub fn iso_sample(seed: u32) -> Self {
        use biosign_shared::capture::{self, Format, convert};
        let sigdata = Self::sample(seed);
        let (capture, _) = capture::validate(&sigdata.biometric_data).expect("a valid sample");
        let iso = convert::convert(&capture, Format::Iso19794_7).expect("converts to ISO");
        Self {
            biometric_data: iso.bytes,
            ..sigdata
        }
    }

    /// Any biometric data, with a valid image.
    pub fn with_biometric_data(biometric_data: &[u8]) -> Self {
        Self {
            biometric_data: biometric_data.to_vec(),
            ..Self::sample(1)
        }
    }

    /// What GET must show as `signature.biometric` for this signature.
    pub fn biometric_summary(&self) -> Value {
        let (_, summary) =
            biosign_shared::capture::validate(&self.biometric_data).expect("valid biometric data");
        serde_json::to_value(summary).expect("a summary is JSON")
    }

    pub fn body(&self) -> Value {
        json!({
            "biometric_data": STANDARD.encode(&self.biometric_data),
            "signature_image": format!("data:image/png;base64,{}", STANDARD.encode(&self.image)),
        })
    }

    pub fn image_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.image))
    }

    pub fn biometric_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.biometric_data))
    }
}

impl<S, B> TestEnv<S, B> {
    /// A token of the dev issuer for `org` with `scope`, optionally limited to one sign.
    pub fn token(&self, org: &str, scope: &str, sign_id: Option<&str>) -> String {
        fixtures::dev_token(&self.key, org, scope, sign_id, "PT5M")
    }

    /// A token with both scopes for `org`.
    pub fn full_token(&self, org: &str) -> String {
        self.token(org, fixtures::FULL_SCOPE, None)
    }

    /// Signs arbitrary claims with the dev key (for the token matrix).
    pub fn token_with_claims(&self, claims: &Value) -> String {
        self.key.sign(claims).expect("sign claims")
    }

    pub fn url(&self, org: &str, sign_id: &str, action: Option<&str>) -> String {
        let base = format!("{}/v1/orgs/{org}/biometric_signs/{sign_id}", self.base_url);
        match action {
            Some(action) => format!("{base}/{action}"),
            None => base,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.bytes().await.expect("body").to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            raw,
            body,
        }
    }

    pub async fn get(&self, org: &str, sign_id: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(self.url(org, sign_id, None));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn preview(&self, org: &str, sign_id: &str, token: Option<&str>) -> Reply {
        self.preview_with(org, sign_id, token, &device_headers())
            .await
    }

    pub async fn preview_with(
        &self,
        org: &str,
        sign_id: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut request = self.http.post(self.url(org, sign_id, Some("preview")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
    }

    pub async fn sign(
        &self,
        org: &str,
        sign_id: &str,
        token: &str,
        signature: &Signature,
    ) -> Reply {
        self.sign_raw(
            org,
            sign_id,
            Some(token),
            &device_headers(),
            Some("application/json"),
            signature.body().to_string().into_bytes(),
        )
        .await
    }

    pub async fn sign_raw(
        &self,
        org: &str,
        sign_id: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .http
            .post(self.url(org, sign_id, Some("sign")))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
    }
}
