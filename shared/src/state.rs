//! The sign state machine: which actions a sign's status allows, and the record and evidence
//! event each accepted action leaves behind. Pure functions of the sign as read, the request and
//! the time; `service::transition` applies them with conditional writes.
//!
//! `PENDING` → preview → `PREVIEWED` → sign → `SIGNED`; `CANCELLED` is set by the process service;
//! `EXPIRED` is derived once `expires_at` has passed on a sign neither signed nor cancelled.

use crate::ApiError;
use crate::evidence::{EventType, EvidenceEvent, RequestEvidence, TimestampEvidence};
use crate::model::{BlobKeys, SignRecord, SignStatus, SignatureSummary, StoredStatus};
use crate::seal::SealEvidence;
use crate::time::Timestamp;

/// An accepted action: the record that replaces the one read, and the evidence event appended
/// with it (none for the process service's cancel).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub sign: SignRecord,
    pub event: Option<EvidenceEvent>,
}

/// What a rule decided about the sign as read.
#[derive(Debug, Clone, PartialEq)]
// One per request and short-lived: boxing the change would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// Store this change.
    Apply(Change),
    /// The very same action was already accepted (an identical retry of a signature): answer
    /// success, store nothing.
    Unchanged,
}

impl From<Change> for Decision {
    fn from(change: Change) -> Self {
        Self::Apply(change)
    }
}

fn gone(status: SignStatus) -> ApiError {
    let why = match status {
        SignStatus::Cancelled => "the sign was cancelled",
        _ => "the sign has expired",
    };
    ApiError::Gone(format!("sign_id: {why}"))
}

/// A preview: allowed on `PENDING` and `PREVIEWED`; adds an event, and the first one moves
/// `PENDING` to `PREVIEWED`.
pub fn preview(
    sign: &SignRecord,
    evidence: &RequestEvidence,
    now: Timestamp,
) -> Result<Change, ApiError> {
    match sign.status_at(now) {
        SignStatus::Pending | SignStatus::Previewed => {}
        SignStatus::Signed => {
            return Err(ApiError::Conflict(
                "sign_id: the sign is already signed".into(),
            ));
        }
        status @ (SignStatus::Expired | SignStatus::Cancelled) => return Err(gone(status)),
    }
    let event = EvidenceEvent::next_for(sign, EventType::Preview, evidence, None, now);
    let mut next = advance(sign, &event);
    next.status = StoredStatus::Previewed;
    next.previewed_at = sign.previewed_at.or(Some(now));
    Ok(Change {
        sign: next,
        event: Some(event),
    })
}

/// A signature, stored under `blobs`: allowed on `PREVIEWED`, and on `PENDING` when there is
/// nothing to preview. On a `SIGNED` sign the identical signature (same digests, same
/// installation) is [`Decision::Unchanged`]; any other is a conflict.
///
/// `sealed` is what the SIGN event records of the biometric data's envelope. The sign path seals
/// only once this rule has said to go ahead, so its first decision is taken without it (and
/// never committed: it decides again with the seal before storing anything).
pub fn sign(
    sign: &SignRecord,
    signature: &SignatureSummary,
    sealed: Option<&SealEvidence>,
    blobs: &BlobKeys,
    evidence: &RequestEvidence,
    now: Timestamp,
) -> Result<Decision, ApiError> {
    match sign.status_at(now) {
        SignStatus::Signed => {
            let same = sign.signature.as_ref().is_some_and(|stored| {
                stored.image_sha256 == signature.image_sha256
                    && stored.biometric_data_sha256 == signature.biometric_data_sha256
            }) && sign.signed_installation_id.as_deref()
                == Some(&evidence.installation_id);
            return if same {
                Ok(Decision::Unchanged)
            } else {
                Err(ApiError::Conflict(
                    "sign_id: the sign is already signed with another signature".into(),
                ))
            };
        }
        status @ (SignStatus::Expired | SignStatus::Cancelled) => return Err(gone(status)),
        SignStatus::Previewed => {}
        SignStatus::Pending if sign.preview_documents.is_empty() => {}
        SignStatus::Pending => {
            return Err(ApiError::Conflict(
                "sign_id: the documents must be previewed before signing".into(),
            ));
        }
    }
    let mut event = EvidenceEvent::next_for(
        sign,
        EventType::Sign,
        evidence,
        Some(signature.clone()),
        now,
    );
    event.sealed = sealed.cloned();
    let mut next = advance(sign, &event);
    next.status = StoredStatus::Signed;
    next.signed_at = Some(now);
    next.signature = Some(signature.clone());
    next.signed_installation_id = Some(evidence.installation_id.clone());
    next.blobs = Some(blobs.clone());
    Ok(Decision::Apply(Change {
        sign: next,
        event: Some(event),
    }))
}

/// The process service cancels a sign. Signed signs cannot be cancelled; no evidence event.
pub fn cancel(sign: &SignRecord, now: Timestamp) -> Result<Change, ApiError> {
    match sign.status {
        StoredStatus::Signed => Err(ApiError::Conflict(
            "sign_id: a signed sign cannot be cancelled".into(),
        )),
        StoredStatus::Cancelled => Err(ApiError::Gone("sign_id: already cancelled".into())),
        StoredStatus::Pending | StoredStatus::Previewed => {
            let mut next = sign.clone();
            next.status = StoredStatus::Cancelled;
            next.cancelled_at = Some(now);
            next.version += 1;
            Ok(Change {
                sign: next,
                event: None,
            })
        }
    }
}

/// The signature's trusted timestamp: allowed on a `SIGNED` sign whose chain head is still the
/// token's imprint (the SIGN event's digest: nothing follows a signature but its timestamp). A
/// sign that already has one is [`Decision::Unchanged`] (two attempts raced; the first stays).
pub fn timestamp(
    sign: &SignRecord,
    token: &TimestampEvidence,
    now: Timestamp,
) -> Result<Decision, ApiError> {
    if sign.timestamped_at.is_some() {
        return Ok(Decision::Unchanged);
    }
    if sign.status != StoredStatus::Signed {
        return Err(ApiError::Conflict(
            "sign_id: only a signed sign is timestamped".into(),
        ));
    }
    if sign.last_event_sha256.as_deref() != Some(token.imprint.as_str()) {
        return Err(ApiError::Conflict(
            "sign_id: the token's imprint is not the chain head after the signature".into(),
        ));
    }
    let event = EvidenceEvent::timestamp_for(sign, token, now);
    let mut next = advance(sign, &event);
    next.timestamped_at = Some(token.gen_time);
    Ok(Decision::Apply(Change {
        sign: next,
        event: Some(event),
    }))
}

/// Moves the version and the head of the chain past `event`.
fn advance(sign: &SignRecord, event: &EvidenceEvent) -> SignRecord {
    let mut next = sign.clone();
    next.version += 1;
    next.event_count = event.seq;
    next.last_event_sha256 = Some(event.sha256());
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, SignId, SignKey};
    use crate::model::{ImageFormat, NewSign};
    use chrono::Duration;

    pub(crate) fn sign_with(preview_documents: Vec<String>, now: Timestamp) -> SignRecord {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        SignRecord::new(NewSign {
            preview_documents,
            ..crate::testing::new_sign(key, now)
        })
    }

    fn evidence_of(installation_id: &str) -> RequestEvidence {
        RequestEvidence {
            installation_id: installation_id.into(),
            fingerprint: "fp".into(),
            location: None,
            client_ip: Some("203.0.113.9".into()),
            user_agent: None,
            request_id: "r".into(),
        }
    }

    fn evidence() -> RequestEvidence {
        evidence_of("inst-1")
    }

    fn summary(digest: &str) -> SignatureSummary {
        SignatureSummary {
            image_sha256: digest.into(),
            biometric_data_sha256: digest.into(),
            image_format: ImageFormat::Png,
            image_width: 10,
            image_height: 10,
            biometric: crate::capture::BiometricSummary {
                format: crate::capture::Format::Sigdata1,
                strokes: 1,
                samples: 20,
                duration_ms: 500,
                pressure: false,
                pointer_type: Some(crate::capture::PointerType::Pen),
            },
        }
    }

    fn blob_keys() -> BlobKeys {
        BlobKeys {
            biometric_data: "b".into(),
            signature_image: "i".into(),
        }
    }

    /// The change of an accepted signature (panics if the rule refused or found a retry).
    fn signed(s: &SignRecord, digest: &str, now: Timestamp) -> Change {
        match sign(s, &summary(digest), None, &blob_keys(), &evidence(), now) {
            Ok(Decision::Apply(change)) => change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn status_becomes_expired_at_expires_at_unless_final() {
        let now = crate::time::now();
        let mut s = sign_with(vec![], now);
        assert_eq!(s.status_at(now), SignStatus::Pending);
        let later = s.expires_at;
        assert_eq!(s.status_at(later), SignStatus::Expired);
        s.status = StoredStatus::Signed;
        assert_eq!(s.status_at(later), SignStatus::Signed);
        s.status = StoredStatus::Cancelled;
        assert_eq!(s.status_at(later), SignStatus::Cancelled);
    }

    #[test]
    fn preview_rules() {
        let now = crate::time::now();
        let mut s = sign_with(vec!["d".into()], now);
        assert!(preview(&s, &evidence(), now).is_ok());
        s.status = StoredStatus::Previewed;
        assert!(preview(&s, &evidence(), now).is_ok());
        assert!(matches!(
            preview(&s, &evidence(), s.expires_at),
            Err(ApiError::Gone(_))
        ));
        s.status = StoredStatus::Signed;
        assert!(matches!(
            preview(&s, &evidence(), now),
            Err(ApiError::Conflict(_))
        ));
        s.status = StoredStatus::Cancelled;
        assert!(matches!(
            preview(&s, &evidence(), now),
            Err(ApiError::Gone(_))
        ));
    }

    #[test]
    fn first_preview_sets_previewed_at_later_ones_keep_it() {
        let now = crate::time::now();
        let s = sign_with(vec!["d".into()], now);
        let c1 = preview(&s, &evidence(), now).unwrap();
        let (s1, e1) = (c1.sign, c1.event.unwrap());
        assert_eq!(
            (s1.status, s1.previewed_at, s1.version, s1.event_count),
            (StoredStatus::Previewed, Some(now), 2, 1)
        );
        let later = now + Duration::seconds(5);
        let c2 = preview(&s1, &evidence(), later).unwrap();
        let (s2, e2) = (c2.sign, c2.event.unwrap());
        assert_eq!((s2.previewed_at, s2.event_count), (Some(now), 2));
        assert_eq!(e2.prev_event_sha256, Some(e1.sha256()));
    }

    #[test]
    fn sign_requires_preview_only_when_there_are_preview_documents() {
        let now = crate::time::now();
        let with_docs = sign_with(vec!["d".into()], now);
        assert!(matches!(
            sign(
                &with_docs,
                &summary("a"),
                None,
                &blob_keys(),
                &evidence(),
                now
            ),
            Err(ApiError::Conflict(_))
        ));
        let without = sign_with(vec![], now);
        assert!(matches!(
            sign(
                &without,
                &summary("a"),
                None,
                &blob_keys(),
                &evidence(),
                now
            ),
            Ok(Decision::Apply(_))
        ));
    }

    #[test]
    fn the_sign_event_records_the_seal_and_other_events_have_no_seal_field() {
        let now = crate::time::now();
        let s = sign_with(vec!["d".into()], now);
        let previewed = preview(&s, &evidence(), now).unwrap();
        let preview_json = serde_json::to_value(previewed.event.as_ref().unwrap()).unwrap();
        assert!(preview_json.get("sealed").is_none(), "{preview_json}");
        let seal = SealEvidence {
            biometric_envelope_sha256: "e".repeat(64),
            recipient_fingerprints: vec!["f".repeat(64)],
        };
        let decide = |sealed| match sign(
            &previewed.sign,
            &summary("a"),
            sealed,
            &blob_keys(),
            &evidence(),
            now,
        ) {
            Ok(Decision::Apply(change)) => change,
            other => panic!("expected a change, got {other:?}"),
        };
        let with_seal = decide(Some(&seal));
        let event = with_seal.event.unwrap();
        assert_eq!(event.sealed.as_ref(), Some(&seal));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json["sealed"],
            serde_json::json!({
                "biometric_envelope_sha256": "e".repeat(64),
                "recipient_fingerprints": ["f".repeat(64)],
            })
        );
        // The seal is part of what the chain protects.
        assert_eq!(with_seal.sign.last_event_sha256, Some(event.sha256()));
        let mut forged = event.clone();
        if let Some(sealed) = forged.sealed.as_mut() {
            sealed.biometric_envelope_sha256 = "0".repeat(64);
        }
        assert_ne!(forged.sha256(), event.sha256());
        assert_eq!(decide(None).event.unwrap().sealed, None);
        let round_trip: EvidenceEvent = serde_json::from_value(json).unwrap();
        assert_eq!(round_trip, event);
    }

    #[test]
    fn identical_retry_after_success_is_recognised_and_a_different_one_conflicts() {
        let now = crate::time::now();
        let s = sign_with(vec![], now);
        let signed = signed(&s, "a", now).sign;
        let keys = blob_keys();
        assert_eq!(
            sign(
                &signed,
                &summary("a"),
                None,
                &keys,
                &evidence_of("inst-1"),
                now
            ),
            Ok(Decision::Unchanged)
        );
        assert!(matches!(
            sign(
                &signed,
                &summary("b"),
                None,
                &keys,
                &evidence_of("inst-1"),
                now
            ),
            Err(ApiError::Conflict(_))
        ));
        assert!(matches!(
            sign(
                &signed,
                &summary("a"),
                None,
                &keys,
                &evidence_of("inst-2"),
                now
            ),
            Err(ApiError::Conflict(_))
        ));
        // The same picture with other pen data, or the same pen data with another picture, is
        // another signature.
        for (image, biometric) in [("a", "b"), ("b", "a")] {
            let other = SignatureSummary {
                image_sha256: image.into(),
                biometric_data_sha256: biometric.into(),
                ..summary("a")
            };
            assert!(matches!(
                sign(&signed, &other, None, &keys, &evidence_of("inst-1"), now),
                Err(ApiError::Conflict(_))
            ));
        }
        // Signed stays signed after expiry: a late identical retry is still a success.
        assert_eq!(
            sign(
                &signed,
                &summary("a"),
                None,
                &keys,
                &evidence_of("inst-1"),
                signed.expires_at
            ),
            Ok(Decision::Unchanged)
        );
    }

    #[test]
    fn expired_or_cancelled_signs_are_gone_for_signing() {
        let now = crate::time::now();
        let mut s = sign_with(vec![], now);
        assert!(matches!(
            sign(
                &s,
                &summary("a"),
                None,
                &blob_keys(),
                &evidence_of("i"),
                s.expires_at
            ),
            Err(ApiError::Gone(_))
        ));
        s.status = StoredStatus::Cancelled;
        let refusal = sign(
            &s,
            &summary("a"),
            None,
            &blob_keys(),
            &evidence_of("i"),
            now,
        );
        assert!(
            matches!(&refusal, Err(ApiError::Gone(why)) if why == "sign_id: the sign was cancelled"),
            "{refusal:?}"
        );
    }

    #[test]
    fn a_cancel_is_a_new_version_without_an_event_and_only_before_the_signature() {
        let now = crate::time::now();
        let later = now + Duration::minutes(1);
        for status in [StoredStatus::Pending, StoredStatus::Previewed] {
            let mut s = sign_with(vec![], now);
            s.status = status;
            s.version = 3;
            let change = cancel(&s, later).unwrap();
            assert_eq!(change.sign.status, StoredStatus::Cancelled);
            assert_eq!(change.sign.cancelled_at, Some(later));
            // The stores write only over the version a change was decided on: a preview or a
            // signature decided before the cancel (on version 3) must find 4 and lose the race.
            assert_eq!(change.sign.version, 4);
            assert!(change.event.is_none(), "a cancel adds nothing to the chain");
        }
        let mut s = sign_with(vec![], now);
        s.status = StoredStatus::Signed;
        assert!(matches!(cancel(&s, later), Err(ApiError::Conflict(_))));
        s.status = StoredStatus::Cancelled;
        assert!(matches!(cancel(&s, later), Err(ApiError::Gone(_))));
    }

    fn token_for(imprint: &str, now: Timestamp) -> TimestampEvidence {
        TimestampEvidence {
            token_sha256: "t".repeat(64),
            gen_time: now,
            tsa_name: "CN=tsa.test".into(),
            imprint: imprint.into(),
        }
    }

    #[test]
    fn a_timestamp_follows_the_signature_once_and_only_for_its_head() {
        use crate::evidence::verify_chain;
        let now = crate::time::now();
        let s0 = sign_with(vec![], now);
        assert!(matches!(
            timestamp(&s0, &token_for("x", now), now),
            Err(ApiError::Conflict(_))
        ));
        let c1 = signed(&s0, "a", now);
        let head = c1.sign.last_event_sha256.clone().unwrap();
        assert!(matches!(
            timestamp(&c1.sign, &token_for("not the head", now), now),
            Err(ApiError::Conflict(_))
        ));
        let Ok(Decision::Apply(c2)) = timestamp(&c1.sign, &token_for(&head, now), now) else {
            panic!("a signed sign is timestamped");
        };
        let event = c2.event.clone().unwrap();
        assert_eq!(event.event_type, EventType::Timestamp);
        assert_eq!(
            (
                event.seq,
                event.prev_event_sha256.as_deref(),
                event.imprint.as_deref()
            ),
            (2, Some(head.as_str()), Some(head.as_str()))
        );
        assert_eq!(event.installation_id, None, "no request fields");
        let json = serde_json::to_value(&event).unwrap();
        for request_field in ["installation_id", "fingerprint", "request_id", "signature"] {
            assert!(json.get(request_field).is_none(), "{request_field}: {json}");
        }
        assert_eq!(
            (c2.sign.timestamped_at, c2.sign.event_count),
            (Some(now), 2)
        );
        assert_eq!(c2.sign.last_event_sha256, Some(event.sha256()));
        assert_eq!(
            timestamp(&c2.sign, &token_for(&head, now), now),
            Ok(Decision::Unchanged)
        );
        let events = [c1.event.unwrap(), event];
        assert!(verify_chain(&c2.sign, &events).is_valid());
        // A TIMESTAMP without a SIGN before it is refused by the chain check too.
        let mut reordered = events.clone();
        reordered.swap(0, 1);
        reordered[0].seq = 1;
        reordered[1].seq = 2;
        assert!(!verify_chain(&c2.sign, &reordered).is_valid());
    }

    #[test]
    fn event_digest_is_the_sha256_of_its_jcs_form() {
        let now = crate::time::now();
        let s0 = sign_with(vec!["d".into()], now);
        let mut evidence = evidence();
        evidence.location = Some(crate::evidence::Location::from_degrees(40.4168, -3.7038));
        let event = preview(&s0, &evidence, now).unwrap().event.unwrap();
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            value["location"],
            serde_json::json!({"lat_e7": 404_168_000, "lon_e7": -37_038_000})
        );
        crate::canonical::check_portable(&value).unwrap();
        let bytes = crate::canonical::to_vec(&value).unwrap();
        assert_eq!(event.sha256(), crate::canonical::sha256_hex(&bytes));
        assert_eq!(
            bytes,
            crate::canonical::to_vec(&event).unwrap(),
            "the struct and its JSON value have one canonical form"
        );
    }

    #[test]
    fn chain_detects_changed_and_removed_events() {
        use crate::evidence::verify_chain;
        let now = crate::time::now();
        let s0 = sign_with(vec!["d".into()], now);
        let c1 = preview(&s0, &evidence(), now).unwrap();
        let c2 = preview(&c1.sign, &evidence(), now).unwrap();
        let c3 = signed(&c2.sign, "a", now);
        let s3 = c3.sign;
        let [e1, e2, e3] = [c1.event, c2.event, c3.event].map(Option::unwrap);
        let events = vec![e1.clone(), e2.clone(), e3.clone()];
        assert!(verify_chain(&s3, &events).is_valid());

        let mut changed = events.clone();
        changed[0].fingerprint = Some("forged".into());
        assert!(!verify_chain(&s3, &changed).is_valid());
        let mut changed_last = events.clone();
        changed_last[2].client_ip = Some("198.51.100.1".into());
        assert!(!verify_chain(&s3, &changed_last).is_valid());
        assert!(!verify_chain(&s3, &[e1.clone(), e3.clone()]).is_valid());
        assert!(!verify_chain(&s3, &[e1, e2]).is_valid());
    }
}
