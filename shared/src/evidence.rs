//! The evidence trail: one append-only event per accepted preview or signature, and one for the
//! signature's trusted timestamp, hash-chained.
//!
//! Each event stores the SHA-256 of its predecessor's canonical form (its RFC 8785 serialisation,
//! see [`crate::canonical`] and docs/evidence.md), and the sign record stores the digest of the
//! last event and the event count. A changed event breaks the next link (or the head); a removed
//! one leaves a gap in `seq` or a count that does not match.

use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::ids::{OrgId, SignId};
use crate::model::{SignRecord, SignatureSummary};
use crate::seal::SealEvidence;
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Preview,
    Sign,
    /// The TSA's token for the chain head right after the SIGN event.
    Timestamp,
}

/// A device's position in integer units of 10⁻⁷ degree: an event holds no fractions, so that any
/// JSON library reproduces its canonical bytes (docs/evidence.md, "Value shapes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub lat_e7: i32,
    pub lon_e7: i32,
}

impl Location {
    /// Degrees (latitude within ±90, longitude within ±180) rounded to the nearest 10⁻⁷ degree
    /// (about a centimetre: finer than any device reports).
    pub fn from_degrees(lat: f64, lon: f64) -> Self {
        // Within ±1 800 000 000, so the casts are exact.
        let e7 = |degrees: f64| (degrees * 1e7).round() as i32;
        Self {
            lat_e7: e7(lat),
            lon_e7: e7(lon),
        }
    }
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

/// What a TIMESTAMP event records of the TSA's checked token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampEvidence {
    /// Hex SHA-256 of the `TimeStampResp` as received (and stored).
    pub token_sha256: String,
    /// The token's `genTime`, to the millisecond.
    pub gen_time: Timestamp,
    pub tsa_name: String,
    /// Hex of the digest the TSA signed: the SIGN event's digest.
    pub imprint: String,
}

/// One event. PREVIEW and SIGN events hold the request fields (`installation_id`, `fingerprint`,
/// `request_id` always; `location`, `client_ip`, `user_agent` when known; `signature` in SIGN
/// only); a TIMESTAMP event holds the token fields instead. A field without a value is absent
/// from the JSON, never `null` (except `prev_event_sha256`, which the chain's rules fix), so the
/// stores (DynamoDB, SQLite, memory) and the canonical form agree on one shape.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureSummary>,
    /// For a SIGN event: the stored envelope's digest and the certificates it was sealed for.
    /// Absent from other events (and so from their canonical form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealEvidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    #[serde(
        with = "time::rfc3339_ms::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub gen_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
    /// Hex SHA-256 of the previous event's canonical form; `None` (JSON `null`) for the first.
    pub prev_event_sha256: Option<String>,
}

impl EvidenceEvent {
    fn first_fields(sign: &SignRecord, event_type: EventType, now: Timestamp) -> Self {
        Self {
            org_id: sign.org_id.clone(),
            sign_id: sign.sign_id.clone(),
            seq: sign.event_count + 1,
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type,
            recorded_at: now,
            installation_id: None,
            fingerprint: None,
            location: None,
            client_ip: None,
            user_agent: None,
            request_id: None,
            signature: None,
            sealed: None,
            token_sha256: None,
            gen_time: None,
            tsa_name: None,
            imprint: None,
            prev_event_sha256: sign.last_event_sha256.clone(),
        }
    }

    /// The next event in `sign`'s chain for a request (a PREVIEW or SIGN).
    pub fn next_for(
        sign: &SignRecord,
        event_type: EventType,
        evidence: &RequestEvidence,
        signature: Option<SignatureSummary>,
        now: Timestamp,
    ) -> Self {
        Self {
            installation_id: Some(evidence.installation_id.clone()),
            fingerprint: Some(evidence.fingerprint.clone()),
            location: evidence.location,
            client_ip: evidence.client_ip.clone(),
            user_agent: evidence.user_agent.clone(),
            request_id: Some(evidence.request_id.clone()),
            signature,
            ..Self::first_fields(sign, event_type, now)
        }
    }

    /// The TIMESTAMP event appended to `sign`'s chain for a checked token.
    pub fn timestamp_for(sign: &SignRecord, token: &TimestampEvidence, now: Timestamp) -> Self {
        Self {
            token_sha256: Some(token.token_sha256.clone()),
            gen_time: Some(token.gen_time),
            tsa_name: Some(token.tsa_name.clone()),
            imprint: Some(token.imprint.clone()),
            ..Self::first_fields(sign, EventType::Timestamp, now)
        }
    }

    /// Hex SHA-256 of the canonical (RFC 8785) form.
    pub fn sha256(&self) -> String {
        // An event holds strings, integers, nulls and objects of those: it always has a canonical
        // form (the store contract tests check every shape against `canonical::check_portable`).
        canonical::digest(self).unwrap_or_default()
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

/// Verifies `events` (in any order) against each other and against the sign's recorded head: no
/// gaps, every link, one sign throughout, previews before the one SIGN, at most one TIMESTAMP and
/// only after it.
pub fn verify_chain(sign: &SignRecord, events: &[EvidenceEvent]) -> ChainCheck {
    let broken = |reason: String| ChainCheck::Broken { reason };
    let mut ordered: Vec<&EvidenceEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.seq);
    let mut previous: Option<String> = None;
    let (mut signed, mut timestamped) = (false, false);
    for (index, event) in ordered.iter().enumerate() {
        let expected_seq = index as u64 + 1;
        if event.seq != expected_seq {
            return broken(format!("event {expected_seq} is missing"));
        }
        if event.org_id != sign.org_id || event.sign_id != sign.sign_id {
            return broken(format!("event {} belongs to another sign", event.seq));
        }
        match event.event_type {
            EventType::Preview if signed => {
                return broken(format!(
                    "event {} is a preview after the signature",
                    event.seq
                ));
            }
            EventType::Sign if signed => {
                return broken(format!("event {} is a second signature", event.seq));
            }
            EventType::Timestamp if !signed || timestamped => {
                return broken(format!(
                    "event {} is a timestamp with no signature before it, or a second one",
                    event.seq
                ));
            }
            EventType::Sign => signed = true,
            EventType::Timestamp => timestamped = true,
            EventType::Preview => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SignKey;

    /// A sign whose chain holds events of `types`, in this order, each linked to the one before
    /// and counted in the record: only the order of the types can be wrong.
    fn linked(types: &[EventType]) -> (SignRecord, Vec<EvidenceEvent>) {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        let mut sign = SignRecord::new(crate::testing::new_sign(key, time::now()));
        let evidence = RequestEvidence {
            installation_id: "inst-1".into(),
            fingerprint: "fp".into(),
            location: None,
            client_ip: None,
            user_agent: None,
            request_id: "r".into(),
        };
        let mut events = Vec::new();
        for &event_type in types {
            let event = match event_type {
                EventType::Timestamp => {
                    let token = TimestampEvidence {
                        token_sha256: "00".repeat(32),
                        gen_time: time::now(),
                        tsa_name: "CN=tsa".into(),
                        imprint: sign.last_event_sha256.clone().unwrap_or_default(),
                    };
                    EvidenceEvent::timestamp_for(&sign, &token, time::now())
                }
                _ => EvidenceEvent::next_for(&sign, event_type, &evidence, None, time::now()),
            };
            sign.event_count += 1;
            sign.last_event_sha256 = Some(event.sha256());
            events.push(event);
        }
        (sign, events)
    }

    #[test]
    fn events_in_the_lifecycles_order_verify() {
        use EventType::{Preview, Sign, Timestamp};
        for types in [
            &[Preview][..],
            &[Preview, Preview, Sign],
            &[Sign],
            &[Preview, Sign, Timestamp],
            &[Sign, Timestamp],
        ] {
            let (sign, events) = linked(types);
            assert_eq!(
                verify_chain(&sign, &events),
                ChainCheck::Valid {
                    events: types.len() as u64
                },
                "{types:?}"
            );
        }
    }

    #[test]
    fn events_record_what_they_witness() {
        let (sign, _) = linked(&[]);
        let evidence = RequestEvidence {
            installation_id: "inst-7".into(),
            fingerprint: "fp-7".into(),
            location: None,
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("tablet".into()),
            request_id: "req-7".into(),
        };
        let summary = SignatureSummary {
            image_sha256: "a".repeat(64),
            biometric_data_sha256: "b".repeat(64),
            image_format: crate::model::ImageFormat::Png,
            image_width: 300,
            image_height: 100,
            biometric: crate::capture::BiometricSummary {
                format: crate::capture::Format::Sigdata1,
                strokes: 2,
                samples: 40,
                duration_ms: 900,
                pressure: true,
                pointer_type: Some(crate::capture::PointerType::Pen),
            },
        };
        let now = time::now();
        let event = EvidenceEvent::next_for(
            &sign,
            EventType::Sign,
            &evidence,
            Some(summary.clone()),
            now,
        );
        assert_eq!(
            (
                event.installation_id.as_deref(),
                event.fingerprint.as_deref(),
                event.client_ip.as_deref(),
                event.user_agent.as_deref(),
                event.request_id.as_deref(),
            ),
            (
                Some("inst-7"),
                Some("fp-7"),
                Some("203.0.113.7"),
                Some("tablet"),
                Some("req-7")
            )
        );
        assert_eq!(event.signature, Some(summary));
        assert_eq!((event.seq, event.event_type), (1, EventType::Sign));

        let token = TimestampEvidence {
            token_sha256: "c".repeat(64),
            gen_time: now,
            tsa_name: "CN=tsa".into(),
            imprint: "d".repeat(64),
        };
        let event = EvidenceEvent::timestamp_for(&sign, &token, now);
        assert_eq!(event.token_sha256, Some(token.token_sha256));
        assert_eq!(event.gen_time, Some(now));
        assert_eq!(event.tsa_name.as_deref(), Some("CN=tsa"));
        assert_eq!(event.imprint, Some(token.imprint));
        assert_eq!(
            event.installation_id, None,
            "a timestamp witnesses no request"
        );
    }

    #[test]
    fn an_event_of_another_sign_or_org_breaks_the_chain() {
        let (sign, events) = linked(&[EventType::Preview, EventType::Sign]);
        let mut other_sign = events.clone();
        other_sign[0].sign_id = SignId::new_random();
        let mut other_org = events;
        other_org[1].org_id = OrgId::parse("globex").unwrap();
        for (events, seq) in [(other_sign, 1), (other_org, 2)] {
            assert_eq!(
                verify_chain(&sign, &events),
                ChainCheck::Broken {
                    reason: format!("event {seq} belongs to another sign")
                }
            );
        }
    }

    /// Correctly linked chains whose events break the lifecycle: each is refused, naming the
    /// event and what is wrong with it.
    #[test]
    fn events_out_of_the_lifecycles_order_are_a_broken_chain() {
        use EventType::{Preview, Sign, Timestamp};
        for (types, reason) in [
            (
                &[Sign, Preview][..],
                "event 2 is a preview after the signature",
            ),
            (
                &[Preview, Sign, Timestamp, Preview],
                "event 4 is a preview after the signature",
            ),
            (&[Sign, Sign], "event 2 is a second signature"),
            (
                &[Preview, Sign, Preview, Sign],
                "event 3 is a preview after the signature",
            ),
            (&[Sign, Timestamp, Sign], "event 3 is a second signature"),
            (
                &[Timestamp],
                "event 1 is a timestamp with no signature before it, or a second one",
            ),
            (
                &[Preview, Timestamp, Sign],
                "event 2 is a timestamp with no signature before it, or a second one",
            ),
            (
                &[Sign, Timestamp, Timestamp],
                "event 3 is a timestamp with no signature before it, or a second one",
            ),
        ] {
            let (sign, events) = linked(types);
            assert_eq!(
                verify_chain(&sign, &events),
                ChainCheck::Broken {
                    reason: reason.into()
                },
                "{types:?}"
            );
        }
    }
}
