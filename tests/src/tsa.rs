//! A timestamp authority on loopback for tests: `openssl ts -reply` behind a small HTTP handler
//! (POST `application/timestamp-query` → `application/timestamp-reply`), with certificates made
//! by `openssl` at start, and switchable ways to misbehave.
//!
//! Two CAs are made: the TSA's own (`ca.pem`, which signs `tsa.pem`), and a stranger's whose
//! timestamping certificate answers in [`TsaMode::UntrustedSigner`].

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use x509_tsp::TimeStampReq;

/// How the TSA answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsaMode {
    /// A granted, correct token.
    Good,
    /// Accepts the connection, then closes it without an answer.
    Down,
    /// A correct token, after longer than the client's 3 s bound.
    Slow,
    /// HTTP 200 with a `TimeStampResp` whose status is `rejection`.
    BadStatus,
    /// HTTP 500.
    HttpError,
    /// A token for another nonce (the imprint is right).
    WrongNonce,
    /// A token for another imprint (the nonce is right).
    WrongImprint,
    /// A correct token, signed by a timestamping certificate of another CA.
    UntrustedSigner,
}

/// The key the TSA signs with, and how its CA signs its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsaKey {
    /// RSA 2048, certificate signed with PKCS#1 v1.5.
    Rsa,
    /// RSA 2048, certificate signed with RSASSA-PSS (SHA-256, salt 32).
    RsaCertSignedWithPss,
    /// ECDSA P-256 (its CA too).
    EcdsaP256,
}

/// How long [`TsaMode::Slow`] waits before it answers.
pub const SLOW_DELAY: Duration = Duration::from_secs(4);

pub struct LoopbackTsa {
    pub url: String,
    dir: tempfile::TempDir,
    mode: Arc<Mutex<TsaMode>>,
    requests: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a TSA file");
}

/// A CA (`<prefix>ca.pem`) and its TSA certificate (`<prefix>tsa.pem`, key `<prefix>tsa.key`).
fn make_certificates(dir: &Path, prefix: &str, key: TsaKey) {
    let new_key = |name: &str| match key {
        TsaKey::EcdsaP256 => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        ),
        _ => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                name,
            ],
        ),
    };
    let ca_key = format!("{prefix}ca.key");
    let ca = format!("{prefix}ca.pem");
    let tsa_key = format!("{prefix}tsa.key");
    let tsa = format!("{prefix}tsa.pem");
    let csr = format!("{prefix}tsa.csr");
    new_key(&ca_key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "3650",
            "-sha256",
            "-subj",
            &format!("/CN=biosign test {prefix}TSA CA"),
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    new_key(&tsa_key);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &tsa_key,
            "-out",
            &csr,
            "-subj",
            &format!("/O=biosign tests/CN={prefix}tsa.test"),
        ],
    );
    write(
        dir,
        "tsa-ext.cnf",
        "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n",
    );
    let mut sign = vec![
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &tsa,
        "-days",
        "3650",
        "-sha256",
        "-extfile",
        "tsa-ext.cnf",
    ];
    if key == TsaKey::RsaCertSignedWithPss {
        sign.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    openssl(dir, &sign);
}

impl LoopbackTsa {
    /// A TSA with an RSA key, answering [`TsaMode::Good`].
    pub async fn start() -> Self {
        Self::start_with(TsaKey::Rsa).await
    }

    pub async fn start_with(key: TsaKey) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        make_certificates(dir.path(), "", key);
        make_certificates(dir.path(), "other-", TsaKey::Rsa);
        write(dir.path(), "serial", "01\n");
        write(
            dir.path(),
            "tsa.cnf",
            &format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\n\
                 serial = {}/serial\ncrypto_device = builtin\nsigner_digest = sha256\n\
                 default_policy = 1.3.6.1.4.1.55555.1\ndigests = sha256, sha384, sha512\n\
                 accuracy = secs:1\nclock_precision_digits = 3\nordering = no\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir.path().display()
            ),
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}/tsr", listener.local_addr().expect("bound"));
        let mode = Arc::new(Mutex::new(TsaMode::Good));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let handler = Handler {
            dir: dir.path().to_owned(),
            mode: Arc::clone(&mode),
            requests: Arc::clone(&requests),
            openssl_lock: Arc::new(tokio::sync::Mutex::new(())),
        };
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let handler = handler.clone();
                if handler.mode() == TsaMode::Down {
                    drop(stream);
                    continue;
                }
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            dir,
            mode,
            requests,
            _stop: stop,
        }
    }

    pub fn set_mode(&self, mode: TsaMode) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    /// How many HTTP requests reached the handler.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The CA that issued the TSA's certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The TSA's own (signing) certificate.
    pub fn signer_pem(&self) -> PathBuf {
        self.dir.path().join("tsa.pem")
    }

    /// The stranger CA, whose TSA answers in [`TsaMode::UntrustedSigner`].
    pub fn other_ca_pem(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// `openssl ts -verify` of a `TimeStampResp` for the hex `digest`, against the TSA's CA.
    pub fn openssl_verify(&self, response_der: &[u8], digest_hex: &str) -> Result<(), String> {
        let path = self
            .dir
            .path()
            .join(format!("verify-{}.tsr", uuid::Uuid::new_v4()));
        std::fs::write(&path, response_der).map_err(|e| e.to_string())?;
        let output = Command::new("openssl")
            .args(["ts", "-verify", "-digest", digest_hex, "-in"])
            .arg(&path)
            .arg("-CAfile")
            .arg(self.ca_pem())
            .arg("-untrusted")
            .arg(self.signer_pem())
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && stdout.contains("Verification: OK") {
            Ok(())
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// An `http://127.0.0.1:PORT/` where nothing listens.
pub fn unused_loopback_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/tsr")
}

#[derive(Clone)]
struct Handler {
    dir: PathBuf,
    mode: Arc<Mutex<TsaMode>>,
    requests: Arc<AtomicUsize>,
    /// `openssl ts -reply` increments one serial file.
    openssl_lock: Arc<tokio::sync::Mutex<()>>,
}

fn reply(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/timestamp-reply"),
    );
    response
}

impl Handler {
    fn mode(&self) -> TsaMode {
        *self.mode.lock().expect("mode lock")
    }

    async fn answer(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let is_query = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v| v == "application/timestamp-query");
        if request.method() != hyper::Method::POST || !is_query {
            return reply(415, Vec::new());
        }
        let query = match request.into_body().collect().await {
            Ok(body) => body.to_bytes().to_vec(),
            Err(_) => return reply(400, Vec::new()),
        };
        let mode = self.mode();
        match mode {
            TsaMode::HttpError => return reply(500, Vec::new()),
            TsaMode::BadStatus => {
                // TimeStampResp { status { rejection(2), statusString { "test TSA refuses" } } }
                let text = b"test TSA refuses";
                let mut der = vec![
                    0x30, 0x19, 0x30, 0x17, 0x02, 0x01, 0x02, 0x30, 0x12, 0x0c, 0x10,
                ];
                der.extend_from_slice(text);
                return reply(200, der);
            }
            TsaMode::Slow => tokio::time::sleep(SLOW_DELAY).await,
            _ => {}
        }
        let query = match mode {
            TsaMode::WrongNonce => altered(&query, |q| {
                q.nonce = Some(Int::new(&[0x5a, 0x5a, 0x5a, 0x5a]).expect("an integer"));
            }),
            TsaMode::WrongImprint => altered(&query, |q| {
                q.message_imprint.hashed_message =
                    OctetString::new(vec![0xee; 32]).expect("an octet string");
            }),
            _ => query,
        };
        let prefix = if mode == TsaMode::UntrustedSigner {
            "other-"
        } else {
            ""
        };
        match self.openssl_reply(&query, prefix).await {
            Ok(der) => reply(200, der),
            Err(_) => reply(400, Vec::new()),
        }
    }

    async fn openssl_reply(&self, query: &[u8], prefix: &str) -> Result<Vec<u8>, String> {
        let _one_at_a_time = self.openssl_lock.lock().await;
        let id = uuid::Uuid::new_v4();
        let query_path = self.dir.join(format!("{id}.tsq"));
        let reply_path = self.dir.join(format!("{id}.tsr"));
        std::fs::write(&query_path, query).map_err(|e| e.to_string())?;
        let output = tokio::process::Command::new("openssl")
            .args(["ts", "-reply", "-config", "tsa.cnf", "-queryfile"])
            .arg(&query_path)
            .args([
                "-signer",
                &format!("{prefix}tsa.pem"),
                "-inkey",
                &format!("{prefix}tsa.key"),
            ])
            .args(["-chain", &format!("{prefix}ca.pem"), "-out"])
            .arg(&reply_path)
            .current_dir(&self.dir)
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        std::fs::read(&reply_path).map_err(|e| e.to_string())
    }
}

/// The query re-encoded after `change`.
fn altered(query: &[u8], change: impl FnOnce(&mut TimeStampReq)) -> Vec<u8> {
    match TimeStampReq::from_der(query) {
        Ok(mut parsed) => {
            change(&mut parsed);
            parsed.to_der().unwrap_or_else(|_| query.to_vec())
        }
        Err(_) => query.to_vec(),
    }
}
