//! The sign state machine: which actions a sign's status allows, and the record each accepted
//! action leaves behind. Pure functions; [`crate::service`] applies them with conditional writes.
//!
//! `PENDING` → preview → `PREVIEWED` → sign → `SIGNED`; `CANCELLED` is set by the process service;
//! `EXPIRED` is derived once `expires_at` has passed on a sign neither signed nor cancelled.

use crate::ApiError;
use crate::evidence::EvidenceEvent;
use crate::model::{BlobKeys, SignRecord, SignStatus, SignatureSummary, StoredStatus};
use crate::time::Timestamp;

pub fn effective_status(sign: &SignRecord, now: Timestamp) -> SignStatus {
    match sign.status {
        StoredStatus::Signed => SignStatus::Signed,
        StoredStatus::Cancelled => SignStatus::Cancelled,
        _ if now >= sign.expires_at => SignStatus::Expired,
        StoredStatus::Pending => SignStatus::Pending,
        StoredStatus::Previewed => SignStatus::Previewed,
    }
}

fn gone(status: SignStatus) -> ApiError {
    let why = match status {
        SignStatus::Cancelled => "the sign was cancelled",
        _ => "the sign has expired",
    };
    ApiError::Gone(format!("sign_id: {why}"))
}

/// Whether a preview is allowed now.
pub fn check_preview(sign: &SignRecord, now: Timestamp) -> Result<(), ApiError> {
    match effective_status(sign, now) {
        SignStatus::Pending | SignStatus::Previewed => Ok(()),
        SignStatus::Signed => Err(ApiError::Conflict(
            "sign_id: the sign is already signed".into(),
        )),
        status @ (SignStatus::Expired | SignStatus::Cancelled) => Err(gone(status)),
    }
}

/// The record after an accepted preview: the first one moves `PENDING` to `PREVIEWED`.
pub fn after_preview(sign: &SignRecord, event: &EvidenceEvent) -> SignRecord {
    let mut next = advance(sign, event);
    next.status = StoredStatus::Previewed;
    next.previewed_at = sign.previewed_at.or(Some(event.recorded_at));
    next
}

/// What a signature attempt must do, given the sign as it is now.
#[derive(Debug, PartialEq, Eq)]
pub enum SignDecision {
    /// Store it.
    Proceed,
    /// The very same signature was already accepted: answer success, store nothing.
    AlreadySigned,
}

pub fn check_sign(
    sign: &SignRecord,
    signature: &SignatureSummary,
    installation_id: &str,
    now: Timestamp,
) -> Result<SignDecision, ApiError> {
    match effective_status(sign, now) {
        SignStatus::Signed => {
            let same = sign.signature.as_ref().is_some_and(|stored| {
                stored.image_sha256 == signature.image_sha256
                    && stored.biometric_data_sha256 == signature.biometric_data_sha256
            }) && sign.signed_installation_id.as_deref() == Some(installation_id);
            if same {
                Ok(SignDecision::AlreadySigned)
            } else {
                Err(ApiError::Conflict(
                    "sign_id: the sign is already signed with another signature".into(),
                ))
            }
        }
        status @ (SignStatus::Expired | SignStatus::Cancelled) => Err(gone(status)),
        SignStatus::Previewed => Ok(SignDecision::Proceed),
        SignStatus::Pending if sign.preview_documents.is_empty() => Ok(SignDecision::Proceed),
        SignStatus::Pending => Err(ApiError::Conflict(
            "sign_id: the documents must be previewed before signing".into(),
        )),
    }
}

/// The record after an accepted signature.
pub fn after_sign(sign: &SignRecord, event: &EvidenceEvent, blobs: BlobKeys) -> SignRecord {
    let mut next = advance(sign, event);
    next.status = StoredStatus::Signed;
    next.signed_at = Some(event.recorded_at);
    next.signature = event.signature.clone();
    next.signed_installation_id = Some(event.installation_id.clone());
    next.blobs = Some(blobs);
    next
}

/// The record after the process service cancels it. Signed signs cannot be cancelled.
pub fn cancel(sign: &SignRecord, now: Timestamp) -> Result<SignRecord, ApiError> {
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
            Ok(next)
        }
    }
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
    use crate::evidence::{EventType, RequestEvidence};
    use crate::ids::{OrgId, SignId, SignKey};
    use crate::model::{ImageFormat, NewSign};
    use chrono::Duration;

    pub(crate) fn sign(preview_documents: Vec<String>, now: Timestamp) -> SignRecord {
        let key = SignKey::new(OrgId::parse("acme").unwrap(), SignId::new_random());
        SignRecord::new(NewSign {
            preview_documents,
            ..crate::testing::new_sign(key, now)
        })
    }

    fn evidence() -> RequestEvidence {
        RequestEvidence {
            installation_id: "inst-1".into(),
            fingerprint: "fp".into(),
            location: None,
            client_ip: Some("203.0.113.9".into()),
            user_agent: None,
            request_id: "r".into(),
        }
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

    #[test]
    fn status_becomes_expired_at_expires_at_unless_final() {
        let now = crate::time::now();
        let mut s = sign(vec![], now);
        assert_eq!(effective_status(&s, now), SignStatus::Pending);
        let later = s.expires_at;
        assert_eq!(effective_status(&s, later), SignStatus::Expired);
        s.status = StoredStatus::Signed;
        assert_eq!(effective_status(&s, later), SignStatus::Signed);
        s.status = StoredStatus::Cancelled;
        assert_eq!(effective_status(&s, later), SignStatus::Cancelled);
    }

    #[test]
    fn preview_rules() {
        let now = crate::time::now();
        let mut s = sign(vec!["d".into()], now);
        assert_eq!(check_preview(&s, now), Ok(()));
        s.status = StoredStatus::Previewed;
        assert_eq!(check_preview(&s, now), Ok(()));
        assert!(matches!(
            check_preview(&s, s.expires_at),
            Err(ApiError::Gone(_))
        ));
        s.status = StoredStatus::Signed;
        assert!(matches!(check_preview(&s, now), Err(ApiError::Conflict(_))));
        s.status = StoredStatus::Cancelled;
        assert!(matches!(check_preview(&s, now), Err(ApiError::Gone(_))));
    }

    #[test]
    fn first_preview_sets_previewed_at_later_ones_keep_it() {
        let now = crate::time::now();
        let s = sign(vec!["d".into()], now);
        let e1 = EvidenceEvent::next_for(&s, EventType::Preview, &evidence(), None, now);
        let s1 = after_preview(&s, &e1);
        assert_eq!(
            (s1.status, s1.previewed_at, s1.version, s1.event_count),
            (StoredStatus::Previewed, Some(now), 2, 1)
        );
        let later = now + Duration::seconds(5);
        let e2 = EvidenceEvent::next_for(&s1, EventType::Preview, &evidence(), None, later);
        let s2 = after_preview(&s1, &e2);
        assert_eq!((s2.previewed_at, s2.event_count), (Some(now), 2));
        assert_eq!(e2.prev_event_sha256, Some(e1.sha256()));
    }

    #[test]
    fn sign_requires_preview_only_when_there_are_preview_documents() {
        let now = crate::time::now();
        let with_docs = sign(vec!["d".into()], now);
        assert!(matches!(
            check_sign(&with_docs, &summary("a"), "inst-1", now),
            Err(ApiError::Conflict(_))
        ));
        let without = sign(vec![], now);
        assert_eq!(
            check_sign(&without, &summary("a"), "inst-1", now),
            Ok(SignDecision::Proceed)
        );
    }

    #[test]
    fn identical_retry_after_success_is_recognised_and_a_different_one_conflicts() {
        let now = crate::time::now();
        let s = sign(vec![], now);
        let e = EvidenceEvent::next_for(&s, EventType::Sign, &evidence(), Some(summary("a")), now);
        let blobs = BlobKeys {
            biometric_data: "b".into(),
            signature_image: "i".into(),
        };
        let signed = after_sign(&s, &e, blobs);
        assert_eq!(
            check_sign(&signed, &summary("a"), "inst-1", now),
            Ok(SignDecision::AlreadySigned)
        );
        assert!(matches!(
            check_sign(&signed, &summary("b"), "inst-1", now),
            Err(ApiError::Conflict(_))
        ));
        assert!(matches!(
            check_sign(&signed, &summary("a"), "inst-2", now),
            Err(ApiError::Conflict(_))
        ));
        // Signed stays signed after expiry: a late identical retry is still a success.
        assert_eq!(
            check_sign(&signed, &summary("a"), "inst-1", signed.expires_at),
            Ok(SignDecision::AlreadySigned)
        );
    }

    #[test]
    fn expired_or_cancelled_signs_are_gone_for_signing() {
        let now = crate::time::now();
        let mut s = sign(vec![], now);
        assert!(matches!(
            check_sign(&s, &summary("a"), "i", s.expires_at),
            Err(ApiError::Gone(_))
        ));
        s.status = StoredStatus::Cancelled;
        assert!(matches!(
            check_sign(&s, &summary("a"), "i", now),
            Err(ApiError::Gone(_))
        ));
    }

    #[test]
    fn chain_detects_changed_and_removed_events() {
        use crate::evidence::verify_chain;
        let now = crate::time::now();
        let s0 = sign(vec!["d".into()], now);
        let e1 = EvidenceEvent::next_for(&s0, EventType::Preview, &evidence(), None, now);
        let s1 = after_preview(&s0, &e1);
        let e2 = EvidenceEvent::next_for(&s1, EventType::Preview, &evidence(), None, now);
        let s2 = after_preview(&s1, &e2);
        let e3 =
            EvidenceEvent::next_for(&s2, EventType::Sign, &evidence(), Some(summary("a")), now);
        let s3 = after_sign(
            &s2,
            &e3,
            BlobKeys {
                biometric_data: "b".into(),
                signature_image: "i".into(),
            },
        );
        let events = vec![e1.clone(), e2.clone(), e3.clone()];
        assert!(verify_chain(&s3, &events).is_valid());

        let mut changed = events.clone();
        changed[0].fingerprint = "forged".into();
        assert!(!verify_chain(&s3, &changed).is_valid());
        let mut changed_last = events.clone();
        changed_last[2].client_ip = Some("198.51.100.1".into());
        assert!(!verify_chain(&s3, &changed_last).is_valid());
        assert!(!verify_chain(&s3, &[e1.clone(), e3.clone()]).is_valid());
        assert!(!verify_chain(&s3, &[e1, e2]).is_valid());
    }
}
