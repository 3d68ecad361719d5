//! Metrics without a sidecar: every request a handler answers writes one line on stdout in
//! CloudWatch's embedded metric format (EMF). In Lambda, stdout is the function's log stream, and
//! CloudWatch Logs turns each such line into metric values in the `Biosign` namespace; no agent,
//! no API call, nothing on the request's critical path but formatting one short line.
//!
//! The line is a JSON object of its own, never a field of a `tracing` event: EMF requires the log
//! event itself to be the object (nothing before or after it). Lambda passes lines that are
//! already JSON through unchanged, whatever the function's log format.
//!
//! One line carries every metric of the request, under the dimension `Function` (the deployed
//! function's name, the same value as `AWS/Lambda`'s `FunctionName`), and `Refused` or `Failed`
//! once more under `Function` and `ErrorCode` (the contract's title, e.g. `CONFLICT`): at most
//! eight codes per function, so the number of metrics stays small and fixed. Sign ids, org ids,
//! request ids and anything a client sent are never dimensions. The request id and a valid sign
//! id go on the line as plain properties, for finding the request's log line; tokens, biometric
//! data, images, fingerprints, installation ids, locations and org ids never do.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

use crate::error::ErrorKind;
use crate::ids::SignId;
use crate::route::Route;
use crate::service::SignOutcome;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Biosign";

/// Set by Lambda in every function's environment.
pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// Where the lines go, once [`init`] has decided; unset (a test in process, or the tool's other
/// commands), nothing is written.
static SINK: OnceLock<Sink> = OnceLock::new();

/// Decides once per process whether metric lines are written (see [`Sink::from_env`]).
pub fn init(lookup: &impl Fn(&str) -> Option<String>) {
    if let Some(sink) = Sink::from_env(lookup) {
        // A second call keeps the first decision.
        let _ = SINK.set(sink);
    }
}

/// Writes the metric line of `invocation`, if this process writes metrics.
pub fn record(invocation: &Invocation<'_>) {
    let Some(sink) = SINK.get() else {
        return;
    };
    if let Some(line) = sink.line(invocation, crate::time::now().timestamp_millis()) {
        // One write of the whole line under stdout's lock: it cannot interleave with a log line.
        // A closed stdout loses the metric, as it loses the logs.
        let _ = std::io::stdout().lock().write_all(&line);
    }
}

/// What one request did, as the metrics see it.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub route: Route,
    pub status: u16,
    /// The error answered, if any.
    pub error: Option<ErrorKind>,
    /// What a signature request did, when it got that far.
    pub signed: Option<SignOutcome>,
    pub duration: Duration,
    pub request_id: &'a str,
    /// Only once valid: a raw path parameter may be anything the client sent.
    pub sign_id: Option<&'a SignId>,
}

/// How this process names itself in the `Function` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// Lambda's `AWS_LAMBDA_FUNCTION_NAME`; `None` (`biosign serve`): the name of the function
    /// that serves the request's route in a deployment (`get-sign`, `preview-sign`,
    /// `submit-sign`).
    deployed_name: Option<String>,
}

impl Sink {
    /// A Lambda function always writes metrics (`AWS_LAMBDA_FUNCTION_NAME` is set); any other
    /// process (`biosign serve`) only when its logs are JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`), the
    /// form meant for machines: a person reading text logs gets no metric lines between them.
    pub fn from_env(lookup: &impl Fn(&str) -> Option<String>) -> Option<Self> {
        match lookup(FUNCTION_NAME).filter(|name| !name.trim().is_empty()) {
            Some(name) => Some(Self::deployed(name.trim())),
            None if crate::logging::json(lookup) => Some(Self::local()),
            None => None,
        }
    }

    /// A deployed function's sink.
    pub fn deployed(name: &str) -> Self {
        Self {
            deployed_name: Some(name.to_owned()),
        }
    }

    /// `biosign serve`'s sink: one process serving every route.
    pub fn local() -> Self {
        Self {
            deployed_name: None,
        }
    }

    /// The EMF line (a JSON object and `\n`) of `invocation` at `timestamp_ms` (milliseconds
    /// since the Unix epoch); `None` only if serialization fails, which it does not for these
    /// types.
    pub fn line(&self, invocation: &Invocation<'_>, timestamp_ms: i64) -> Option<Vec<u8>> {
        let sign_route = invocation.route == Route::Sign;
        let refused = invocation.error.is_some_and(|e| e.status < 500);
        let failed = invocation.error.is_some_and(|e| e.status >= 500);
        let by_function = Directive {
            namespace: NAMESPACE,
            dimensions: &[&["Function"]],
            metrics: if sign_route {
                &SIGN_METRICS
            } else {
                &SIGN_METRICS[..COMMON_METRICS]
            },
        };
        let by_code = Directive {
            namespace: NAMESPACE,
            dimensions: &[&["Function", "ErrorCode"]],
            metrics: if failed { &FAILED_ONLY } else { &REFUSED_ONLY },
        };
        let directives = [by_function, by_code];
        let count = |yes: bool| u8::from(yes);
        let document = Document {
            aws: Metadata {
                timestamp: timestamp_ms,
                cloud_watch_metrics: if invocation.error.is_some() {
                    &directives
                } else {
                    &directives[..1]
                },
            },
            function: self
                .deployed_name
                .as_deref()
                .unwrap_or_else(|| function_of(invocation.route)),
            error_code: invocation.error.map(|e| e.title),
            duration: invocation.duration.as_secs_f64() * 1000.0,
            refused: count(refused),
            conflicts: count(invocation.status == 409),
            failed: count(failed),
            signs_accepted: sign_route.then(|| {
                count(matches!(
                    invocation.signed,
                    Some(SignOutcome::Signed | SignOutcome::SignedTimestampPending)
                ))
            }),
            timestamps_pending: sign_route
                .then(|| count(invocation.signed == Some(SignOutcome::SignedTimestampPending))),
            status: invocation.status,
            request_id: invocation.request_id,
            sign_id: invocation.sign_id.map(SignId::as_str),
        };
        // Room for the longest line (about 850 bytes): one allocation per request.
        let mut line = Vec::with_capacity(1024);
        serde_json::to_writer(&mut line, &document).ok()?;
        line.push(b'\n');
        Some(line)
    }
}

/// The function that serves `route` in a deployment (its crate's and binary's name).
pub fn function_of(route: Route) -> &'static str {
    match route {
        Route::GetSign => "get-sign",
        Route::Preview => "preview-sign",
        Route::Sign => "submit-sign",
    }
}

const COUNT: &str = "Count";
const REFUSED: MetricDefinition = MetricDefinition {
    name: "Refused",
    unit: COUNT,
};
const FAILED: MetricDefinition = MetricDefinition {
    name: "Failed",
    unit: COUNT,
};
static REFUSED_ONLY: [MetricDefinition; 1] = [REFUSED];
static FAILED_ONLY: [MetricDefinition; 1] = [FAILED];
/// How many of [`SIGN_METRICS`] every route has; the rest are the sign route's own.
const COMMON_METRICS: usize = 4;
static SIGN_METRICS: [MetricDefinition; 6] = [
    MetricDefinition {
        name: "Duration",
        unit: "Milliseconds",
    },
    REFUSED,
    MetricDefinition {
        name: "Conflicts",
        unit: COUNT,
    },
    FAILED,
    MetricDefinition {
        name: "SignsAccepted",
        unit: COUNT,
    },
    MetricDefinition {
        name: "TimestampsPending",
        unit: COUNT,
    },
];

/// An EMF document: the `_aws` metadata, the dimension values, the metric values (each a member
/// a directive names), and plain properties. The member names are the metric and dimension
/// names.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    #[serde(rename = "Function")]
    function: &'a str,
    #[serde(rename = "ErrorCode", skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(rename = "Duration")]
    duration: f64,
    #[serde(rename = "Refused")]
    refused: u8,
    #[serde(rename = "Conflicts")]
    conflicts: u8,
    #[serde(rename = "Failed")]
    failed: u8,
    #[serde(rename = "SignsAccepted", skip_serializing_if = "Option::is_none")]
    signs_accepted: Option<u8>,
    #[serde(rename = "TimestampsPending", skip_serializing_if = "Option::is_none")]
    timestamps_pending: Option<u8>,
    #[serde(rename = "Status")]
    status: u16,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
    #[serde(rename = "SignId", skip_serializing_if = "Option::is_none")]
    sign_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    cloud_watch_metrics: &'a [Directive],
}

#[derive(Serialize)]
struct Directive {
    #[serde(rename = "Namespace")]
    namespace: &'static str,
    #[serde(rename = "Dimensions")]
    dimensions: &'static [&'static [&'static str]],
    #[serde(rename = "Metrics")]
    metrics: &'static [MetricDefinition],
}

#[derive(Clone, Copy, Serialize)]
struct MetricDefinition {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Unit")]
    unit: &'static str,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const SIGN_ID: &str = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
    const AT: i64 = 1_795_000_000_123;

    fn invocation(
        route: Route,
        status: u16,
        error: Option<ErrorKind>,
        signed: Option<SignOutcome>,
    ) -> Invocation<'static> {
        static SIGN: std::sync::LazyLock<SignId> =
            std::sync::LazyLock::new(|| SignId::parse(SIGN_ID).unwrap());
        Invocation {
            route,
            status,
            error,
            signed,
            duration: Duration::from_micros(12_500),
            request_id: "gw-request-1",
            sign_id: Some(&SIGN),
        }
    }

    fn document(sink: &Sink, invocation: &Invocation<'_>) -> Value {
        let line = sink.line(invocation, AT).unwrap();
        assert_eq!(line.last(), Some(&b'\n'), "a whole line");
        assert_eq!(
            line.iter().filter(|b| **b == b'\n').count(),
            1,
            "exactly one line"
        );
        serde_json::from_slice(&line).unwrap()
    }

    fn directive(dimensions: Value, metrics: &[(&str, &str)]) -> Value {
        let metrics: Vec<Value> = metrics
            .iter()
            .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        json!({"Namespace": "Biosign", "Dimensions": dimensions, "Metrics": metrics})
    }

    const COMMON: [(&str, &str); 4] = [
        ("Duration", "Milliseconds"),
        ("Refused", "Count"),
        ("Conflicts", "Count"),
        ("Failed", "Count"),
    ];
    const SIGN: [(&str, &str); 6] = [
        COMMON[0],
        COMMON[1],
        COMMON[2],
        COMMON[3],
        ("SignsAccepted", "Count"),
        ("TimestampsPending", "Count"),
    ];

    #[test]
    fn an_accepted_signature_is_one_document_with_every_metric_under_the_function() {
        let sink = Sink::deployed("biosign-SubmitSignFunction-Ab12");
        let got = document(
            &sink,
            &invocation(Route::Sign, 204, None, Some(SignOutcome::Signed)),
        );
        assert_eq!(
            got,
            json!({
                "_aws": {
                    "Timestamp": AT,
                    "CloudWatchMetrics": [directive(json!([["Function"]]), &SIGN)],
                },
                "Function": "biosign-SubmitSignFunction-Ab12",
                "Duration": 12.5,
                "Refused": 0,
                "Conflicts": 0,
                "Failed": 0,
                "SignsAccepted": 1,
                "TimestampsPending": 0,
                "Status": 204,
                "RequestId": "gw-request-1",
                "SignId": SIGN_ID,
            })
        );
    }

    #[test]
    fn a_refusal_is_counted_again_under_its_error_code() {
        let sink = Sink::deployed("sign-fn");
        let got = document(
            &sink,
            &invocation(
                Route::Sign,
                422,
                Some(ErrorKind::UNPROCESSABLE_ENTITY),
                None,
            ),
        );
        assert_eq!(
            got["_aws"]["CloudWatchMetrics"],
            json!([
                directive(json!([["Function"]]), &SIGN),
                directive(json!([["Function", "ErrorCode"]]), &[("Refused", "Count")]),
            ])
        );
        assert_eq!(got["ErrorCode"], "UNPROCESSABLE_ENTITY");
        assert_eq!(
            (
                &got["Refused"],
                &got["Conflicts"],
                &got["Failed"],
                &got["SignsAccepted"],
                &got["TimestampsPending"],
                &got["Status"]
            ),
            (
                &json!(1),
                &json!(0),
                &json!(0),
                &json!(0),
                &json!(0),
                &json!(422)
            )
        );
    }

    #[test]
    fn a_conflict_is_a_refusal_and_a_conflict() {
        let sink = Sink::deployed("preview-fn");
        let got = document(
            &sink,
            &invocation(Route::Preview, 409, Some(ErrorKind::CONFLICT), None),
        );
        assert_eq!(
            got["_aws"]["CloudWatchMetrics"],
            json!([
                directive(json!([["Function"]]), &COMMON),
                directive(json!([["Function", "ErrorCode"]]), &[("Refused", "Count")]),
            ])
        );
        assert_eq!(
            (
                &got["ErrorCode"],
                &got["Refused"],
                &got["Conflicts"],
                &got["Failed"]
            ),
            (&json!("CONFLICT"), &json!(1), &json!(1), &json!(0))
        );
        // The sign route's own metrics are not on the other functions' lines.
        assert!(got.get("SignsAccepted").is_none(), "{got}");
        assert!(got.get("TimestampsPending").is_none(), "{got}");
    }

    #[test]
    fn an_internal_error_is_a_failure_not_a_refusal() {
        let got = document(
            &Sink::deployed("get-fn"),
            &invocation(
                Route::GetSign,
                500,
                Some(ErrorKind::INTERNAL_SERVER_ERROR),
                None,
            ),
        );
        assert_eq!(
            got["_aws"]["CloudWatchMetrics"][1],
            directive(json!([["Function", "ErrorCode"]]), &[("Failed", "Count")])
        );
        assert_eq!(
            (&got["ErrorCode"], &got["Refused"], &got["Failed"]),
            (&json!("INTERNAL_SERVER_ERROR"), &json!(0), &json!(1))
        );
    }

    #[test]
    fn a_signature_stored_without_its_timestamp_is_pending_and_a_retry_accepts_nothing() {
        let sink = Sink::deployed("sign-fn");
        let pending = document(
            &sink,
            &invocation(
                Route::Sign,
                204,
                None,
                Some(SignOutcome::SignedTimestampPending),
            ),
        );
        assert_eq!(
            (&pending["SignsAccepted"], &pending["TimestampsPending"]),
            (&json!(1), &json!(1))
        );
        let retry = document(
            &sink,
            &invocation(Route::Sign, 204, None, Some(SignOutcome::AlreadySigned)),
        );
        assert_eq!(
            (&retry["SignsAccepted"], &retry["TimestampsPending"]),
            (&json!(0), &json!(0))
        );
    }

    #[test]
    fn every_member_a_directive_names_is_on_the_line() {
        // EMF drops a document whose directive names a member the root lacks.
        let cases = [
            invocation(Route::GetSign, 200, None, None),
            invocation(Route::Preview, 401, Some(ErrorKind::UNAUTHORIZED), None),
            invocation(Route::Sign, 204, None, Some(SignOutcome::Signed)),
            invocation(Route::Sign, 410, Some(ErrorKind::NO_LONGER_AVAILABLE), None),
        ];
        for case in &cases {
            let got = document(&Sink::local(), case);
            for directive in got["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for set in directive["Dimensions"].as_array().unwrap() {
                    for name in set.as_array().unwrap() {
                        assert!(got[name.as_str().unwrap()].is_string(), "{name}: {got}");
                    }
                }
                for metric in directive["Metrics"].as_array().unwrap() {
                    assert!(got[metric["Name"].as_str().unwrap()].is_number(), "{got}");
                }
            }
        }
    }

    #[test]
    fn serve_names_each_route_by_the_function_that_serves_it_in_a_deployment() {
        let names: Vec<Value> = Route::ALL
            .iter()
            .map(|route| document(&Sink::local(), &invocation(*route, 200, None, None)))
            .map(|got| got["Function"].clone())
            .collect();
        assert_eq!(names, ["get-sign", "preview-sign", "submit-sign"]);
    }

    #[test]
    fn an_invalid_sign_id_is_left_out() {
        let mut case = invocation(Route::GetSign, 400, Some(ErrorKind::PARAMETER_ERROR), None);
        case.sign_id = None;
        let got = document(&Sink::local(), &case);
        assert!(got.get("SignId").is_none(), "{got}");
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn functions_always_write_metrics_and_serve_only_with_json_logs() {
        assert_eq!(
            Sink::from_env(&env(&[(FUNCTION_NAME, "biosign-GetSign-1")])),
            Some(Sink::deployed("biosign-GetSign-1"))
        );
        assert_eq!(
            Sink::from_env(&env(&[
                (FUNCTION_NAME, "biosign-GetSign-1"),
                (crate::logging::LOG_FORMAT, "Text")
            ])),
            Some(Sink::deployed("biosign-GetSign-1"))
        );
        assert_eq!(
            Sink::from_env(&env(&[(crate::logging::LOG_FORMAT, "JSON")])),
            Some(Sink::local())
        );
        assert_eq!(Sink::from_env(&env(&[])), None);
        assert_eq!(
            Sink::from_env(&env(&[(FUNCTION_NAME, " ")])),
            None,
            "an empty name is no name"
        );
    }
}
