//! Break-glass emergency access (45 CFR 164.312(a)(2)(ii)): opening an episode (alerted at
//! once), the review queue and the auditor's review. Reasons and notes are sealed under
//! the opener's own data key.

use time::Duration;
use uuid::Uuid;

use super::{Alert, BreakGlassInfo};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault, Missing};
use crate::identity_store::BreakGlassRow;
use crate::policy::{Action, PurposeOfUse};
use crate::seal::{Aad, SubjectKeys, UserSecret, user_key_subject};
use crate::store::ReadTx;
use crate::vault::{RequestMeta, Vault};
use crate::{Principal, SubjectId};

impl Vault {
    fn alerts_send(&self, alert: &Alert) {
        self.alerts().alert(alert);
    }

    // ----- break-glass ----------------------------------------------------------------

    /// Opens emergency access to one subject for a bounded time. Requires the `breakglass`
    /// scope and a reason of at least 20 characters; access then runs under ETREAT. A
    /// high-severity audit event and an alert fire at once, and the episode waits in the
    /// review queue until an auditor closes it.
    pub async fn open_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        reason: &str,
        duration: Duration,
    ) -> Result<BreakGlassInfo, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::BreakglassOpen);
        ev.subject = Some(subject.to_string());
        ev.purpose = Some(PurposeOfUse::Etreat.as_str().to_owned());
        self.authorize(principal, Action::OpenBreakGlass, &ev)
            .await?;
        let reason = reason.trim();
        if reason.chars().count() < 20 || reason.len() > 2000 {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::BreakglassReasonLength.as_str()),
                )
                .await;
        }
        if duration <= Duration::ZERO || duration > self.config().break_glass_max {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::BreakglassDurationOutOfRange.as_str()),
                )
                .await;
        }
        let now = self.clock().now();
        let id = Uuid::new_v4().to_string();
        ev.target = Some(id.clone());
        ev.reason = Some("severity:high".to_owned());
        let keyring = self.keyring();
        let (pid, subj, text) = (principal.id.clone(), subject.to_string(), reason.to_owned());
        let row_id = id.clone();
        let info = self
            .audited(ev, move |tx, _| {
                let key_subject = user_key_subject(&pid);
                let dek = SubjectKeys::new(&keyring).get_or_create(tx, &key_subject, now)?;
                let row = BreakGlassRow {
                    id: row_id.clone(),
                    principal_id: pid.clone(),
                    subject: subj.clone(),
                    reason_sealed: Aad::user_secret(
                        UserSecret::BreakGlassReason,
                        &row_id,
                        &key_subject,
                    )
                    .seal(&dek, text.as_bytes())?,
                    opened_at: now,
                    expires_at: now + duration,
                    reviewed_at: None,
                    reviewer: None,
                    review_sealed: None,
                };
                tx.insert_break_glass(&row)?;
                Ok(BreakGlassInfo {
                    id: row_id,
                    principal_id: pid,
                    subject: subj,
                    reason: text,
                    opened_at: now,
                    expires_at: now + duration,
                    reviewed_at: None,
                    reviewer: None,
                    review_note: None,
                })
            })
            .await?;
        self.alerts_send(&Alert {
            kind: "breakglass.opened".to_owned(),
            id: info.id.clone(),
            principal: info.principal_id.clone(),
            subject: Some(info.subject.clone()),
            at: now,
            until: Some(info.expires_at),
        });
        Ok(info)
    }

    /// The break-glass review queue (open episodes), or every episode.
    pub async fn list_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        open_only: bool,
    ) -> Result<Vec<BreakGlassInfo>, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::BreakglassList);
        self.authorize(principal, Action::ReviewBreakGlass, &ev)
            .await?;
        let keyring = self.keyring();
        self.audited(ev, move |tx, ev| {
            let rows = tx.list_break_glass(open_only)?;
            ev.count = Some(rows.len() as u64);
            rows.iter()
                .map(|row| break_glass_info(tx, &keyring, row))
                .collect()
        })
        .await
    }

    /// Closes the review of a break-glass episode with the auditor's note.
    pub async fn review_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        note: &str,
    ) -> Result<BreakGlassInfo, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::BreakglassReview);
        ev.target = Some(id.to_owned());
        self.authorize(principal, Action::ReviewBreakGlass, &ev)
            .await?;
        let note = note.trim().to_owned();
        if note.is_empty() || note.len() > 2000 {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::ReviewNoteLength.as_str()),
                )
                .await;
        }
        let keyring = self.keyring();
        let now = self.clock().now();
        let (id, reviewer) = (id.to_owned(), principal.id.clone());
        self.audited(ev, move |tx, ev| {
            let row = tx
                .get_break_glass(&id)?
                .ok_or(VaultError::NotFound(Missing::BreakGlassEpisode.as_str()))?;
            ev.subject = Some(row.subject.clone());
            let key_subject = user_key_subject(&row.principal_id);
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &key_subject)?;
            let sealed = Aad::user_secret(UserSecret::BreakGlassReview, &row.id, &key_subject)
                .seal(&dek, note.as_bytes())?;
            if !tx.review_break_glass(&id, &reviewer, &sealed, now)? {
                return Err(VaultError::Conflict(ErrorCode::AlreadyReviewed.as_str()));
            }
            let row = tx
                .get_break_glass(&id)?
                .ok_or(VaultError::Internal(InternalFault::ReviewState.as_str()))?;
            break_glass_info(tx, &keyring, &row)
        })
        .await
    }
}

fn break_glass_info(
    tx: &mut dyn ReadTx,
    keyring: &phivault_crypto::Keyring,
    row: &BreakGlassRow,
) -> Result<BreakGlassInfo, VaultError> {
    let key_subject = user_key_subject(&row.principal_id);
    let dek = SubjectKeys::new(keyring).unwrap(tx, &key_subject)?;
    let reason = Aad::user_secret(UserSecret::BreakGlassReason, &row.id, &key_subject)
        .open(&dek, &row.reason_sealed)?;
    let review_note = match &row.review_sealed {
        Some(sealed) => Some(
            Aad::user_secret(UserSecret::BreakGlassReview, &row.id, &key_subject)
                .open(&dek, sealed)?,
        ),
        None => None,
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| VaultError::Integrity);
    Ok(BreakGlassInfo {
        id: row.id.clone(),
        principal_id: row.principal_id.clone(),
        subject: row.subject.clone(),
        reason: text(&reason)?,
        opened_at: row.opened_at,
        expires_at: row.expires_at,
        reviewed_at: row.reviewed_at,
        reviewer: row.reviewer.clone(),
        review_note: review_note.map(|n| text(&n)).transpose()?,
    })
}
