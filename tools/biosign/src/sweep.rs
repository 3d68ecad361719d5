//! `biosign sweep-orphans`: removes the blobs that no sign record references, every version of
//! each, and reports what it removed.
//!
//! Orphans are what a failure can leave behind: an upload whose answer was lost, or an attempt
//! whose outcome the service could not establish and whose blobs it therefore kept (it removes an
//! attempt's blobs only when the stored record provably does not reference them). A blob is
//! removed only when all of this holds, checked in this order:
//! - its key has the layout the service writes, `signs/<org_id>/<sign_id>/<attempt>/<file>`;
//! - every version of it is older than the cutoff: an attempt commits within the function's
//!   timeout of writing its blobs, so an older unreferenced blob can never become referenced;
//! - the sign's record exists and, read strongly consistently, does not reference the key.
//!
//! Anything else is kept and listed: a key of another layout, or blobs whose sign record does not
//! exist (the record was purged, or the store points at the wrong table: the sweeper does not
//! guess which). A store error on one sign keeps that sign's blobs and is reported; the sweep
//! goes on with the others.

use std::collections::BTreeMap;

use anyhow::bail;
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::model::BlobKeys;
use biosign_shared::store::{BlobInventory, BlobVersion, SignReader, StoreError};
use biosign_shared::time::{self, Timestamp};
use clap::Args;
use serde::Serialize;

/// Blobs younger than this may belong to a signature being stored right now (a sign commits
/// within the function's 10 s timeout of writing them; clocks may differ by seconds).
pub const MIN_AGE: &str = "PT1M";

/// The options of `biosign sweep-orphans`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Only blobs older than this (an ISO 8601 duration, at least PT1M).
    #[arg(long, default_value = "PT1H")]
    pub older_than: String,
    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What to sweep, resolved.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Only keys under this prefix, which must lie under `signs/`.
    pub prefix: String,
    /// Only blobs all of whose versions were written before this instant.
    pub cutoff: Timestamp,
    pub dry_run: bool,
}

impl SweepArgs {
    /// The options for a sweep of the whole blob prefix, starting now.
    pub fn options(&self) -> anyhow::Result<SweepOptions> {
        let older_than = crate::duration::parse(&self.older_than)
            .map_err(|e| anyhow::anyhow!("--older-than: {e}"))?;
        let floor = crate::duration::parse(MIN_AGE).map_err(anyhow::Error::msg)?;
        if older_than < floor {
            bail!(
                "--older-than must be at least {MIN_AGE}: younger blobs may belong to a signature being stored right now"
            );
        }
        Ok(SweepOptions {
            prefix: BlobKeys::PREFIX.to_owned(),
            cutoff: time::now() - older_than,
            dry_run: self.dry_run,
        })
    }
}

/// What a sweep found and did, printed as JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub dry_run: bool,
    #[serde(with = "time::rfc3339_ms")]
    pub cutoff: Timestamp,
    pub keys_scanned: usize,
    pub versions_scanned: usize,
    /// The unreferenced blobs older than the cutoff: removed, or in a dry run to be removed.
    pub orphans: Vec<Orphan>,
    pub kept: Kept,
    /// Failures: the blobs concerned were kept (or, for a failed removal, partly kept).
    pub errors: Vec<SweepError>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Orphan {
    pub key: String,
    pub org_id: String,
    pub sign_id: String,
    pub versions: Vec<OrphanVersion>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrphanVersion {
    pub version_id: Option<String>,
    #[serde(with = "time::rfc3339_ms")]
    pub written_at: Timestamp,
    pub delete_marker: bool,
    /// Whether this run removed it (never in a dry run).
    pub removed: bool,
}

/// Keys kept, by reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Kept {
    /// Old enough, but the sign's record references them.
    pub referenced: usize,
    /// Some version is newer than the cutoff.
    pub young: usize,
    /// Old and unreferenced, but no record of their sign exists.
    pub without_sign: Vec<String>,
    /// Not the layout the service writes.
    pub unrecognised: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SweepError {
    pub key: String,
    pub error: String,
}

impl SweepReport {
    /// Every version this run removed, as `(key, version id)`.
    pub fn removed(&self) -> Vec<(&str, Option<&str>)> {
        self.orphans
            .iter()
            .flat_map(|o| {
                o.versions
                    .iter()
                    .filter(|v| v.removed)
                    .map(|v| (o.key.as_str(), v.version_id.as_deref()))
            })
            .collect()
    }

    /// The orphans' keys.
    pub fn orphan_keys(&self) -> Vec<&str> {
        self.orphans.iter().map(|o| o.key.as_str()).collect()
    }
}

/// The sign a key belongs to, if the key has the layout `BlobKeys::for_attempt` writes.
pub fn sign_of(key: &str) -> Option<SignKey> {
    let rest = key.strip_prefix(BlobKeys::PREFIX)?;
    let mut parts = rest.split('/');
    let (org, sign, attempt, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || attempt.is_empty() || file.is_empty() {
        return None;
    }
    let org = OrgId::parse(org).ok()?;
    let sign_id = SignId::parse(sign).ok()?;
    // Keys are written with the canonical (lower-case) id; another spelling is not ours.
    if sign_id.to_string() != sign {
        return None;
    }
    Some(SignKey::new(org, sign_id))
}

/// A key and every stored version of it.
type KeyVersions = (String, Vec<BlobVersion>);

/// Sweeps the orphans under `options.prefix`. Fails only when the blobs cannot be listed at all.
pub async fn sweep_orphans<S: SignReader, B: BlobInventory>(
    signs: &S,
    blobs: &B,
    options: &SweepOptions,
) -> Result<SweepReport, StoreError> {
    if !options.prefix.starts_with(BlobKeys::PREFIX) {
        return Err(StoreError::new(format!(
            "the sweep prefix {:?} is not under {}",
            options.prefix,
            BlobKeys::PREFIX
        )));
    }
    let versions = blobs.list_versions(&options.prefix).await?;
    let mut report = SweepReport {
        dry_run: options.dry_run,
        cutoff: options.cutoff,
        keys_scanned: 0,
        versions_scanned: versions.len(),
        orphans: Vec::new(),
        kept: Kept::default(),
        errors: Vec::new(),
    };
    let mut by_key: BTreeMap<String, Vec<BlobVersion>> = BTreeMap::new();
    for version in versions {
        by_key.entry(version.key.clone()).or_default().push(version);
    }
    report.keys_scanned = by_key.len();
    // Old keys, by sign, so that each sign's record is read once, just before its blobs go.
    let mut by_sign: BTreeMap<String, (SignKey, Vec<KeyVersions>)> = BTreeMap::new();
    for (key, versions) in by_key {
        let Some(sign) = sign_of(&key) else {
            report.kept.unrecognised.push(key);
            continue;
        };
        if versions.iter().any(|v| v.written_at >= options.cutoff) {
            report.kept.young += 1;
            continue;
        }
        by_sign
            .entry(sign.to_string())
            .or_insert_with(|| (sign, Vec::new()))
            .1
            .push((key, versions));
    }
    for (sign, candidates) in by_sign.into_values() {
        let record = match signs.get_sign(&sign).await {
            Ok(record) => record,
            Err(e) => {
                report
                    .errors
                    .extend(candidates.into_iter().map(|(key, _)| SweepError {
                        key,
                        error: format!("reading the sign: {e}"),
                    }));
                continue;
            }
        };
        let Some(record) = record else {
            report
                .kept
                .without_sign
                .extend(candidates.into_iter().map(|(key, _)| key));
            continue;
        };
        let referenced = |key: &str| {
            record
                .blobs
                .as_ref()
                .is_some_and(|b| b.biometric_data == key || b.signature_image == key)
        };
        for (key, versions) in candidates {
            if referenced(&key) {
                report.kept.referenced += 1;
                continue;
            }
            let mut orphan = Orphan {
                key: key.clone(),
                org_id: sign.org_id.to_string(),
                sign_id: sign.sign_id.to_string(),
                versions: Vec::new(),
            };
            for version in versions {
                let removed = if options.dry_run {
                    false
                } else {
                    match blobs.remove_version(&version).await {
                        Ok(()) => true,
                        Err(e) => {
                            report.errors.push(SweepError {
                                key: key.clone(),
                                error: format!("removing a version: {e}"),
                            });
                            false
                        }
                    }
                };
                orphan.versions.push(OrphanVersion {
                    version_id: version.version_id,
                    written_at: version.written_at,
                    delete_marker: version.delete_marker,
                    removed,
                });
            }
            report.orphans.push(orphan);
        }
    }
    if !report.orphans.is_empty() && !options.dry_run {
        tracing::info!(
            orphans = report.orphans.len(),
            versions = report.removed().len(),
            "removed orphaned blobs"
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn only_the_services_layout_names_a_sign() {
        let sign = "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10";
        let key = sign_of(&format!("signs/acme/{sign}/attempt/biometric_data.bin")).unwrap();
        assert_eq!(
            (key.org_id.as_str(), key.sign_id.to_string()),
            ("acme", sign.to_owned())
        );
        for other in [
            format!("signs/acme/{sign}/biometric_data.bin"),
            format!("signs/acme/{sign}/a/b/c"),
            format!("signs/acme/{sign}//x"),
            format!("signs/acme/{sign}/a/"),
            format!("signs/ac me/{sign}/a/x"),
            format!("signs/acme/{}/a/x", sign.to_uppercase()),
            "signs/acme/not-a-uuid/a/x".to_owned(),
            format!("other/acme/{sign}/a/x"),
        ] {
            assert!(sign_of(&other).is_none(), "{other}");
        }
    }

    #[test]
    fn the_age_floor_is_enforced() {
        let args = |older_than: &str| SweepArgs {
            older_than: older_than.into(),
            dry_run: true,
        };
        let error = args("PT59S").options().unwrap_err().to_string();
        assert!(
            error.starts_with("--older-than must be at least PT1M"),
            "{error}"
        );
        let error = args("soon").options().unwrap_err().to_string();
        assert!(error.starts_with("--older-than:"), "{error}");
        let options = args("PT1H").options().unwrap();
        assert_eq!(options.prefix, "signs/");
        assert!(options.dry_run);
        let age = time::now() - options.cutoff;
        assert!(age >= Duration::hours(1) && age < Duration::hours(2));
    }
}
