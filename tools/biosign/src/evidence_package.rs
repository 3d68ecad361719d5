//! The evidence package (`biosign export-evidence`) and its offline verifier
//! (`biosign verify-evidence`): one ZIP holding a sign's events, blobs and timestamp token, and
//! the checks anyone can run on it with no network and no store. docs/evidence.md states the
//! rules; `VERIFY.md` (inside every package) gives the same checks as shell commands.
//!
//! The verifier reads events as JSON by the documented rules, not through this project's event
//! type: it checks what a stranger's verifier would.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use biosign_shared::canonical::{self, sha256_hex};
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::ImageFormat;
use biosign_shared::response::GetSignResponse;
use biosign_shared::store::{BlobStore, SignAdmin};
use biosign_shared::time::{self, Timestamp};
use biosign_shared::timestamp::{self, SignerTrust, TrustedCerts};
use serde_json::{Map, Value, json};

/// The package format this tool writes and reads.
pub const FORMAT: &str = "biosign-evidence/1";

pub const MANIFEST: &str = "manifest.json";
pub const EVENTS: &str = "events.jsonl";
pub const BIOMETRIC_DATA: &str = "biometric_data.p7m";
pub const TIMESTAMP_TOKEN: &str = "timestamp.tsr";
pub const VERIFY_MD: &str = "VERIFY.md";
/// The certificates of `TSA_CERTS` where the package was exported, as that file was.
pub const TSA_CERTS_ENTRY: &str = "tsa/tsa_certs.pem";

/// How to check a package with `sha256sum`, `jq` and `openssl` alone (the same for every package).
pub const VERIFY_TEMPLATE: &str = include_str!("VERIFY.md");

/// A package larger than this (uncompressed, all entries) is not one this tool wrote: a sign's
/// blobs are bounded by the API's body limit.
const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// The image's entry name for a format.
pub fn image_entry(format: ImageFormat) -> String {
    format!("signature_image.{}", format.extension())
}

/// Where the sign function stores a timestamp token (defined with the service that writes it).
pub use biosign_shared::timestamp::timestamp_token_key;

/// A package's entries by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub entries: BTreeMap<String, Vec<u8>>,
}

/// A name this tool may write or read: relative, no `..`, plain characters, so that unzipping a
/// package anywhere stays inside the target folder.
fn is_safe_entry_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

impl Package {
    /// Reads a ZIP. Fails (the verifier's exit 1) if it is not one, is too large, or names an
    /// entry outside its folder.
    pub fn from_zip(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).context("not a ZIP archive")?;
        let mut entries = BTreeMap::new();
        let mut total = 0u64;
        for index in 0..archive.len() {
            let mut file = archive.by_index(index).context("reading the ZIP")?;
            if file.is_dir() {
                continue;
            }
            let name = file.name().to_owned();
            if !is_safe_entry_name(&name) {
                bail!("the entry name {name:?} is not a plain relative path");
            }
            let mut content = Vec::new();
            (&mut file)
                .take(MAX_PACKAGE_BYTES - total + 1)
                .read_to_end(&mut content)
                .with_context(|| format!("reading {name}"))?;
            total += content.len() as u64;
            if total > MAX_PACKAGE_BYTES {
                bail!("the package holds more than {MAX_PACKAGE_BYTES} bytes");
            }
            if entries.insert(name.clone(), content).is_some() {
                bail!("the entry {name} appears twice");
            }
        }
        Ok(Self { entries })
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        Self::from_zip(&bytes).with_context(|| format!("{}", path.display()))
    }

    /// The ZIP, entries in name order, deflated, with the ZIP format's fixed default time (so
    /// the same entries give the same bytes).
    pub fn to_zip(&self) -> anyhow::Result<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        for (name, content) in &self.entries {
            if !is_safe_entry_name(name) {
                bail!("the entry name {name:?} is not a plain relative path");
            }
            writer.start_file(name.as_str(), options)?;
            writer.write_all(content)?;
        }
        Ok(writer.finish()?.into_inner())
    }

    /// Writes the ZIP to a new file; an existing file is never replaced.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = self.to_zip()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Writes every entry under `dir` (as `unzip` would), for the shell checks of `VERIFY.md`.
    pub fn unpack(&self, dir: &Path) -> anyhow::Result<()> {
        for (name, content) in &self.entries {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content).with_context(|| format!("{}", path.display()))?;
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(Vec::as_slice)
    }
}

/// What goes into a package, gathered from a store (or built by tests).
#[derive(Debug, Clone)]
pub struct Contents {
    /// The sign as `GetSignResponse` shows it.
    pub sign: Value,
    /// Every event in `seq` order, each in canonical form.
    pub events: Vec<Vec<u8>>,
    pub image: Option<(ImageFormat, Vec<u8>)>,
    /// The sealed biometric data, exactly as stored.
    pub biometric_data: Option<Vec<u8>>,
    /// The stored `TimeStampResp`.
    pub timestamp_token: Option<Vec<u8>>,
    /// The PEM file of `TSA_CERTS`, as it is.
    pub tsa_certs_pem: Option<Vec<u8>>,
}

/// The package of `contents`: the entries, and a manifest listing each one's SHA-256.
pub fn build_package(contents: Contents, exported_at: Timestamp) -> anyhow::Result<Package> {
    let mut entries = BTreeMap::new();
    let mut events = Vec::new();
    for line in &contents.events {
        events.extend_from_slice(line);
        events.push(b'\n');
    }
    let chain_sha256 = contents.events.last().map(|line| sha256_hex(line));
    entries.insert(EVENTS.to_owned(), events);
    if let Some((format, bytes)) = contents.image {
        entries.insert(image_entry(format), bytes);
    }
    if let Some(bytes) = contents.biometric_data {
        entries.insert(BIOMETRIC_DATA.to_owned(), bytes);
    }
    if let Some(bytes) = contents.timestamp_token {
        entries.insert(TIMESTAMP_TOKEN.to_owned(), bytes);
    }
    if let Some(pem) = contents.tsa_certs_pem {
        entries.insert(TSA_CERTS_ENTRY.to_owned(), pem);
    }
    entries.insert(VERIFY_MD.to_owned(), VERIFY_TEMPLATE.as_bytes().to_vec());
    let digests: Map<String, Value> = entries
        .iter()
        .map(|(name, content)| (name.clone(), Value::String(sha256_hex(content))))
        .collect();
    let manifest = json!({
        "format": FORMAT,
        "exported_at": time::format(&exported_at),
        "sign": contents.sign,
        "events": contents.events.len(),
        "chain_sha256": chain_sha256,
        "entries": digests,
    });
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    entries.insert(MANIFEST.to_owned(), text);
    Ok(Package { entries })
}

/// `biosign export-evidence`: the package of one sign, from either store. `tsa_certs` is the
/// `TSA_CERTS` file of this environment, copied in for the reader's information.
pub async fn export_evidence<S: SignAdmin, B: BlobStore>(
    signs: &S,
    blobs: &B,
    org: &str,
    sign_id: &str,
    tsa_certs: Option<&Path>,
) -> anyhow::Result<Package> {
    let org = OrgId::parse(org).map_err(|e| anyhow::anyhow!("--org: {}", e.details()))?;
    let sign_id =
        SignId::parse(sign_id).map_err(|e| anyhow::anyhow!("--sign-id: {}", e.details()))?;
    let key = SignKey::new(org, sign_id);
    let record = signs
        .get_sign(&key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no sign {} in org {}", key.sign_id, key.org_id))?;
    let events = signs.list_events(&key).await?;
    if events.is_empty() {
        bail!("the sign has no evidence events yet: there is nothing to export");
    }
    let events = events
        .iter()
        .map(|event| canonical::to_vec(event).context("an event has no canonical form"))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let fetch = |blob_key: String| async move {
        match blobs.get(&blob_key).await? {
            Some(blob) => Ok(blob.bytes.to_vec()),
            None => bail!("the blob {blob_key} the sign refers to is missing from the store"),
        }
    };
    let (image, biometric_data) = match (&record.blobs, &record.signature) {
        (Some(keys), Some(summary)) => (
            Some((
                summary.image_format,
                fetch(keys.signature_image.clone()).await?,
            )),
            Some(fetch(keys.biometric_data.clone()).await?),
        ),
        _ => (None, None),
    };
    let mut timestamp_token = None;
    for event in &events {
        let fields = serde_json::from_slice::<Map<String, Value>>(event)?;
        if fields.get("event_type") == Some(&json!("TIMESTAMP")) {
            let token_sha256 = fields
                .get("token_sha256")
                .and_then(Value::as_str)
                .context("a TIMESTAMP event without token_sha256")?;
            timestamp_token = Some(fetch(timestamp_token_key(&key, token_sha256)).await?);
        }
    }
    let tsa_certs_pem = tsa_certs
        .map(|path| std::fs::read(path).with_context(|| format!("{}", path.display())))
        .transpose()?;
    let now = time::now();
    let sign = serde_json::to_value(GetSignResponse::from_record(&record, now))?;
    build_package(
        Contents {
            sign,
            events,
            image,
            biometric_data,
            timestamp_token,
            tsa_certs_pem,
        },
        now,
    )
}

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    /// Nothing to check (no SIGN event, no token, no CA given).
    Skip,
}

/// One line of the verifier's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub check: &'static str,
    pub outcome: Outcome,
    pub detail: String,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outcome = match self.outcome {
            Outcome::Ok => "OK",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        write!(f, "{outcome:<4} {}: {}", self.check, self.detail)
    }
}

/// The verifier's findings, one line per check, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<CheckLine>,
}

/// The names of the checks, as printed (and as `VERIFY.md` names its blocks).
pub mod checks {
    pub const ENTRIES: &str = "entries";
    pub const CHAIN: &str = "chain";
    pub const MANIFEST: &str = "manifest";
    pub const SIGNATURE_IMAGE: &str = "signature_image";
    pub const BIOMETRIC_DATA: &str = "biometric_data";
    pub const TIMESTAMP: &str = "timestamp";
    pub const TSA_CHAIN: &str = "tsa_chain";
    pub const ALL: [&str; 7] = [
        ENTRIES,
        CHAIN,
        MANIFEST,
        SIGNATURE_IMAGE,
        BIOMETRIC_DATA,
        TIMESTAMP,
        TSA_CHAIN,
    ];
}

impl Report {
    pub fn passed(&self) -> bool {
        self.lines.iter().all(|line| line.outcome != Outcome::Fail)
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.lines
            .iter()
            .filter(|line| line.outcome == Outcome::Fail)
            .map(|line| line.check)
            .collect()
    }
}

type Check = Result<(Outcome, String), String>;

fn ok(detail: impl Into<String>) -> Check {
    Ok((Outcome::Ok, detail.into()))
}

fn skip(detail: impl Into<String>) -> Check {
    Ok((Outcome::Skip, detail.into()))
}

/// One event as read from `events.jsonl`.
struct Event {
    fields: Map<String, Value>,
    sha256: String,
}

impl Event {
    fn str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    fn event_type(&self) -> Option<&str> {
        self.str("event_type")
    }

    fn seq(&self) -> u64 {
        self.fields.get("seq").and_then(Value::as_u64).unwrap_or(0)
    }

    /// A field of the SIGN event's `signature` object.
    fn signature_field(&self, name: &str) -> Option<&Value> {
        self.fields.get("signature").and_then(|s| s.get(name))
    }
}

/// Reads `events.jsonl`: the events up to the first line that is not a canonical event, and
/// whether the file is a valid chain (see [`check_links`]). Later checks run on the events read
/// even when the chain is broken, so that each check reports on its own part.
fn read_chain(text: &[u8]) -> (Vec<Event>, Result<(), String>) {
    let Some(body) = text.strip_suffix(b"\n") else {
        return (
            Vec::new(),
            Err("events.jsonl is empty or does not end with a newline".into()),
        );
    };
    let mut events = Vec::new();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        match canonical::parse_canonical_object(line) {
            Ok(fields) => events.push(Event {
                fields,
                sha256: sha256_hex(line),
            }),
            Err(e) => {
                let error = format!("line {} is not a canonical event: {e}", index + 1);
                return (events, Err(error));
            }
        }
    }
    let links = check_links(&events);
    (events, links)
}

/// `seq` 1, 2, … in line order, each event linked to its predecessor, one sign throughout, at
/// most one SIGN, TIMESTAMP only after it. Names the first break.
fn check_links(events: &[Event]) -> Result<(), String> {
    let mut previous: Option<&Event> = None;
    let mut signed = false;
    for (index, event) in events.iter().enumerate() {
        let n = index as u64 + 1;
        if event.seq() != n {
            return Err(format!(
                "line {n} holds seq {}: events are missing or out of order",
                event.fields.get("seq").unwrap_or(&Value::Null)
            ));
        }
        let expected_link = previous.map_or(Value::Null, |e| Value::String(e.sha256.clone()));
        if event.fields.get("prev_event_sha256") != Some(&expected_link) {
            return Err(format!(
                "event {n} does not link to event {}: one of them was changed",
                n - 1
            ));
        }
        match event.event_type() {
            Some("PREVIEW") => {}
            Some("SIGN") if signed => return Err(format!("event {n} is a second SIGN")),
            Some("SIGN") => signed = true,
            Some("TIMESTAMP") if !signed => {
                return Err(format!("event {n} is a TIMESTAMP before any SIGN"));
            }
            Some("TIMESTAMP") => {}
            other => return Err(format!("event {n} has an unknown event_type {other:?}")),
        }
        if let Some(first) = events.first() {
            for id in ["org_id", "sign_id"] {
                if event.fields.get(id) != first.fields.get(id) {
                    return Err(format!("event {n} has another {id} than event 1"));
                }
            }
        }
        previous = Some(event);
    }
    Ok(())
}

fn manifest_str<'m>(manifest: &'m Value, pointer: &str) -> Option<&'m str> {
    manifest.pointer(pointer).and_then(Value::as_str)
}

fn check_entries(package: &Package, manifest: Option<&Value>) -> Check {
    let manifest = manifest.ok_or("manifest.json is missing or not JSON")?;
    let listed = manifest
        .get("entries")
        .and_then(Value::as_object)
        .ok_or("the manifest has no entries object")?;
    for (name, digest) in listed {
        let content = package
            .get(name)
            .ok_or_else(|| format!("{name} is listed but not in the package"))?;
        if digest.as_str() != Some(sha256_hex(content).as_str()) {
            return Err(format!("{name} does not match its SHA-256 in the manifest"));
        }
    }
    if let Some(extra) = package
        .entries
        .keys()
        .find(|name| *name != MANIFEST && !listed.contains_key(*name))
    {
        return Err(format!("{extra} is in the package but not in the manifest"));
    }
    for required in [EVENTS, VERIFY_MD] {
        if !listed.contains_key(required) {
            return Err(format!("{required} is missing"));
        }
    }
    ok(format!("{} entries match the manifest", listed.len()))
}

fn check_chain(package: &Package, manifest: Option<&Value>) -> (Check, Vec<Event>) {
    let Some(text) = package.get(EVENTS) else {
        return (Err("events.jsonl is missing".into()), Vec::new());
    };
    let (events, links) = read_chain(text);
    let head = events.last().map(|e| e.sha256.clone()).unwrap_or_default();
    let check = match (
        links,
        manifest.and_then(|m| manifest_str(m, "/chain_sha256")),
    ) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(recorded)) if recorded == head => ok(format!(
            "{} events, each linked to the one before; head {head}",
            events.len()
        )),
        (Ok(()), Some(_)) => Err(format!(
            "the chain head {head} is not the manifest's chain_sha256: events were removed, added or changed"
        )),
        (Ok(()), None) => Err("the manifest records no chain_sha256".into()),
    };
    (check, events)
}

/// The manifest's account of the sign agrees with the chain: format, ids, signature digests,
/// status, and the receipt (`evidence`) when it has one.
fn check_manifest(manifest: Option<&Value>, events: &[Event]) -> Check {
    let manifest = manifest.ok_or("manifest.json is missing or not JSON")?;
    if manifest_str(manifest, "/format") != Some(FORMAT) {
        return Err(format!("the format is not {FORMAT}"));
    }
    let first = events.first().ok_or("no chain to compare with")?;
    for id in ["org_id", "sign_id"] {
        if manifest.pointer(&format!("/sign/{id}")) != first.fields.get(id) {
            return Err(format!("the sign's {id} is not the events'"));
        }
    }
    let sign_event = events.iter().find(|e| e.event_type() == Some("SIGN"));
    match sign_event {
        Some(sign) => {
            for field in ["image_sha256", "biometric_data_sha256"] {
                if manifest.pointer(&format!("/sign/signature/{field}"))
                    != sign.signature_field(field)
                {
                    return Err(format!(
                        "the sign's signature.{field} is not the SIGN event's"
                    ));
                }
            }
            if manifest_str(manifest, "/sign/status") != Some("SIGNED") {
                return Err("the chain has a SIGN event but the sign is not SIGNED".into());
            }
        }
        None => {
            if manifest_str(manifest, "/sign/status") == Some("SIGNED") {
                return Err("the sign is SIGNED but the chain has no SIGN event".into());
            }
        }
    }
    if let Some(receipt) = manifest.pointer("/sign/evidence").filter(|r| !r.is_null()) {
        let timestamp = events.iter().find(|e| e.event_type() == Some("TIMESTAMP"));
        let expected = json!({
            "events": events.len(),
            "chain_sha256": events.last().map(|e| e.sha256.clone()),
            "timestamped_at": timestamp.and_then(|t| t.fields.get("gen_time")).cloned().unwrap_or(Value::Null),
        });
        if receipt != &expected {
            return Err(format!(
                "the sign's evidence receipt {receipt} is not the chain's {expected}"
            ));
        }
        if manifest.get("chain_sha256") != receipt.get("chain_sha256") {
            return Err("the manifest's chain_sha256 is not the receipt's".into());
        }
    }
    ok("the sign's ids, signature digests, status and receipt agree with the chain")
}

fn sign_event(events: &[Event]) -> Option<&Event> {
    events.iter().find(|e| e.event_type() == Some("SIGN"))
}

fn check_image(package: &Package, events: &[Event]) -> Check {
    let Some(sign) = sign_event(events) else {
        return skip("no SIGN event");
    };
    let format = match sign.signature_field("image_format").and_then(Value::as_str) {
        Some("png") => ImageFormat::Png,
        Some("jpeg") => ImageFormat::Jpeg,
        other => return Err(format!("the SIGN event's image_format is {other:?}")),
    };
    let name = image_entry(format);
    let image = package
        .get(&name)
        .ok_or_else(|| format!("{name} is missing"))?;
    let expected = sign
        .signature_field("image_sha256")
        .and_then(Value::as_str)
        .ok_or("the SIGN event records no image_sha256")?;
    if sha256_hex(image) != expected {
        return Err(format!("{name} is not the image the SIGN event records"));
    }
    ok(format!(
        "{name} is the image of the SIGN event (seq {})",
        sign.seq()
    ))
}

fn check_biometric_data(package: &Package, events: &[Event]) -> Check {
    let Some(sign) = sign_event(events) else {
        return skip("no SIGN event");
    };
    let envelope = package
        .get(BIOMETRIC_DATA)
        .ok_or_else(|| format!("{BIOMETRIC_DATA} is missing"))?;
    let expected = sign
        .signature_field("biometric_envelope_sha256")
        .and_then(Value::as_str)
        .ok_or("the SIGN event records no biometric_envelope_sha256")?;
    if sha256_hex(envelope) != expected {
        return Err(format!(
            "{BIOMETRIC_DATA} is not the sealed data the SIGN event records"
        ));
    }
    ok(format!(
        "{BIOMETRIC_DATA} is the sealed data of the SIGN event (seq {})",
        sign.seq()
    ))
}

fn timestamp_event(events: &[Event]) -> Result<Option<&Event>, String> {
    let mut timestamps = events
        .iter()
        .filter(|e| e.event_type() == Some("TIMESTAMP"));
    let first = timestamps.next();
    if timestamps.next().is_some() {
        return Err("the chain has more than one TIMESTAMP event".into());
    }
    Ok(first)
}

/// The token: its own signature, its imprint = the SIGN event's digest (the chain head right
/// after it), and the TIMESTAMP event's account of it.
fn check_timestamp(package: &Package, events: &[Event]) -> Check {
    let event = timestamp_event(events)?;
    let token = package.get(TIMESTAMP_TOKEN);
    let (event, token) = match (event, token) {
        (None, None) => return skip("the sign has no TIMESTAMP event"),
        (None, Some(_)) => return Err(format!("{TIMESTAMP_TOKEN} without a TIMESTAMP event")),
        (Some(_), None) => return Err(format!("a TIMESTAMP event without {TIMESTAMP_TOKEN}")),
        (Some(event), Some(token)) => (event, token),
    };
    if event.str("token_sha256") != Some(sha256_hex(token).as_str()) {
        return Err(format!(
            "{TIMESTAMP_TOKEN} is not the token the TIMESTAMP event records"
        ));
    }
    let facts = timestamp::verify_response(token, SignerTrust::TokenCertificate)
        .map_err(|e| e.to_string())?;
    let sign = sign_event(events).ok_or("no SIGN event")?;
    let imprint = hex::encode(facts.imprint);
    if imprint != sign.sha256 {
        return Err(format!(
            "the token timestamps {imprint}, not the SIGN event's digest {}",
            sign.sha256
        ));
    }
    let gen_time = time::format(&facts.gen_time);
    let recorded = [
        ("imprint", imprint.as_str()),
        ("gen_time", gen_time.as_str()),
        ("tsa_name", facts.tsa_name.as_str()),
    ];
    for (field, value) in recorded {
        if event.str(field) != Some(value) {
            return Err(format!(
                "the TIMESTAMP event's {field} is not the token's ({value})"
            ));
        }
    }
    ok(format!(
        "{} saw the chain head of the SIGN event (seq {}) at {gen_time}",
        facts.tsa_name,
        sign.seq()
    ))
}

fn check_tsa_chain(package: &Package, events: &[Event], tsa_ca: Option<&TrustedCerts>) -> Check {
    let Some(token) = package.get(TIMESTAMP_TOKEN) else {
        return skip("no token");
    };
    let Some(anchors) = tsa_ca else {
        return skip("who signed the token is not judged: pass --tsa-ca FILE (the TSA's CA)");
    };
    let facts = timestamp::verify_response(token, SignerTrust::Anchors(anchors))
        .map_err(|e| e.to_string())?;
    // As `openssl ts -verify -digest` does: the chain is judged for the token of this sign.
    let sign = sign_event(events).ok_or("no SIGN event")?;
    if hex::encode(facts.imprint) != sign.sha256 {
        return Err("the token does not timestamp the SIGN event's digest".into());
    }
    ok(format!(
        "{} chains to a certificate of --tsa-ca",
        facts.signer
    ))
}

/// `biosign verify-evidence`: every check, offline.
pub fn verify_package(package: &Package, tsa_ca: Option<&TrustedCerts>) -> Report {
    let manifest: Option<Value> = package
        .get(MANIFEST)
        .and_then(|bytes| serde_json::from_slice(bytes).ok());
    let manifest = manifest.as_ref();
    let (chain, events) = check_chain(package, manifest);
    let results = [
        (checks::ENTRIES, check_entries(package, manifest)),
        (checks::CHAIN, chain),
        (checks::MANIFEST, check_manifest(manifest, &events)),
        (checks::SIGNATURE_IMAGE, check_image(package, &events)),
        (
            checks::BIOMETRIC_DATA,
            check_biometric_data(package, &events),
        ),
        (checks::TIMESTAMP, check_timestamp(package, &events)),
        (checks::TSA_CHAIN, check_tsa_chain(package, &events, tsa_ca)),
    ];
    let lines = results
        .into_iter()
        .map(|(check, result)| {
            let (outcome, detail) = result.unwrap_or_else(|detail| (Outcome::Fail, detail));
            CheckLine {
                check,
                outcome,
                detail,
            }
        })
        .collect();
    Report { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_entry_is_named_as_the_contract_lists_it() {
        // The contract's package table (evidence.md): `signature_image.png` / `.jpg`.
        assert_eq!(image_entry(ImageFormat::Png), "signature_image.png");
        assert_eq!(image_entry(ImageFormat::Jpeg), "signature_image.jpg");
    }

    #[test]
    fn entry_names_stay_inside_the_package() {
        for good in ["manifest.json", "tsa/tsa_certs.pem", "signature_image.png"] {
            assert!(is_safe_entry_name(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a b",
            "a\\b",
            "ü",
        ] {
            assert!(!is_safe_entry_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_zip_round_trips_and_garbage_is_not_a_package() {
        let package = Package {
            entries: BTreeMap::from([
                ("a.txt".to_owned(), b"alpha".to_vec()),
                ("tsa/b.pem".to_owned(), vec![0u8; 10_000]),
            ]),
        };
        let zip = package.to_zip().unwrap();
        assert_eq!(Package::from_zip(&zip).unwrap(), package);
        assert_eq!(
            package.to_zip().unwrap(),
            zip,
            "the same entries give the same bytes"
        );
        let error = Package::from_zip(b"PK not really").unwrap_err();
        assert!(error.to_string().contains("not a ZIP"), "{error}");
        let unsafe_name = Package {
            entries: BTreeMap::from([("../evil".to_owned(), Vec::new())]),
        };
        assert!(unsafe_name.to_zip().is_err());
    }

    #[test]
    fn a_package_is_read_up_to_256_mib_in_all_and_refused_beyond() {
        // Twice what the largest sign can store: read whole.
        let large = Package {
            entries: BTreeMap::from([(
                "biometric_data.p7m".to_owned(),
                (0..2 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect(),
            )]),
        };
        assert_eq!(Package::from_zip(&large.to_zip().unwrap()).unwrap(), large);
        // Exactly the limit, in two entries: read whole.
        let half = 128 * 1024 * 1024;
        let at_the_limit = Package {
            entries: BTreeMap::from([
                ("a".to_owned(), vec![0; half]),
                ("b".to_owned(), vec![0; half]),
            ]),
        };
        assert_eq!(
            Package::from_zip(&at_the_limit.to_zip().unwrap()).unwrap(),
            at_the_limit
        );
        // A ZIP of a few hundred kilobytes that unzips to one byte more than the limit (a zip
        // bomb): refused, without holding more than the limit.
        let bomb = Package {
            entries: BTreeMap::from([
                ("a".to_owned(), vec![0; half]),
                ("b".to_owned(), vec![0; half + 1]),
            ]),
        }
        .to_zip()
        .unwrap();
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        let error = Package::from_zip(&bomb).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the package holds more than 268435456 bytes"
        );
    }

    fn event(seq: u64, event_type: &str, prev: Option<&str>) -> Vec<u8> {
        canonical::to_vec(&json!({
            "seq": seq, "event_type": event_type, "org_id": "acme", "sign_id": "s",
            "recorded_at": "2026-11-27T10:00:00.000Z", "prev_event_sha256": prev,
        }))
        .unwrap()
    }

    /// `event` with more fields.
    fn event_with(seq: u64, event_type: &str, prev: Option<&str>, extra: Value) -> Vec<u8> {
        let mut fields: Map<String, Value> =
            serde_json::from_slice(&event(seq, event_type, prev)).unwrap();
        fields.extend(extra.as_object().unwrap().clone());
        canonical::to_vec(&fields).unwrap()
    }

    #[test]
    fn the_manifest_must_tell_the_chains_story() {
        let manifest = |status: &str, events: &[Event], receipt: Value| {
            let mut sign =
                json!({"org_id": "acme", "sign_id": "s", "status": status, "evidence": receipt});
            if let Some(signed) = events.iter().find(|e| e.event_type() == Some("SIGN")) {
                sign["signature"] = signed.fields["signature"].clone();
            }
            json!({"format": FORMAT, "chain_sha256": events.last().unwrap().sha256, "sign": sign})
        };
        let verdict =
            |manifest: &Value, events: &[Event]| check_manifest(Some(manifest), events).map(|_| ());

        // Only previewed: pending, no receipt.
        let preview = event(1, "PREVIEW", None);
        let (previewed, _) = read_chain(&chain_text(std::slice::from_ref(&preview)));
        assert_eq!(
            verdict(&manifest("PENDING", &previewed, Value::Null), &previewed),
            Ok(())
        );
        assert_eq!(
            verdict(&manifest("SIGNED", &previewed, Value::Null), &previewed),
            Err("the sign is SIGNED but the chain has no SIGN event".into())
        );

        // Signed and timestamped: the receipt counts the events, names the head and the time.
        let signature = json!({"signature": {"image_sha256": "aa", "biometric_data_sha256": "bb"}});
        let sign = event_with(2, "SIGN", Some(&sha256_hex(&preview)), signature);
        let stamp = event_with(
            3,
            "TIMESTAMP",
            Some(&sha256_hex(&sign)),
            json!({"gen_time": "2026-11-27T10:00:01.000Z"}),
        );
        let (events, links) = read_chain(&chain_text(&[preview, sign, stamp]));
        assert_eq!(links, Ok(()));
        let receipt = json!({
            "events": 3,
            "chain_sha256": events[2].sha256,
            "timestamped_at": "2026-11-27T10:00:01.000Z",
        });
        let good = manifest("SIGNED", &events, receipt.clone());
        assert_eq!(verdict(&good, &events), Ok(()));
        for (pointer, value, expected) in [
            (
                "/sign/evidence/events",
                json!(2),
                "the sign's evidence receipt",
            ),
            (
                "/sign/evidence/timestamped_at",
                Value::Null,
                "the sign's evidence receipt",
            ),
            (
                "/sign/status",
                json!("PENDING"),
                "the chain has a SIGN event but the sign is not SIGNED",
            ),
            (
                "/sign/signature/image_sha256",
                json!("ab"),
                "the sign's signature.image_sha256 is not the SIGN event's",
            ),
            (
                "/chain_sha256",
                json!("00"),
                "the manifest's chain_sha256 is not the receipt's",
            ),
        ] {
            let mut changed = good.clone();
            *changed.pointer_mut(pointer).unwrap() = value;
            let error = verdict(&changed, &events).unwrap_err();
            assert!(error.starts_with(expected), "{pointer}: {error}");
        }
    }

    fn chain_text(lines: &[Vec<u8>]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    }

    #[test]
    fn the_chain_reads_in_order_and_names_the_first_break() {
        let first = event(1, "PREVIEW", None);
        let second = event(2, "PREVIEW", Some(&sha256_hex(&first)));
        let (events, links) = read_chain(&chain_text(&[first.clone(), second.clone()]));
        assert_eq!(links, Ok(()));
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].sha256, sha256_hex(&second));
        // A whole lifecycle: previews, the signature, its timestamp.
        let signed = event(3, "SIGN", Some(&sha256_hex(&second)));
        let stamped = event(4, "TIMESTAMP", Some(&sha256_hex(&signed)));
        let lifecycle = [first.clone(), second.clone(), signed.clone(), stamped];
        assert_eq!(read_chain(&chain_text(&lifecycle)).1, Ok(()));

        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "does not end with a newline"),
            (first.clone(), "does not end with a newline"),
            (
                chain_text(std::slice::from_ref(&second)),
                "line 1 holds seq 2",
            ),
            (
                chain_text(&[second.clone(), first.clone()]),
                "line 1 holds seq 2",
            ),
            (
                chain_text(&[first.clone(), event(2, "PREVIEW", Some("00"))]),
                "event 2 does not link to event 1",
            ),
            (
                chain_text(&[
                    first.clone(),
                    event(2, "TIMESTAMP", Some(&sha256_hex(&first))),
                ]),
                "TIMESTAMP before any SIGN",
            ),
            (
                chain_text(&[
                    first.clone(),
                    second.clone(),
                    signed.clone(),
                    event(4, "SIGN", Some(&sha256_hex(&signed))),
                ]),
                "event 4 is a second SIGN",
            ),
            (
                chain_text(&[first.clone(), event(2, "REFUND", Some(&sha256_hex(&first)))]),
                "unknown event_type",
            ),
            (
                chain_text(&[b"{\"seq\": 1}".to_vec()]),
                "line 1 is not a canonical event",
            ),
            (
                chain_text(&[first.clone(), Vec::new()]),
                "line 2 is not a canonical event",
            ),
        ];
        for (text, expected) in cases {
            let error = read_chain(&text).1.err().unwrap_or_default();
            assert!(error.contains(expected), "{expected:?} in {error:?}");
        }
    }

    #[test]
    fn the_chain_must_end_at_the_head_the_manifest_records() {
        let first = event(1, "PREVIEW", None);
        let second = event(2, "PREVIEW", Some(&sha256_hex(&first)));
        let head = sha256_hex(&second);
        let package = Package {
            entries: BTreeMap::from([(EVENTS.to_owned(), chain_text(&[first, second]))]),
        };
        let manifest = |chain_sha256: &str| json!({ "chain_sha256": chain_sha256 });
        assert_eq!(
            check_chain(&package, Some(&manifest(&head))).0,
            ok(format!(
                "2 events, each linked to the one before; head {head}"
            ))
        );
        // The last event removed, or one added, leaves every link intact: only the head tells.
        let other = "0".repeat(64);
        assert_eq!(
            check_chain(&package, Some(&manifest(&other))).0,
            Err(format!(
                "the chain head {head} is not the manifest's chain_sha256: events were removed, added or changed"
            ))
        );
        assert_eq!(
            check_chain(&package, Some(&json!({}))).0,
            Err("the manifest records no chain_sha256".into())
        );
    }

    #[test]
    fn report_lines_read_as_one_line_per_check() {
        let line = CheckLine {
            check: checks::CHAIN,
            outcome: Outcome::Fail,
            detail: "event 2 does not link to event 1".into(),
        };
        assert_eq!(
            line.to_string(),
            "FAIL chain: event 2 does not link to event 1"
        );
        let report = Report {
            lines: vec![
                line,
                CheckLine {
                    check: checks::TSA_CHAIN,
                    outcome: Outcome::Skip,
                    detail: String::new(),
                },
            ],
        };
        assert!(!report.passed());
        assert_eq!(report.failed(), ["chain"]);
    }
}
