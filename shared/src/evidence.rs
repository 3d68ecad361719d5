//! The evidence trail: one append-only event per accepted preview or signature, hash-chained.
//!
//! Each event stores the SHA-256 of its predecessor's canonical form (its JSON serialisation with
//! fields in declaration order), and the sign record stores the digest of the last event and the
//! event count. A changed event breaks the next link (or the head); a removed one leaves a gap in
//! `seq` or a count that does not match.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{OrgId, SignId};
use crate::model::{SignRecord, SignatureSummary};
use crate::seal::SealEvidence;
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Preview,
    Sign,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// What the request itself tells about the device and the call, recorded with every event.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEvidence {
    pub installation_id: String,
    pub fingerprint: String,
    pub location: Option<Location>,
    /// From the gateway's request context, never from a client header.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceEvent {
    pub org_id: OrgId,
    pub sign_id: SignId,
    /// 1 for the first event of a sign, then +1 each; gaps mean a deleted event.
    pub seq: u64,
    pub event_id: String,
    pub event_type: EventType,
    #[serde(with = "time::rfc3339_ms")]
    pub recorded_at: Timestamp,
    pub installation_id: String,
    pub fingerprint: String,
    pub location: Option<Location>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
    pub signature: Option<SignatureSummary>,
    /// For a SIGN event: the stored envelope's digest and the certificates it was sealed for.
    /// Absent from other events (and so from their canonical form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealEvidence>,
    /// Hex SHA-256 of the previous event's canonical form; `None` for the first event.
    pub prev_event_sha256: Option<String>,
}

impl EvidenceEvent {
    /// The next event in `sign`'s chain.
    pub fn next_for(
        sign: &SignRecord,
        event_type: EventType,
        evidence: &RequestEvidence,
        signature: Option<SignatureSummary>,
        now: Timestamp,
    ) -> Self {
        Self {
            org_id: sign.org_id.clone(),
            sign_id: sign.sign_id.clone(),
            seq: sign.event_count + 1,
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type,
            recorded_at: now,
            installation_id: evidence.installation_id.clone(),
            fingerprint: evidence.fingerprint.clone(),
            location: evidence.location,
            client_ip: evidence.client_ip.clone(),
            user_agent: evidence.user_agent.clone(),
            request_id: evidence.request_id.clone(),
            signature,
            sealed: None,
            prev_event_sha256: sign.last_event_sha256.clone(),
        }
    }

    /// Hex SHA-256 of the canonical form.
    pub fn sha256(&self) -> String {
        // Serialising a struct of strings, numbers and options cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }
}

/// The outcome of checking a sign's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChainCheck {
    Valid { events: u64 },
    Broken { reason: String },
}

impl ChainCheck {
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// Verifies `events` (in any order) against each other and against the sign's recorded head.
pub fn verify_chain(sign: &SignRecord, events: &[EvidenceEvent]) -> ChainCheck {
    let broken = |reason: String| ChainCheck::Broken { reason };
    let mut ordered: Vec<&EvidenceEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.seq);
    let mut previous: Option<String> = None;
    for (index, event) in ordered.iter().enumerate() {
        let expected_seq = index as u64 + 1;
        if event.seq != expected_seq {
            return broken(format!("event {expected_seq} is missing"));
        }
        if event.org_id != sign.org_id || event.sign_id != sign.sign_id {
            return broken(format!("event {} belongs to another sign", event.seq));
        }
        if event.prev_event_sha256 != previous {
            return broken(format!(
                "event {} does not link to its predecessor: event {} was changed",
                event.seq,
                event.seq.saturating_sub(1)
            ));
        }
        previous = Some(event.sha256());
    }
    if ordered.len() as u64 != sign.event_count {
        return broken(format!(
            "the sign records {} events but {} are stored",
            sign.event_count,
            ordered.len()
        ));
    }
    if previous != sign.last_event_sha256 {
        return broken(format!(
            "the last event (event {}) was changed",
            sign.event_count
        ));
    }
    ChainCheck::Valid {
        events: sign.event_count,
    }
}
