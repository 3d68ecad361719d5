//! Faults on the wire (issue 14): the service on DynamoDB + S3 in moto, with a fault proxy between
//! its AWS clients and moto. Every AWS call that each function makes, under every fault the proxy
//! injects, must keep these invariants:
//! - a SIGNED record's blobs exist, byte-exact;
//! - the evidence chain verifies;
//! - a client that retries the same request until it gets a non-5xx answer ends with success,
//!   and every 5xx on the way has the contract's error body;
//! - a different signature is never accepted after a success;
//! - no stray blob (written, not referenced) is kept silently: `sweep-orphans` lists every one,
//!   and removes them, every version, without touching a referenced blob.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use biosign_e2e::fault_proxy::{Answer, Exchange, Fault, FaultProxy, Rule};
use biosign_e2e::wire::{AwsStores, wire_moto_url};
use biosign_e2e::{AwsEnv, Reply, Signature};
use biosign_shared::aws;
use biosign_shared::evidence::EventType;
use biosign_shared::model::{BlobKeys, StoredStatus};
use biosign_shared::store::s3::S3BlobStore;
use biosign_shared::store::{BlobStore, SignReader};
use sha2::{Digest, Sha256};

const TWI: &str = "TransactWriteItems";

/// How often a client sends a request that keeps failing with a 5xx. Besides the injected
/// faults, a starved moto on a busy machine can make calls run out of time.
const MAX_REQUESTS: usize = 10;

/// How often a scenario whose fault did not fire is run again: on a busy machine a call can run
/// out of time and take the request down another path than the baseline's.
const MAX_RUNS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Get,
    Preview,
    Sign,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::Get => "get",
            Function::Preview => "preview",
            Function::Sign => "sign",
        }
    }

    fn success(self) -> u16 {
        match self {
            Function::Get => 200,
            Function::Preview | Function::Sign => 204,
        }
    }
}

/// Faults that put a call on a failure path, so that the calls only that path makes can be
/// faulted in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Clean,
    /// Every commit is refused with a 500: the sign fails and removes its blobs.
    CommitRefused,
    /// The first commit is carried out and its answer replaced by a 500: the ambiguous case.
    CommitAnswerLost,
    /// Every commit reaches the table only after the SDK gave up on it: the service sees a
    /// timeout, and the sign becomes SIGNED a moment later.
    CommitDeliveredLate,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Clean => "",
            Path::CommitRefused => "commit refused",
            Path::CommitAnswerLost => "commit answer lost",
            Path::CommitDeliveredLate => "commit delivered late",
        }
    }

    fn rules(self) -> Vec<Rule> {
        match self {
            Path::Clean => vec![],
            Path::CommitRefused => vec![Rule::every(TWI, Fault::Refuse500)],
            Path::CommitAnswerLost => vec![Rule::nth(TWI, 1, Fault::LoseAnswer500)],
            Path::CommitDeliveredLate => vec![Rule::every(TWI, Fault::DeliverLate)],
        }
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    function: Function,
    path: Path,
    /// The call (name, occurrence) to fault, and how.
    target: Option<(String, usize, Fault)>,
}

impl Scenario {
    fn baseline(function: Function, path: Path) -> Self {
        Self {
            function,
            path,
            target: None,
        }
    }

    fn rules(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = self
            .target
            .iter()
            .map(|(call, n, fault)| Rule::nth(call, *n, *fault))
            .collect();
        rules.extend(self.path.rules());
        rules
    }

    fn call(&self) -> String {
        match &self.target {
            Some((call, n, _)) => format!("{call}#{n}"),
            None => "(none)".into(),
        }
    }

    fn fault(&self) -> &'static str {
        self.target.as_ref().map_or("(none)", |(_, _, f)| f.name())
    }
}

type Check = (&'static str, Result<(), String>);

/// What one scenario did, and whether each invariant held.
struct Outcome {
    scenario: Scenario,
    fired: bool,
    /// How often the scenario ran until its fault fired.
    runs: usize,
    /// The calls of the first request, as the proxy saw them.
    first_calls: Vec<Exchange>,
    answers: Vec<u16>,
    events: usize,
    /// Unreferenced blob versions the request left for the sweeper.
    strays: usize,
    checks: Vec<Check>,
}

impl Outcome {
    fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|(name, result)| result.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect()
    }
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// A 5xx must carry the contract's error body.
fn clean_error(reply: &Reply) -> Result<(), String> {
    if reply.status < 500 {
        return Ok(());
    }
    let error = &reply.body["errors"][0];
    check(
        reply.status == 500
            && error["code"] == "MDOC_001"
            && error["title"] == "INTERNAL_SERVER_ERROR"
            && reply.body["errors"].as_array().map(Vec::len) == Some(1),
        || format!("{} {}", reply.status, reply.body),
    )
}

async fn request(
    env: &AwsEnv,
    function: Function,
    org: &str,
    id: &str,
    signature: &Signature,
) -> Reply {
    let token = env.full_token(org);
    match function {
        Function::Get => env.get(org, id, Some(&token)).await,
        Function::Preview => env.preview(org, id, Some(&token)).await,
        Function::Sign => env.sign(org, id, &token, signature).await,
    }
}

/// The stored blob at `key` is the one the client sent: the image byte for byte; the biometric
/// data byte for byte, or (sealed) an envelope whose digest the sign event records.
async fn blob_is_evidence(
    env: &AwsEnv,
    aws: &AwsStores,
    key: &str,
    sent: &[u8],
    sign_event_json: &str,
) -> Result<(), String> {
    let versions = aws.versions(key).await;
    let exact: Vec<_> = versions.iter().filter(|v| v.key == key).collect();
    check(exact.len() == 1 && !exact[0].delete_marker, || {
        format!(
            "{key}: {} versions stored, expected exactly one",
            exact.len()
        )
    })?;
    let blobs = &env.stores.blobs.inner;
    let stored = blobs
        .get(key)
        .await
        .map_err(|e| format!("{key}: {e}"))?
        .ok_or_else(|| format!("{key} is missing"))?;
    let digest = Sha256::digest(&stored.bytes);
    let checksum = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
    check(
        stored.checksum_sha256.as_deref() == Some(checksum.as_str()),
        || format!("{key}: the stored checksum does not match the bytes"),
    )?;
    check(
        &stored.bytes[..] == sent || sign_event_json.contains(&hex::encode(digest)),
        || format!("{key}: the bytes are neither what was sent nor what the evidence records"),
    )
}

async fn run_scenario(aws: AwsStores, index: usize, scenario: Scenario) -> Outcome {
    let function = scenario.function;
    let proxy = FaultProxy::start(&wire_moto_url()).await;
    proxy.set_rules(scenario.rules());
    let env = AwsEnv::start_behind_proxy(&proxy, &aws).await;
    let org = format!("wire{index}");
    let prefix = format!("{}{org}/", BlobKeys::PREFIX);
    let created = env
        .create_sign(&org, function == Function::Preview, "P7D")
        .await;
    let id = created.sign_id.clone();
    let signature = Signature::sample(10_000 + index as u32);
    let mut checks: Vec<Check> = Vec::new();

    // The client: the request, then, once whatever it set off on the wire has landed and the
    // outage is over (the proxy's rules are cleared), the same request again while the answer
    // is a 5xx.
    let first = request(&env, function, &org, &id, &signature).await;
    proxy.settle().await;
    let first_calls = proxy.log();
    proxy.clear_rules();
    let mut replies = vec![first];
    while replies.last().is_some_and(|r| r.status >= 500) && replies.len() < MAX_REQUESTS {
        replies.push(request(&env, function, &org, &id, &signature).await);
    }
    proxy.settle().await;
    let answers: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let last = replies.last().expect("one reply at least");
    checks.push(("5xx are clean", replies.iter().try_for_each(clean_error)));
    checks.push((
        "retry succeeds",
        check(last.status == function.success(), || {
            format!("answers {answers:?}: {}", last.body)
        }),
    ));
    let fired = match &scenario.target {
        Some((call, n, fault)) => first_calls
            .iter()
            .any(|e| e.call == *call && e.occurrence == *n && e.fault == Some(*fault)),
        None => scenario.path == Path::Clean || first_calls.iter().any(|e| e.fault.is_some()),
    };
    checks.push((
        "fault fired",
        check(fired, || "the faulted call never happened".into()),
    ));

    // The SDK retries a transaction with its first attempt's ClientRequestToken, so that on AWS
    // the retry of a transaction that was carried out is answered as a success.
    if let Some((call, n, fault)) = &scenario.target {
        if call == TWI && *fault != Fault::Duplicate {
            let token = |n: usize| {
                first_calls
                    .iter()
                    .find(|e| e.call == TWI && e.occurrence == n)
                    .map(|e| e.client_request_token.clone())
            };
            if let Some(retry) = token(n + 1) {
                let original = token(*n).flatten();
                checks.push((
                    "retried with its token",
                    check(retry.is_some() && retry == original, || {
                        format!("{call}#{n} and its retry carry {original:?} and {retry:?}")
                    }),
                ));
            }
        }
    }

    let report = env.report(&org, &id).await;
    let events = report.events.len();
    checks.push((
        "chain verifies",
        check(report.chain.is_valid(), || format!("{:?}", report.chain)),
    ));
    let versions = aws.versions(&prefix).await;
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    match function {
        Function::Get => {
            checks.push((
                "nothing changed",
                check(
                    report.sign == created && events == 0 && versions.is_empty(),
                    || "a GET changed the sign".into(),
                ),
            ));
            checks.push((
                "answer is the sign",
                check(
                    last.body["sign_id"] == id.as_str() && last.body["status"] == "PENDING",
                    || last.body.to_string(),
                ),
            ));
        }
        Function::Preview => {
            checks.push((
                "previewed",
                check(
                    report.sign.status == StoredStatus::Previewed
                        && events >= 1
                        && report
                            .events
                            .iter()
                            .all(|e| e.event_type == EventType::Preview)
                        && versions.is_empty(),
                    || format!("{:?}, {events} events", report.sign.status),
                ),
            ));
        }
        Function::Sign => {
            let sign_events: Vec<_> = report
                .events
                .iter()
                .filter(|e| e.event_type == EventType::Sign)
                .collect();
            let summary = report.sign.signature.as_ref();
            checks.push((
                "signed once, ours",
                check(
                    report.sign.status == StoredStatus::Signed
                        && sign_events.len() == 1
                        && summary.is_some_and(|s| {
                            s.image_sha256 == signature.image_sha256()
                                && s.biometric_data_sha256 == signature.biometric_sha256()
                        })
                        && sign_events[0].signature.as_ref() == summary,
                    || {
                        format!(
                            "{:?} with {} sign events",
                            report.sign.status,
                            sign_events.len()
                        )
                    },
                ),
            ));
            let event_json = sign_events
                .first()
                .map(|e| serde_json::to_string(e).unwrap_or_default())
                .unwrap_or_default();
            let evidence = match &report.sign.blobs {
                None => Err("the SIGNED record references no blobs".to_owned()),
                Some(keys) => {
                    referenced.insert(keys.biometric_data.clone());
                    referenced.insert(keys.signature_image.clone());
                    let data = blob_is_evidence(
                        &env,
                        &aws,
                        &keys.biometric_data,
                        &signature.biometric_data,
                        &event_json,
                    )
                    .await;
                    let image = blob_is_evidence(
                        &env,
                        &aws,
                        &keys.signature_image,
                        &signature.image,
                        &event_json,
                    )
                    .await;
                    data.and(image)
                }
            };
            checks.push(("evidence kept", evidence));

            // A different signature after the success is refused, and changes nothing.
            let token = env.full_token(&org);
            let different = Signature::sample(90_000 + index as u32);
            let mut other = env.sign(&org, &id, &token, &different).await;
            for _ in 1..MAX_REQUESTS {
                if other.status < 500 {
                    break;
                }
                other = env.sign(&org, &id, &token, &different).await;
            }
            let after = env.report(&org, &id).await;
            checks.push((
                "no second signature",
                check(
                    other.status == 409
                        && other.body["errors"][0]["code"] == "MDOC_006"
                        && after.sign == report.sign
                        && after.events == report.events,
                    || format!("{} {}", other.status, other.body),
                ),
            ));
        }
    }

    // Strays: every unreferenced version is listed by the sweeper, which removes them all and
    // nothing else.
    let versions = aws.versions(&prefix).await;
    let strays: BTreeSet<String> = versions
        .iter()
        .filter(|v| !referenced.contains(&v.key))
        .map(|v| v.key.clone())
        .collect();
    let stray_versions = versions
        .iter()
        .filter(|v| !referenced.contains(&v.key))
        .count();
    let listed = aws.sweep(&prefix, true).await;
    let listed_keys: BTreeSet<String> = listed
        .orphan_keys()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let swept = aws.sweep(&prefix, false).await;
    let left: BTreeSet<String> = aws
        .versions(&prefix)
        .await
        .into_iter()
        .map(|v| v.key)
        .collect();
    checks.push((
        "no silent strays",
        check(
            listed_keys == strays
                && listed.kept.referenced == referenced.len()
                && swept.removed().len() == stray_versions
                && swept.errors.is_empty()
                && left == referenced,
            || {
                format!(
                    "strays {strays:?}, listed {listed_keys:?}, removed {}, left {left:?}",
                    swept.removed().len()
                )
            },
        ),
    ));
    Outcome {
        scenario,
        fired,
        runs: 1,
        first_calls,
        answers,
        events,
        strays: stray_versions,
        checks,
    }
}

/// Runs `scenario` in a task of its own, so that a panic becomes a failed row; again, on a sign
/// of another organization, while its fault did not fire.
async fn run_caught(aws: AwsStores, index: usize, scenario: Scenario) -> Outcome {
    let mut run = 0;
    loop {
        run += 1;
        let org_index = index + 1_000 * (run - 1);
        let task = tokio::spawn(run_scenario(aws.clone(), org_index, scenario.clone()));
        let mut outcome = task.await.unwrap_or_else(|e| Outcome {
            scenario: scenario.clone(),
            fired: false,
            runs: 0,
            first_calls: Vec::new(),
            answers: Vec::new(),
            events: 0,
            strays: 0,
            checks: vec![("ran", Err(format!("the scenario panicked: {e}")))],
        });
        outcome.runs = run;
        if outcome.fired || run >= MAX_RUNS {
            return outcome;
        }
    }
}

/// Runs the scenarios, at most `parallel` at once, each on a sign of its own organization.
async fn run_all(aws: &AwsStores, first_index: usize, scenarios: Vec<Scenario>) -> Vec<Outcome> {
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let (aws, limit) = (aws.clone(), std::sync::Arc::clone(&limit));
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            (i, run_caught(aws, first_index + i, scenario).await)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(result) = tasks.join_next().await {
        outcomes.push(result.expect("run_caught does not panic"));
    }
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// The calls made, but for those a fault was applied to.
fn labels(calls: &[Exchange]) -> Vec<(String, usize)> {
    calls
        .iter()
        .filter(|e| e.fault.is_none())
        .map(|e| (e.call.clone(), e.occurrence))
        .collect()
}

fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>3}  {:<8} {:<21} {:<22} {:<19} {:<5} {:<16} {:>6} {:>6}  invariants",
        "#", "function", "path", "call", "fault", "fired", "answers", "events", "strays"
    );
    for (i, o) in outcomes.iter().enumerate() {
        let failures = o.failures();
        let verdict = if failures.is_empty() {
            format!("all {} held", o.checks.len())
        } else {
            format!("FAILED: {}", failures.join("; "))
        };
        let answers: Vec<String> = o.answers.iter().map(u16::to_string).collect();
        let _ = writeln!(
            out,
            "{:>3}  {:<8} {:<21} {:<22} {:<19} {:<5} {:<16} {:>6} {:>6}  {verdict}",
            i + 1,
            o.scenario.function.name(),
            o.scenario.path.name(),
            o.scenario.call(),
            o.scenario.fault(),
            match (o.fired, o.runs) {
                (false, _) => "no".to_owned(),
                (true, 1) => "yes".to_owned(),
                (true, runs) => format!("yes/{runs}"),
            },
            answers.join(","),
            o.events,
            o.strays,
        );
    }
    out
}

/// Every AWS call of each function, found by running it through the proxy, × every fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_of_every_function_under_every_fault_keeps_the_evidence() {
    let aws = AwsStores::fresh().await;
    // Baselines: which calls each function makes, on the clean path and on the failure paths.
    let baselines = vec![
        Scenario::baseline(Function::Get, Path::Clean),
        Scenario::baseline(Function::Preview, Path::Clean),
        Scenario::baseline(Function::Sign, Path::Clean),
        Scenario::baseline(Function::Sign, Path::CommitRefused),
        Scenario::baseline(Function::Sign, Path::CommitAnswerLost),
        Scenario::baseline(Function::Sign, Path::CommitDeliveredLate),
    ];
    // Each twice: a call counts only if both runs made it, so that a call a starved moto caused
    // once (a timeout, then a re-read) does not become a scenario that cannot fire.
    let twice: Vec<Scenario> = baselines.iter().chain(&baselines).cloned().collect();
    let baseline_outcomes = run_all(&aws, 0, twice).await;
    let (first, second) = baseline_outcomes.split_at(baselines.len());
    let calls_of = |i: usize| {
        let again = labels(&second[i].first_calls);
        labels(&first[i].first_calls)
            .into_iter()
            .filter(|call| again.contains(call))
            .collect::<Vec<_>>()
    };
    let clean_sign = baselines
        .iter()
        .position(|b| b.function == Function::Sign && b.path == Path::Clean)
        .expect("a clean sign baseline");
    let clean_sign_calls = calls_of(clean_sign);
    let mut scenarios = Vec::new();
    for (i, baseline) in baselines.iter().enumerate() {
        // Its calls are those of "commit refused"; only their timing differs.
        if baseline.path == Path::CommitDeliveredLate {
            continue;
        }
        for (call, n) in calls_of(i) {
            // A failure path's own calls only: the clean path's are faulted on the clean path.
            if baseline.path != Path::Clean && clean_sign_calls.contains(&(call.clone(), n)) {
                continue;
            }
            for fault in Fault::ALL {
                scenarios.push(Scenario {
                    function: baseline.function,
                    path: baseline.path,
                    target: Some((call.clone(), n, fault)),
                });
            }
        }
    }
    let outcomes = run_all(&aws, baseline_outcomes.len(), scenarios).await;
    let all: Vec<Outcome> = baseline_outcomes.into_iter().chain(outcomes).collect();
    let table = table(&all);
    println!("\n{table}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wire_faults.txt");
    let _ = std::fs::write(&path, &table);
    let failed: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.failures().is_empty())
        .map(|(i, o)| {
            format!(
                "#{} {} {} {}",
                i + 1,
                o.scenario.function.name(),
                o.scenario.call(),
                o.scenario.fault()
            )
        })
        .collect();
    assert!(
        all.len() > 5 * Fault::ALL.len(),
        "too few scenarios: {}",
        all.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} scenarios broke an invariant (table above, and in {}):\n{}",
        failed.len(),
        all.len(),
        path.display(),
        failed.join("\n")
    );
}

/// Issue 14 as reported: the first commit of a sign is carried out, and its answer replaced by a
/// 500. The SDK retries, the retry fails its condition (the sign is SIGNED now), and the service
/// must find out that its own attempt is the one stored, rather than take it for someone else's
/// and delete the blobs the record points at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_keeps_the_signatures_evidence() {
    let aws = AwsStores::fresh().await;
    let proxy = FaultProxy::start(&wire_moto_url()).await;
    proxy.set_rules(vec![Rule::nth(TWI, 1, Fault::LoseAnswer500)]);
    let env = AwsEnv::start_behind_proxy(&proxy, &aws).await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(14);
    let mut reply = env.sign("acme", &sign.sign_id, &token, &signature).await;
    proxy.settle().await;

    let commit = proxy
        .log()
        .into_iter()
        .find(|e| e.label() == "TransactWriteItems#1")
        .expect("the sign committed");
    assert_eq!(commit.upstream, vec![200], "moto carried the commit out");
    assert_eq!(
        commit.answer,
        Answer::Status(500),
        "and the service was told 500"
    );
    for _ in 0..5 {
        if reply.status < 500 {
            break;
        }
        reply = env.sign("acme", &sign.sign_id, &token, &signature).await;
    }
    reply.assert_no_content();

    let report = env.report("acme", &sign.sign_id).await;
    assert_eq!(report.sign.status, StoredStatus::Signed);
    assert!(report.chain.is_valid());
    let keys = report
        .sign
        .blobs
        .expect("a SIGNED record references its blobs");
    let image = env.blob(&keys.signature_image).await;
    assert_eq!(&image.bytes[..], &signature.image[..]);
    let data = env.blob(&keys.biometric_data).await;
    assert!(!data.bytes.is_empty());
    assert_eq!(
        report.sign.signature.map(|s| s.biometric_data_sha256),
        Some(signature.biometric_sha256())
    );
}

/// The window left by a re-read: every attempt of the first commit reaches the table only after
/// the SDK gave up on it. The service sees a timeout and a re-read that shows no change; the sign
/// becomes SIGNED a moment later, with this attempt's blob keys. Those blobs must still exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_carried_out_after_the_service_gave_up_keeps_the_signatures_evidence() {
    let aws = AwsStores::fresh().await;
    let proxy = FaultProxy::start(&wire_moto_url()).await;
    proxy.set_rules(vec![Rule::every(TWI, Fault::DeliverLate)]);
    let env = AwsEnv::start_behind_proxy(&proxy, &aws).await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(15);
    let mut reply = env.sign("acme", &sign.sign_id, &token, &signature).await;
    reply.assert_error(500, "MDOC_001", "INTERNAL_SERVER_ERROR", "");
    proxy.settle().await;
    proxy.clear_rules();
    let late: Vec<Exchange> = proxy.log().into_iter().filter(|e| e.call == TWI).collect();
    assert!(
        late.first().is_some_and(|e| e.upstream == vec![200]),
        "the first attempt was carried out late: {late:?}"
    );
    for _ in 0..MAX_REQUESTS {
        if reply.status < 500 {
            break;
        }
        reply = env.sign("acme", &sign.sign_id, &token, &signature).await;
    }
    reply.assert_no_content();
    let report = env.report("acme", &sign.sign_id).await;
    assert_eq!(report.sign.status, StoredStatus::Signed);
    let keys = report
        .sign
        .blobs
        .expect("a SIGNED record references its blobs");
    assert_eq!(
        &env.blob(&keys.signature_image).await.bytes[..],
        &signature.image[..]
    );
    env.blob(&keys.biometric_data).await;
}

/// A call that hangs ends, through the SDK's timeouts, in the contract's 500 well before the
/// function's timeout (template.yaml), not in a Lambda timeout; and the store is left as if the
/// request had not been made, but for orphans the sweeper lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_store_ends_in_a_clean_500_before_the_function_timeout() {
    let function_timeout = std::time::Duration::from_secs(10);
    assert!(aws::SIGN_WORST_CASE < function_timeout);
    let aws = AwsStores::fresh().await;
    // Held for longer than a whole call may take: every attempt runs out.
    let proxy = FaultProxy::start_with_hold(&wire_moto_url(), aws::S3_LIMITS.operation * 2).await;
    let env = AwsEnv::start_behind_proxy(&proxy, &aws).await;
    let sign = env.create_sign("acme", false, "P7D").await;
    let token = env.full_token("acme");
    let signature = Signature::sample(3);
    let timed = |request: reqwest::RequestBuilder| request.timeout(function_timeout);

    proxy.set_rules(vec![Rule::every("GetItem", Fault::LoseAnswerLate)]);
    let reply = env
        .send(timed(
            env.http
                .get(env.url("acme", &sign.sign_id, None))
                .bearer_auth(&token),
        ))
        .await;
    reply.assert_error(500, "MDOC_001", "INTERNAL_SERVER_ERROR", "");

    proxy.set_rules(vec![Rule::every("PutObject", Fault::LoseAnswerLate)]);
    let mut request = env
        .http
        .post(env.url("acme", &sign.sign_id, Some("sign")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(signature.body().to_string());
    for (name, value) in biosign_e2e::device_headers() {
        request = request.header(name, value);
    }
    let reply = env.send(timed(request)).await;
    reply.assert_error(500, "MDOC_001", "INTERNAL_SERVER_ERROR", "");
    proxy.settle().await;
    let report = env.report("acme", &sign.sign_id).await;
    assert_eq!(report.sign, sign, "the sign is unchanged");
    let strays: BTreeSet<String> = aws
        .versions("signs/acme/")
        .await
        .into_iter()
        .map(|v| v.key)
        .collect();
    let listed = aws.sweep("signs/acme/", true).await;
    let listed: BTreeSet<String> = listed
        .orphan_keys()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed, strays,
        "every blob left behind is listed for the sweeper"
    );

    proxy.clear_rules();
    env.sign("acme", &sign.sign_id, &token, &signature)
        .await
        .assert_no_content();
}

/// The proxy itself: it streams a megabyte each way, names the calls, delivers twice, and its
/// refusals are retried by the SDK as AWS's own would be. (Its clients have an emulator's time
/// limits: this is about the proxy, not about timeouts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_streams_large_bodies_and_its_faults_look_like_aws() {
    let aws = AwsStores::fresh().await;
    let proxy = FaultProxy::start(&wire_moto_url()).await;
    let sdk = aws::load_config_at(&proxy.url()).await;
    let s3 = S3BlobStore::new(aws::s3(&sdk), aws.blobs.bucket(), None);
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let digest: [u8; 32] = Sha256::digest(&big).into();
    let put = |key: &'static str| {
        let (s3, big) = (&s3, big.clone());
        async move {
            s3.put_new(key, big.into(), digest, "application/octet-stream")
                .await
        }
    };
    put("signs/proxy/big.bin")
        .await
        .expect("a megabyte through the proxy");
    let read = s3.get("signs/proxy/big.bin").await.unwrap().unwrap();
    assert_eq!(read.bytes.len(), big.len());
    assert!(read.bytes[..] == big[..], "read back byte-exact");

    // Delivered twice: the first creates the object, the second is refused by If-None-Match,
    // and that refusal is what the client sees.
    proxy.set_rules(vec![Rule::nth("PutObject", 2, Fault::Duplicate)]);
    assert!(put("signs/proxy/twice.bin").await.is_err());
    let versions = aws.versions("signs/proxy/twice.bin").await;
    assert_eq!(versions.len(), 1);

    // Throttled and reset, then served; a 500, then served: the SDK retries each (at most three
    // attempts per call), as it would AWS's.
    proxy.set_rules(vec![
        Rule::nth("GetObject", 2, Fault::RefuseThrottled),
        Rule::nth("GetObject", 3, Fault::RefuseReset),
        Rule::nth("GetObject", 5, Fault::Refuse500),
    ]);
    for _ in 0..2 {
        let read = s3.get("signs/proxy/big.bin").await.unwrap().unwrap();
        assert!(read.bytes[..] == big[..]);
    }
    let signs =
        biosign_shared::store::dynamo::DynamoSignStore::new(aws::dynamodb(&sdk), aws.signs.table());
    proxy.set_rules(vec![
        Rule::nth("GetItem", 1, Fault::RefuseThrottled),
        Rule::nth("GetItem", 2, Fault::Refuse500),
    ]);
    let missing = unknown_sign_key();
    assert_eq!(signs.get_sign(&missing).await.unwrap(), None);
    proxy.settle().await;

    let seen: Vec<(String, Option<Fault>, Vec<u16>, Answer)> = proxy
        .log()
        .into_iter()
        .map(|e| (e.label(), e.fault, e.upstream, e.answer))
        .collect();
    let expected = vec![
        (
            "PutObject#1".to_owned(),
            None,
            vec![200],
            Answer::Status(200),
        ),
        ("GetObject#1".into(), None, vec![200], Answer::Status(200)),
        (
            "PutObject#2".into(),
            Some(Fault::Duplicate),
            vec![200, 412],
            Answer::Status(412),
        ),
        (
            "GetObject#2".into(),
            Some(Fault::RefuseThrottled),
            vec![],
            Answer::Status(503),
        ),
        (
            "GetObject#3".into(),
            Some(Fault::RefuseReset),
            vec![],
            Answer::Reset,
        ),
        ("GetObject#4".into(), None, vec![200], Answer::Status(200)),
        (
            "GetObject#5".into(),
            Some(Fault::Refuse500),
            vec![],
            Answer::Status(500),
        ),
        ("GetObject#6".into(), None, vec![200], Answer::Status(200)),
        (
            "GetItem#1".into(),
            Some(Fault::RefuseThrottled),
            vec![],
            Answer::Status(400),
        ),
        (
            "GetItem#2".into(),
            Some(Fault::Refuse500),
            vec![],
            Answer::Status(500),
        ),
        ("GetItem#3".into(), None, vec![200], Answer::Status(200)),
    ];
    assert_eq!(seen, expected);
}

/// The key of a sign that was never stored.
fn unknown_sign_key() -> biosign_shared::ids::SignKey {
    use biosign_shared::ids::{OrgId, SignId, SignKey};
    SignKey::new(
        OrgId::parse("proxy").expect("valid org"),
        SignId::new_random(),
    )
}
