//! Users, second-factor enrollments, break-glass episodes, compliance findings and API
//! tokens on the wire. Secrets (the enrollment, a token's secret) are exposed only here
//! and only in the answer that creates them.

use phivault_api as api;
use phivault_core::{BreakGlassInfo, ComplianceGap, Enrollment, TokenInfo, UserInfo};

/// A user description on the wire.
pub(crate) fn user_to_api(u: UserInfo) -> api::User {
    api::User {
        id: u.id,
        username: u.username,
        kind: u.kind,
        roles: u.roles,
        mfa_enrolled: u.mfa_enrolled,
        allow_admin_phi: u.allow_admin_phi,
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

/// A second-factor enrollment on the wire (the one place its secrets are exposed).
pub(crate) fn enrollment_to_api(e: &Enrollment) -> api::Enrollment {
    api::Enrollment {
        otpauth_uri: e.otpauth_uri.as_str().to_owned(),
        recovery_codes: e
            .recovery_codes
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    }
}

/// A break-glass episode on the wire.
pub(crate) fn break_glass_to_api(b: BreakGlassInfo) -> api::BreakGlassEpisode {
    api::BreakGlassEpisode {
        id: b.id,
        principal_id: b.principal_id,
        subject: b.subject,
        reason: b.reason,
        opened_at: b.opened_at,
        expires_at: b.expires_at,
        reviewed_at: b.reviewed_at,
        reviewer: b.reviewer,
        review_note: b.review_note,
    }
}

/// A compliance finding on the wire.
pub(crate) fn gap_to_api(g: ComplianceGap) -> api::ComplianceGap {
    api::ComplianceGap {
        code: g.code,
        detail: g.detail,
    }
}

/// A token description on the wire.
pub(crate) fn token_to_api(t: TokenInfo) -> api::Token {
    api::Token {
        id: t.id.0,
        name: t.name,
        owner: t.owner,
        roles: t.roles,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        last_used_at: t.last_used_at,
    }
}
