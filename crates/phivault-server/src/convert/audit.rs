//! The audit log on the wire: verification reports, signed tree heads, inclusion and
//! consistency proofs, and event pages. Hashes, keys and signatures become lowercase hex.

use phivault_api as api;
use phivault_core::AuditVerifyReport;
use phivault_core::audit::{Actor, ActorKind, AuditEvent, Hash, Outcome, SignedTreeHead};
use phivault_core::audit_log::{AuditPage, AuditQuery, ConsistencyProof, InclusionProof};

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn path_to_api(p: &[Hash]) -> Vec<String> {
    p.iter().map(|h| hex(h)).collect()
}

/// An audit verification report on the wire.
pub(crate) fn verify_to_api(r: AuditVerifyReport) -> api::AuditVerifyResponse {
    api::AuditVerifyResponse {
        ok: r.first_break.is_none(),
        entries: r.entries,
        head_hash: r.head_hash,
        first_break: r
            .first_break
            .map(|(seq, problem)| api::ChainBreak { seq, problem }),
    }
}

/// A signed tree head on the wire.
pub(crate) fn head_to_api(h: &SignedTreeHead) -> api::SignedTreeHead {
    api::SignedTreeHead {
        tree_size: h.tree_size,
        timestamp_ms: h.timestamp_ms,
        root_hash: hex(&h.root_hash),
        signature: hex(&h.signature),
    }
}

/// A signed tree head and the audit verifying key on the wire.
pub(crate) fn tree_head_to_api(h: &SignedTreeHead, public_key: &[u8]) -> api::TreeHead {
    api::TreeHead {
        head: head_to_api(h),
        public_key: hex(public_key),
    }
}

/// An inclusion proof on the wire.
pub(crate) fn inclusion_to_api(p: InclusionProof) -> api::InclusionProof {
    api::InclusionProof {
        seq: p.seq,
        leaf_index: p.seq.saturating_sub(1),
        tree_size: p.tree_size,
        leaf_hash: hex(&p.leaf_hash),
        event_json: p.event_json,
        path: path_to_api(&p.path),
        root_hash: hex(&p.root_hash),
        signed_head: p.signed_head.as_ref().map(head_to_api),
    }
}

/// A consistency proof on the wire.
pub(crate) fn consistency_to_api(p: ConsistencyProof) -> api::ConsistencyProof {
    api::ConsistencyProof {
        from: p.from,
        to: p.to,
        from_root: hex(&p.from_root),
        to_root: hex(&p.to_root),
        path: path_to_api(&p.path),
        signed_head: p.signed_head.as_ref().map(head_to_api),
    }
}

fn actor_to_api(a: Actor) -> api::AuditActor {
    api::AuditActor {
        kind: match a.kind {
            ActorKind::Token => api::ActorKind::Token,
            ActorKind::User => api::ActorKind::User,
            ActorKind::System => api::ActorKind::System,
            ActorKind::Anonymous => api::ActorKind::Anonymous,
        },
        id: a.id,
    }
}

fn outcome_to_api(o: Outcome) -> api::AuditOutcome {
    match o {
        Outcome::Success => api::AuditOutcome::Success,
        Outcome::Denied => api::AuditOutcome::Denied,
        Outcome::Invalid => api::AuditOutcome::Invalid,
        Outcome::Error => api::AuditOutcome::Error,
    }
}

fn outcome_from_api(o: api::AuditOutcome) -> Outcome {
    match o {
        api::AuditOutcome::Success => Outcome::Success,
        api::AuditOutcome::Denied => Outcome::Denied,
        api::AuditOutcome::Invalid => Outcome::Invalid,
        api::AuditOutcome::Error => Outcome::Error,
    }
}

/// The domain query of a wire audit filter.
pub(crate) fn filter_from_api(f: &api::AuditEventFilter) -> AuditQuery {
    AuditQuery {
        actor: f.actor.clone(),
        subject: f.subject.clone(),
        action: f.action.clone(),
        outcome: f.outcome.map(outcome_from_api),
        purpose: f.purpose.clone(),
        since: f.since,
        until: f.until,
    }
}

/// An audit event on the wire, field for field.
pub(crate) fn event_to_api(e: AuditEvent) -> api::AuditEvent {
    api::AuditEvent {
        time: e.time,
        request_id: e.request_id,
        actor: actor_to_api(e.actor),
        auth_method: e.auth_method,
        source: e.source,
        action: e.action,
        outcome: outcome_to_api(e.outcome),
        reason: e.reason,
        purpose: e.purpose,
        collection: e.collection,
        record_id: e.record_id,
        version: e.version,
        subject: e.subject,
        fields: e.fields,
        count: e.count,
        target: e.target,
    }
}

/// A page of audit events on the wire.
pub(crate) fn page_to_api(p: AuditPage) -> api::AuditEventPage {
    api::AuditEventPage {
        items: p
            .events
            .into_iter()
            .map(|(seq, event)| api::AuditEventItem {
                seq,
                event: event_to_api(event),
            })
            .collect(),
        next_cursor: p.next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire event is the stored event: same keys, same values, same time encoding.
    #[test]
    fn events_serialise_like_the_log() {
        let mut e = AuditEvent::new(
            time::macros::datetime!(2026-01-15 09:00:00.25 UTC),
            "req-1",
            Actor::token("tok-1"),
            "api_token",
            "record.read",
            Outcome::Denied,
        );
        e.reason = Some("deny:missing_grant".into());
        e.fields = vec!["name".into()];
        e.version = Some(3);
        let stored: serde_json::Value = serde_json::from_slice(&e.canonical_bytes()).unwrap();
        let wire = serde_json::to_value(event_to_api(e)).unwrap();
        assert_eq!(wire, stored);
    }

    #[test]
    fn heads_serialise_like_the_log() {
        let h = SignedTreeHead {
            tree_size: 7,
            timestamp_ms: 1_700_000_000_123,
            root_hash: [0xab; 32],
            signature: [0x01; 64],
        };
        assert_eq!(
            serde_json::to_value(head_to_api(&h)).unwrap(),
            serde_json::to_value(&h).unwrap()
        );
    }
}
