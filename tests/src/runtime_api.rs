//! A function binary run as Lambda runs it, with this process playing the Lambda service.
//!
//! [`LocalFunction::start`] serves the Lambda Runtime API (2018-06-01) on a free loopback port and
//! starts the binary with `AWS_LAMBDA_RUNTIME_API` pointing at it. [`LocalFunction::invoke`] hands
//! the function one event on `/runtime/invocation/next` and waits for what it posts back, within
//! a deadline; if the process exits first, it says so at once. Every failure carries what the
//! function printed, so a failing test or benchmark shows why.
//!
//! Used by the functions' own tests (their real `main`, against DynamoDB and S3 in moto) and by
//! the cold-start benchmark.

use std::convert::Infallible;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended, as the function reported it to the Runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST …/invocation/{id}/response`: the body is the function's result (for an HTTP
    /// function, the API Gateway proxy response as JSON).
    Response(String),
    /// `POST …/invocation/{id}/error`: the function reported a failure.
    Error(String),
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub outcome: Outcome,
    /// When the function's answer reached the Runtime API.
    pub answered_at: Instant,
}

/// Why an invocation did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The function reported an init error (`POST …/init/error`) before taking the event.
    Init(String),
    /// The process exited before answering.
    Exited(String),
    /// No answer within the deadline.
    Timeout(Duration),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Init(body) => write!(f, "the function reported an init error: {body}"),
            Self::Exited(status) => write!(f, "the function exited before answering ({status})"),
            Self::Timeout(limit) => write!(f, "the function did not answer within {limit:?}"),
        }
    }
}

/// What the Runtime API forwards from the function to the waiting [`LocalFunction::invoke`].
enum Report {
    Answer(String, Outcome, Instant),
    InitError(String),
}

/// A request id and the event to hand out on the next `/invocation/next`.
type Pending = (String, String);

struct RuntimeApi {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    reports: mpsc::UnboundedSender<Report>,
    function_name: String,
}

impl RuntimeApi {
    async fn serve(
        self: Arc<Self>,
        request: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let Some(route) = path.strip_prefix(PREFIX) else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        if method == Method::GET && route == "/invocation/next" {
            // Long-polls, as Lambda does, until there is an event to hand out.
            let next = self.events.lock().await.recv().await;
            let Some((id, event)) = next else {
                return Ok(status(StatusCode::GONE));
            };
            return Ok(self.event(&id, event));
        }
        let at = Instant::now();
        let body = match request.into_body().collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
        };
        let report = if method != Method::POST {
            None
        } else if route == "/init/error" {
            Some(Report::InitError(body))
        } else if let Some(rest) = route.strip_prefix("/invocation/") {
            match rest.split_once('/') {
                Some((id, "response")) => {
                    Some(Report::Answer(id.to_owned(), Outcome::Response(body), at))
                }
                Some((id, "error")) => {
                    Some(Report::Answer(id.to_owned(), Outcome::Error(body), at))
                }
                _ => None,
            }
        } else {
            None
        };
        match report {
            Some(report) => {
                let _ = self.reports.send(report);
                Ok(status(StatusCode::ACCEPTED))
            }
            None => Ok(status(StatusCode::NOT_FOUND)),
        }
    }

    fn event(&self, id: &str, event: String) -> Response<Full<Bytes>> {
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + Duration::from_secs(30);
        Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", id)
            .header(
                "Lambda-Runtime-Deadline-Ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                format!(
                    "arn:aws:lambda:us-east-1:123456789012:function:{}",
                    self.function_name
                ),
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from(event)))
            .expect("a valid response")
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// A function binary running against this process's Runtime API. Killed when dropped.
pub struct LocalFunction {
    child: Child,
    started: Instant,
    events: mpsc::UnboundedSender<Pending>,
    reports: mpsc::UnboundedReceiver<Report>,
    output: Arc<Mutex<Vec<u8>>>,
    server: JoinHandle<()>,
    /// Copy the process's stdout and stderr into `output`, until they close.
    collectors: Vec<JoinHandle<()>>,
    invocations: u64,
    exited: Option<String>,
    address: SocketAddr,
}

impl LocalFunction {
    /// Starts `binary` with only `env` and the variables Lambda sets (`AWS_LAMBDA_RUNTIME_API`,
    /// `AWS_LAMBDA_FUNCTION_NAME`, …) in its environment. Its output is kept for
    /// [`output`](Self::output).
    pub async fn start<K, V>(
        binary: &Path,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> std::io::Result<Self>
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::spawn(binary, &[], env).await
    }

    async fn spawn<K, V>(
        binary: &Path,
        args: &[&str],
        env: impl IntoIterator<Item = (K, V)>,
    ) -> std::io::Result<Self>
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let function_name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let api = Arc::new(RuntimeApi {
            events: tokio::sync::Mutex::new(events_rx),
            reports: reports_tx,
            function_name: function_name.clone(),
        });
        let server = tokio::spawn(accept(listener, api));
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(args)
            .env_clear()
            .envs(env)
            .envs(lambda_environment(address, &function_name))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut collectors = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            collectors.push(tokio::spawn(collect(stdout, Arc::clone(&output))));
        }
        if let Some(stderr) = child.stderr.take() {
            collectors.push(tokio::spawn(collect(stderr, Arc::clone(&output))));
        }
        Ok(Self {
            child,
            started,
            events: events_tx,
            reports: reports_rx,
            output,
            server,
            collectors,
            invocations: 0,
            exited: None,
            address,
        })
    }

    /// When the process was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Where the Runtime API listens (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> SocketAddr {
        self.address
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the function has printed so far (stdout and stderr, interleaved as they arrived).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned()
    }

    /// Hands the function `event` and waits up to `limit` for its answer.
    pub async fn invoke(
        &mut self,
        event: &str,
        limit: Duration,
    ) -> Result<Invocation, InvokeError> {
        if let Some(status) = &self.exited {
            return Err(InvokeError::Exited(status.clone()));
        }
        self.invocations += 1;
        let id = format!("local-{}", self.invocations);
        // The receiver lives in the Runtime API task, which lives as long as `self`.
        let _ = self.events.send((id.clone(), event.to_owned()));
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                // Should the Runtime API ever stop, this branch is disabled and the others decide.
                Some(report) = self.reports.recv() => match report {
                    Report::Answer(answered, outcome, answered_at) if answered == id => {
                        return Ok(Invocation { outcome, answered_at });
                    }
                    // An answer to an earlier, abandoned invocation.
                    Report::Answer(..) => {}
                    Report::InitError(body) => return Err(InvokeError::Init(body)),
                },
                status = self.child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    self.exited = Some(status.clone());
                    // Its last words may still be in the pipes: let the collectors reach the end.
                    for collector in self.collectors.drain(..) {
                        let _ = tokio::time::timeout(Duration::from_secs(1), collector).await;
                    }
                    return Err(InvokeError::Exited(status));
                }
                () = &mut deadline => return Err(InvokeError::Timeout(limit)),
            }
        }
    }

    /// As [`invoke`](Self::invoke), for tests: the function's `Response` body, or a panic that
    /// says what went wrong and shows what the function printed.
    pub async fn expect_response(&mut self, event: &str, limit: Duration) -> String {
        match self.invoke(event, limit).await {
            Ok(Invocation {
                outcome: Outcome::Response(body),
                ..
            }) => body,
            Ok(Invocation {
                outcome: Outcome::Error(body),
                ..
            }) => panic!(
                "the function reported an error: {body}\n--- its output ---\n{}",
                self.output()
            ),
            Err(e) => panic!("{e}\n--- its output ---\n{}", self.output()),
        }
    }
}

impl Drop for LocalFunction {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
        for collector in &self.collectors {
            collector.abort();
        }
    }
}

/// The variables Lambda sets for every function (the configured memory is the functions' own).
fn lambda_environment(address: SocketAddr, name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", address.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
    ]
}

async fn accept(listener: TcpListener, api: Arc<RuntimeApi>) {
    while let Ok((stream, _)) = listener.accept().await {
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            let service = service_fn(move |request| Arc::clone(&api).serve(request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn collect(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 8192];
    while let Ok(read @ 1..) = pipe.read(&mut buffer).await {
        into.lock()
            .expect("output lock")
            .extend_from_slice(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// One HTTP/1.1 exchange with the Runtime API, as a function's runtime client makes it.
    async fn exchange(address: SocketAddr, method: &str, path: &str, body: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "{method} {PREFIX}{path} HTTP/1.1\r\nhost: runtime\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    fn header<'a>(response: &'a str, name: &str) -> &'a str {
        response
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(": ")?;
                key.eq_ignore_ascii_case(name).then_some(value.trim())
            })
            .unwrap_or_else(|| panic!("no {name} in {response}"))
    }

    const NO_ENV: [(&str, &str); 0] = [];

    /// A process that never talks to the Runtime API: the test plays its runtime client.
    async fn idle_function() -> LocalFunction {
        LocalFunction::spawn(Path::new("/bin/sleep"), &["60"], NO_ENV)
            .await
            .expect("start /bin/sleep")
    }

    #[tokio::test]
    async fn hands_out_the_event_and_returns_the_answer_to_it() {
        let mut function = idle_function().await;
        let address = function.runtime_api();
        let client = tokio::spawn(async move {
            let next = exchange(address, "GET", "/invocation/next", "").await;
            assert!(next.starts_with("HTTP/1.1 200"), "{next}");
            assert!(next.ends_with("{\"event\":1}"), "{next}");
            let id = header(&next, "lambda-runtime-aws-request-id").to_owned();
            let deadline: u128 = header(&next, "lambda-runtime-deadline-ms").parse().unwrap();
            assert!(
                deadline
                    > SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
            );
            // An answer for another request id is not this invocation's.
            exchange(address, "POST", "/invocation/other/response", "no").await;
            let posted = exchange(
                address,
                "POST",
                &format!("/invocation/{id}/response"),
                "yes",
            )
            .await;
            assert!(posted.starts_with("HTTP/1.1 202"), "{posted}");
        });
        let invocation = function
            .invoke("{\"event\":1}", Duration::from_secs(20))
            .await
            .expect("an answer");
        assert_eq!(invocation.outcome, Outcome::Response("yes".into()));
        client.await.unwrap();
    }

    #[tokio::test]
    async fn reports_errors_the_function_posts() {
        let mut function = idle_function().await;
        let address = function.runtime_api();
        tokio::spawn(async move {
            let next = exchange(address, "GET", "/invocation/next", "").await;
            let id = header(&next, "lambda-runtime-aws-request-id").to_owned();
            exchange(address, "POST", &format!("/invocation/{id}/error"), "boom").await;
        });
        let invocation = function
            .invoke("{}", Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(invocation.outcome, Outcome::Error("boom".into()));

        let mut function = idle_function().await;
        let address = function.runtime_api();
        tokio::spawn(async move { exchange(address, "POST", "/init/error", "no config").await });
        let error = function
            .invoke("{}", Duration::from_secs(20))
            .await
            .unwrap_err();
        assert_eq!(error, InvokeError::Init("no config".into()));
    }

    #[tokio::test]
    async fn an_exit_or_a_silence_ends_the_wait_with_what_the_function_printed() {
        let mut exits = LocalFunction::start(Path::new("/bin/ls"), NO_ENV)
            .await
            .unwrap();
        // `ls` of the working directory prints something, then exits without answering.
        let error = exits
            .invoke("{}", Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, InvokeError::Exited(status) if status.contains('0')),
            "{error}"
        );
        assert_eq!(
            exits
                .invoke("{}", Duration::from_secs(20))
                .await
                .unwrap_err(),
            error,
            "an exited function stays exited"
        );
        assert!(!exits.output().is_empty(), "what ls printed was not kept");

        let mut silent = idle_function().await;
        let started = Instant::now();
        let error = silent
            .invoke("{}", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(error, InvokeError::Timeout(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
