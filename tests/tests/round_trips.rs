//! What each request costs on the wire, on DynamoDB + S3 (moto) behind the fault proxy
//! (issue 13, "Fewer round trips, and what a sign costs"):
//!
//! - **Round trips.** With a fixed latency added to every store call, a request's time grows by
//!   that latency once per call it makes *one after the other*: a GET by one (GetItem), a preview
//!   by two (GetItem, then TransactWriteItems), a sign by three (GetItem, then both PutObjects at
//!   once, then TransactWriteItems), and with a TSA by two more after its SIGN (the token's
//!   PutObject, then the TransactWriteItems of the TIMESTAMP event, decided on the sign as just
//!   committed: not read again). Each test proves it twice: from the proxy's record
//!   of when each call started and was answered (which calls ran, in which order, which
//!   overlapped), and from the request's time, taken with and without the latency in the same
//!   test so that the machine's own speed cancels out. This is an assertion about the number of
//!   round trips, not about speed: the latency (250 ms) dwarfs what moto and a debug build take,
//!   and the count is read as the nearest whole number of latencies.
//! - **Call counts.** [`each_request_makes_the_calls_the_cost_model_counts`] counts every call a
//!   request makes, by kind, with the DynamoDB items it reads and writes (their sizes, hence their
//!   read and write units) and the S3 objects it writes (their sizes), asserts them (they are the
//!   contract of the cost model in BENCHMARKS.md), and writes them to
//!   `target/tmp/call_counts.json`, which BENCHMARKS.md cites.
//!
//! The timing tests take the machine to themselves: `.config/nextest.toml` runs this binary alone,
//! and within it one test at a time holds [`ALONE`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use biosign_e2e::fault_proxy::{Exchange, FaultProxy};
use biosign_e2e::tsa::LoopbackTsa;
use biosign_e2e::wire::{AwsStores, wire_moto_url};
use biosign_e2e::{AwsEnv, Reply, Signature, tsa_client};
use biosign_shared::model::SignRecord;
use serde_json::{Value, json};

/// The latency added to every store call: large against moto's own time per call on a loaded
/// 2-core machine (a few to a few tens of milliseconds), small against the clients' attempt
/// timeouts (800 ms for DynamoDB, 1.2 s for S3), so that no call is retried.
const LATENCY: Duration = Duration::from_millis(250);

/// Requests timed with and without the latency, interleaved; the fastest of each is kept (the
/// machine's noise only ever adds time).
const RUNS: usize = 5;

/// One timing test at a time, so that two do not slow each other's moto.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const GET_ITEM: &str = "GetItem";
const TRANSACT: &str = "TransactWriteItems";
const PUT_OBJECT: &str = "PutObject";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Preview,
    Sign,
}

/// The service behind a proxy, optionally with a loopback TSA.
struct Wire {
    proxy: FaultProxy,
    env: AwsEnv,
    aws: AwsStores,
    _tsa: Option<LoopbackTsa>,
    org: String,
}

/// One request as it went: its time, the calls it made (in the order they started), and the
/// signature it sent (a sign's).
struct Sent {
    elapsed: Duration,
    calls: Vec<Exchange>,
    signature: Signature,
}

impl Wire {
    async fn start(with_tsa: bool) -> Self {
        let proxy = FaultProxy::start(&wire_moto_url()).await;
        // Objects encrypted as deployed (template.yaml): SSE-KMS with an S3 Bucket Key, which the
        // cost model prices (no KMS request per object).
        let aws = AwsStores::fresh_with_kms(Some("alias/biosign-test")).await;
        let tsa = if with_tsa {
            Some(LoopbackTsa::start().await)
        } else {
            None
        };
        let client = tsa.as_ref().map(|tsa| tsa_client(&tsa.url, &tsa.ca_pem()));
        let env = AwsEnv::start_behind_proxy_with_tsa(&proxy, &aws, client).await;
        let wire = Self {
            proxy,
            env,
            aws,
            _tsa: tsa,
            org: "acme".into(),
        };
        // The first calls open the clients' connections: not part of any measured request.
        wire.request(Kind::Get).await;
        wire
    }

    /// A fresh sign, made directly in moto (not through the proxy), ready for `kind`.
    async fn new_sign(&self, kind: Kind) -> SignRecord {
        self.env
            .create_sign(&self.org, kind == Kind::Preview, "P7D")
            .await
    }

    /// One request of `kind` on a fresh sign.
    async fn request(&self, kind: Kind) -> Sent {
        let sign = self.new_sign(kind).await;
        self.send(kind, &sign).await
    }

    /// One request of `kind` on `sign`, which must succeed.
    async fn send(&self, kind: Kind, sign: &SignRecord) -> Sent {
        let before = self.proxy.log().len();
        let token = self.env.full_token(&self.org);
        // A signature of its own for every request.
        let signature = Signature::sample(before as u32);
        let started = Instant::now();
        let reply: Reply = match kind {
            Kind::Get => self.env.get(&self.org, &sign.sign_id, Some(&token)).await,
            Kind::Preview => {
                self.env
                    .preview(&self.org, &sign.sign_id, Some(&token))
                    .await
            }
            Kind::Sign => {
                self.env
                    .sign(&self.org, &sign.sign_id, &token, &signature)
                    .await
            }
        };
        let elapsed = started.elapsed();
        match kind {
            Kind::Get => assert_eq!(reply.status, 200, "{}", reply.body),
            Kind::Preview | Kind::Sign => reply.assert_no_content(),
        }
        self.proxy.settle().await;
        let mut calls = self.proxy.log().split_off(before);
        calls.sort_by_key(|call| call.started);
        Sent {
            elapsed,
            calls,
            signature,
        }
    }
}

// ---- Round trips -------------------------------------------------------------------------------

/// Asserts that `calls` ran as `steps`, one step after the other: the calls of a step (named in
/// any order) all overlap each other, and every call of a step was answered before any call of
/// the next one started.
#[track_caller]
fn assert_steps(calls: &[Exchange], steps: &[&[&str]], what: &str) {
    let labels: Vec<String> = calls.iter().map(Exchange::label).collect();
    assert_eq!(
        calls.len(),
        steps.iter().map(|step| step.len()).sum::<usize>(),
        "{what}: calls {labels:?}, expected the steps {steps:?}"
    );
    let mut rest = calls;
    let mut previous: &[Exchange] = &[];
    for (index, step) in steps.iter().enumerate() {
        let (these, after) = rest.split_at(step.len());
        let mut names: Vec<&str> = these.iter().map(|call| call.call.as_str()).collect();
        let mut expected = step.to_vec();
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(
            names, expected,
            "{what}: step {index} made other calls (all calls: {labels:?})"
        );
        for (i, a) in these.iter().enumerate() {
            for b in &these[i + 1..] {
                assert!(
                    a.overlaps(b),
                    "{what}: {} and {} ran one after the other, not at once",
                    a.label(),
                    b.label()
                );
            }
        }
        for earlier in previous {
            for later in these {
                assert!(
                    earlier.precedes(later),
                    "{what}: {} started before {} was answered",
                    later.label(),
                    earlier.label()
                );
            }
        }
        previous = these;
        rest = after;
    }
}

/// Times `kind` with and without [`LATENCY`], checks the calls of every run with the latency
/// against `steps`, and asserts that the latency added one [`LATENCY`] per step. Returns what was
/// measured, for the log.
async fn round_trips(with_tsa: bool, kind: Kind, steps: &[&[&str]], what: &str) -> Value {
    let _alone = ALONE.lock().await;
    let wire = Wire::start(with_tsa).await;
    let mut without = Vec::new();
    let mut with = Vec::new();
    for _ in 0..RUNS {
        wire.proxy.set_latency(Duration::ZERO);
        without.push(wire.request(kind).await.elapsed);
        wire.proxy.set_latency(LATENCY);
        let Sent { elapsed, calls, .. } = wire.request(kind).await;
        assert_steps(&calls, steps, what);
        assert!(
            elapsed >= LATENCY * steps.len() as u32,
            "{what}: {elapsed:?} for {} steps of {LATENCY:?}",
            steps.len()
        );
        with.push(elapsed);
    }
    wire.proxy.set_latency(Duration::ZERO);
    let fastest = |times: &[Duration]| times.iter().copied().min().unwrap_or_default();
    let (baseline, delayed) = (fastest(&without), fastest(&with));
    let added = delayed.saturating_sub(baseline);
    let latencies = added.as_secs_f64() / LATENCY.as_secs_f64();
    // At least one latency per step is asserted above, run by run; here, no more: an extra
    // sequential call would add a whole latency, noise (moto, a loaded machine) less than half
    // of one. (One-sided: a slow run without the latency only makes the added time look smaller.)
    assert!(
        latencies < steps.len() as f64 + 0.5,
        "{what}: the latency added {added:?} = {latencies:.2} × {LATENCY:?} \
         (fastest of {RUNS}: {delayed:?} with it, {baseline:?} without), expected {} sequential \
         steps {steps:?}",
        steps.len()
    );
    let measured = json!({
        "request": what,
        "steps": steps,
        "latency_ms": LATENCY.as_millis() as u64,
        "fastest_without_latency_ms": baseline.as_secs_f64() * 1e3,
        "fastest_with_latency_ms": delayed.as_secs_f64() * 1e3,
        "added_in_latencies": latencies,
    });
    println!("{measured}");
    measured
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_one_round_trip() {
    round_trips(false, Kind::Get, &[&[GET_ITEM]], "GET").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_two_round_trips() {
    round_trips(false, Kind::Preview, &[&[GET_ITEM], &[TRANSACT]], "preview").await;
}

/// The sign's critical path: one read, both uploads at once, one transactional write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_is_three_round_trips_with_its_uploads_at_once() {
    round_trips(
        false,
        Kind::Sign,
        &[&[GET_ITEM], &[PUT_OBJECT, PUT_OBJECT], &[TRANSACT]],
        "sign",
    )
    .await;
}

/// With a TSA, the SIGN's 204 waits for the timestamp: the token is stored and the TIMESTAMP
/// event committed on the sign as the SIGN left it (not read again), two more round trips (the
/// TSA's own answer is in both timings, so it cancels out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamped_sign_is_two_more_round_trips() {
    round_trips(
        true,
        Kind::Sign,
        &[
            &[GET_ITEM],
            &[PUT_OBJECT, PUT_OBJECT],
            &[TRANSACT],
            &[PUT_OBJECT],
            &[TRANSACT],
        ],
        "sign with a TSA",
    )
    .await;
}

// ---- Call counts -------------------------------------------------------------------------------

/// The size DynamoDB bills for a number: one byte per two significant digits, plus one.
fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    significant.len().div_ceil(2) + 1
}

/// The size DynamoDB bills for an attribute value in its JSON wire form (`{"S": "…"}`): strings
/// and binaries by their bytes, numbers as [`number_size`], booleans and nulls one byte, lists
/// and maps three bytes plus one per element, plus their elements (a map's names included).
fn json_value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|map| map.iter().next()) else {
        panic!("not an attribute value: {value}");
    };
    let strings = || {
        inner
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, |b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_or(0, |bytes| bytes.len())
        }),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(str::len).sum(),
        "NS" => strings().map(number_size).sum(),
        "L" => {
            3 + inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|element| 1 + json_value_size(element))
                .sum::<usize>()
        }
        "M" => 3 + json_item_size(inner) + inner.as_object().map_or(0, |map| map.len()),
        other => panic!("attribute type {other} is not sized here"),
    }
}

/// The size DynamoDB bills for an item: its attribute names and values.
fn json_item_size(item: &Value) -> usize {
    item.as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| name.len() + json_value_size(value))
        .sum()
}

/// [`json_item_size`] of an item as the SDK holds it.
fn sdk_item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
            AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
            AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(name, v)| name.len() + value_size(v) + 1)
                    .sum::<usize>()
            }
            other => panic!("attribute {other:?} is not sized here"),
        }
    }
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Read request units of a strongly consistent read of an item of `size` bytes (one per 4 KB).
fn read_units(size: usize) -> usize {
    size.div_ceil(4096).max(1)
}

/// Write request units of a transactional write of an item of `size` bytes: one per 1 KB, twice
/// over (DynamoDB bills a transaction's writes double).
fn transactional_write_units(size: usize) -> usize {
    2 * size.div_ceil(1024).max(1)
}

/// What a request did on the wire, as the cost model counts it.
#[derive(Debug, Default)]
struct Counted {
    /// Calls by kind.
    calls: BTreeMap<String, usize>,
    /// The item each GetItem read (the sign's record) and its read units.
    dynamodb_reads: Vec<Value>,
    /// Each TransactWriteItems: its items' sizes and write units.
    dynamodb_transactions: Vec<Value>,
    /// Each PutObject: what it stored, its size and its encryption.
    s3_puts: Vec<Value>,
    read_units: usize,
    write_units: usize,
    s3_bytes: u64,
}

impl Counted {
    fn to_json(&self) -> Value {
        json!({
            "calls": self.calls,
            "dynamodb_reads": self.dynamodb_reads,
            "dynamodb_transactions": self.dynamodb_transactions,
            "s3_puts": self.s3_puts,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "s3_bytes": self.s3_bytes,
        })
    }
}

/// Counts `calls`, the calls of one request on a sign whose record was `record_before`.
fn count(
    calls: &[Exchange],
    record_before: &std::collections::HashMap<String, AttributeValue>,
) -> Counted {
    let mut counted = Counted::default();
    // The record a GetItem reads: as it was before the request, or as this request's last
    // transaction left it.
    let mut record_size = sdk_item_size(record_before);
    for call in calls {
        *counted.calls.entry(call.call.clone()).or_default() += 1;
        match call.call.as_str() {
            GET_ITEM => {
                counted.read_units += read_units(record_size);
                counted.dynamodb_reads.push(json!({
                    "item": "sign record",
                    "item_bytes": record_size,
                    "read_units": read_units(record_size),
                }));
            }
            TRANSACT => {
                let body: Value =
                    serde_json::from_slice(call.request_body.as_deref().unwrap_or(b""))
                        .expect("a TransactWriteItems request is JSON");
                let items: Vec<Value> = body["TransactItems"]
                    .as_array()
                    .expect("TransactItems")
                    .iter()
                    .map(|item| {
                        let put = &item["Put"]["Item"];
                        let sort_key = put["sk"]["S"].as_str().unwrap_or_default();
                        let size = json_item_size(put);
                        let what = if sort_key == "SIGN" {
                            record_size = size;
                            "sign record"
                        } else {
                            "evidence event"
                        };
                        counted.write_units += transactional_write_units(size);
                        json!({
                            "item": what,
                            "item_bytes": size,
                            "write_units": transactional_write_units(size),
                        })
                    })
                    .collect();
                counted
                    .dynamodb_transactions
                    .push(json!({ "items": items }));
            }
            PUT_OBJECT => {
                let header = |name: &str| {
                    call.request_headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                // A body sent in aws-chunked encoding declares its own length apart.
                let size = header("x-amz-decoded-content-length")
                    .and_then(|v| v.parse().ok())
                    .or(call.request_bytes)
                    .expect("a PutObject declares its length");
                let content_type = header("content-type").unwrap_or_default();
                counted.s3_bytes += size;
                counted.s3_puts.push(json!({
                    "content_type": content_type,
                    "bytes": size,
                    "server_side_encryption": header("x-amz-server-side-encryption"),
                    "bucket_key_enabled": header("x-amz-server-side-encryption-bucket-key-enabled"),
                }));
            }
            _ => {}
        }
    }
    counted
}

async fn record_item(
    aws: &AwsStores,
    sign: &SignRecord,
) -> std::collections::HashMap<String, AttributeValue> {
    aws.signs
        .client()
        .get_item()
        .table_name(aws.signs.table())
        .key(
            "pk",
            AttributeValue::S(format!("SIGN#{}#{}", sign.org_id, sign.sign_id)),
        )
        .key("sk", AttributeValue::S("SIGN".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the record from moto")
        .item
        .expect("the sign exists")
}

/// A request of `kind` on a fresh sign, counted, and the signature it sent.
async fn counted(wire: &Wire, kind: Kind) -> (Counted, Signature) {
    let sign = wire.new_sign(kind).await;
    // The record as the request's first read finds it.
    let record_before = record_item(&wire.aws, &sign).await;
    let sent = wire.send(kind, &sign).await;
    (count(&sent.calls, &record_before), sent.signature)
}

#[track_caller]
fn assert_calls(counted: &Counted, expected: &[(&str, usize)], what: &str) {
    let expected: BTreeMap<String, usize> = expected
        .iter()
        .map(|(call, n)| ((*call).to_owned(), *n))
        .collect();
    assert_eq!(
        counted.calls, expected,
        "{what}: these calls and no others (no Query, Scan, GetObject, DeleteObject…)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_makes_the_calls_the_cost_model_counts() {
    let _alone = ALONE.lock().await;
    let wire = Wire::start(false).await;
    let (get, _) = counted(&wire, Kind::Get).await;
    let (preview, _) = counted(&wire, Kind::Preview).await;
    let (sign, signature) = counted(&wire, Kind::Sign).await;
    let (timestamped, _) = {
        let wire = Wire::start(true).await;
        counted(&wire, Kind::Sign).await
    };

    assert_calls(&get, &[(GET_ITEM, 1)], "GET");
    assert_calls(&preview, &[(GET_ITEM, 1), (TRANSACT, 1)], "preview");
    assert_calls(
        &sign,
        &[(GET_ITEM, 1), (PUT_OBJECT, 2), (TRANSACT, 1)],
        "sign",
    );
    assert_calls(
        &timestamped,
        &[(GET_ITEM, 1), (PUT_OBJECT, 3), (TRANSACT, 2)],
        "sign with a TSA",
    );

    // Every transaction writes the record and one evidence event.
    for (what, counted) in [
        ("preview", &preview),
        ("sign", &sign),
        ("sign with a TSA", &timestamped),
    ] {
        for transaction in &counted.dynamodb_transactions {
            let items: Vec<&str> = transaction["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|item| item["item"].as_str())
                .collect();
            assert_eq!(items, ["sign record", "evidence event"], "{what}");
        }
    }
    // The record and the events each fit one read unit and one or two write units: what the
    // cost model prices. A record or event that grows past a unit boundary changes the price,
    // and must change this test and BENCHMARKS.md with it.
    assert_eq!(get.read_units, 1, "{get:#?}");
    assert_eq!(preview.read_units, 1, "{preview:#?}");
    assert_eq!(preview.write_units, 4, "{preview:#?}");
    assert_eq!(sign.read_units, 1, "{sign:#?}");
    assert_eq!(sign.write_units, 6, "{sign:#?}");
    assert_eq!(timestamped.read_units, 1, "{timestamped:#?}");
    assert_eq!(timestamped.write_units, 6 + 6, "{timestamped:#?}");

    // Every object is written with the KMS key and an S3 Bucket Key, as deployed: S3 asks KMS
    // for a data key per bucket key, not per object, which the cost model counts as ≈ $0.
    for (what, counted) in [("sign", &sign), ("sign with a TSA", &timestamped)] {
        for put in &counted.s3_puts {
            assert_eq!(put["server_side_encryption"], "aws:kms", "{what}: {put}");
            assert_eq!(put["bucket_key_enabled"], "true", "{what}: {put}");
        }
    }

    // The sign stores the image as sent and the capture sealed (the capture, encrypted, and what
    // opens it for each escrow recipient: a few hundred bytes each); nothing else.
    let puts: Vec<(&str, u64)> = sign
        .s3_puts
        .iter()
        .map(|put| {
            (
                put["content_type"].as_str().unwrap_or_default(),
                put["bytes"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let sealed_size = puts
        .iter()
        .find(|(content_type, _)| *content_type == "application/pkcs7-mime")
        .map(|(_, size)| *size as usize)
        .expect("the sealed capture was stored");
    let captured = signature.biometric_data.len();
    assert!(
        sealed_size > captured && sealed_size < captured + 4096,
        "the sealed capture is {sealed_size} bytes for a {captured} byte capture"
    );
    assert!(
        puts.contains(&("image/png", signature.image.len() as u64)),
        "the image, byte for byte: {puts:?}"
    );
    assert_eq!(sign.s3_bytes, (sealed_size + signature.image.len()) as u64);

    let report = json!({
        "written_by": "tests/tests/round_trips.rs, each_request_makes_the_calls_the_cost_model_counts",
        "payload": format!(
            "Signature::sample: a ten-second pen capture (sigdata/1, {} bytes) and its PNG ({} bytes)",
            signature.biometric_data.len(),
            signature.image.len()
        ),
        "units": "read units: strongly consistent, 4 KB each; write units: transactional, 1 KB each, counted twice",
        "requests": {
            "get": get.to_json(),
            "preview": preview.to_json(),
            "sign": sign.to_json(),
            "sign_with_tsa": timestamped.to_json(),
        },
    });
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("call_counts.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).expect("JSON") + "\n",
    )
    .expect("write call_counts.json");
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    println!("written to {}", path.display());
}
