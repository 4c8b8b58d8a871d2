//! The storage contract for identity and access: users (human and service accounts),
//! sessions, login failures, recovery codes, custom roles, care relationships and
//! break-glass episodes. `ReadTx`/`WriteTx` extend these traits, so every backend
//! implements them and the conformance suite covers them.

use time::OffsetDateTime;

use crate::error::StoreError;

/// A user: a person who logs in, or a service account that holds API tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// The unique, immutable id (a UUID).
    pub id: String,
    /// The unique login name.
    pub username: String,
    /// `human` or `service`.
    pub kind: String,
    /// Argon2id PHC string; `None` for service accounts.
    pub password_phc: Option<String>,
    /// The TOTP secret sealed under the user's own data key; `None` until enrolled.
    pub totp_sealed: Option<Vec<u8>>,
    /// The last TOTP time step accepted (replay protection).
    pub totp_last_step: Option<u64>,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether holding administrative and PHI roles together was explicitly allowed.
    pub allow_admin_phi: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A login session; only the hash of its token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The public id.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// `token_hash(secret)`.
    pub secret_hash: [u8; 32],
    /// When the user logged in (for step-up checks).
    pub created_at: OffsetDateTime,
    /// When it was last used (for the idle timeout; refreshed at most once a minute).
    pub last_seen_at: OffsetDateTime,
    /// The absolute end of the session.
    pub expires_at: OffsetDateTime,
    /// When it was revoked (logout, admin action), if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A stored custom role (built-in roles live in code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    /// The role name.
    pub name: String,
    /// The role definition as JSON.
    pub definition_json: String,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A care relationship: a principal may see a subject's records under `assigned` grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareRelationshipRow {
    /// The user or service account id.
    pub principal_id: String,
    /// The subject id.
    pub subject: String,
    /// When it was established.
    pub created_at: OffsetDateTime,
    /// When it ends, if it does.
    pub expires_at: Option<OffsetDateTime>,
}

/// A break-glass episode: emergency access of one principal to one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassRow {
    /// The episode id.
    pub id: String,
    /// Who opened it.
    pub principal_id: String,
    /// The subject it opens.
    pub subject: String,
    /// The stated reason, sealed under the opener's data key (it may describe the patient).
    pub reason_sealed: Vec<u8>,
    /// When it was opened.
    pub opened_at: OffsetDateTime,
    /// When access ends.
    pub expires_at: OffsetDateTime,
    /// When an auditor closed the review, if they did.
    pub reviewed_at: Option<OffsetDateTime>,
    /// Who reviewed it.
    pub reviewer: Option<String>,
    /// The reviewer's note, sealed like the reason.
    pub review_sealed: Option<Vec<u8>>,
}

/// Identity reads.
pub trait IdentityReadTx {
    /// A user by id.
    fn get_user(&mut self, id: &str) -> Result<Option<UserRow>, StoreError>;
    /// A user by login name.
    fn get_user_by_name(&mut self, username: &str) -> Result<Option<UserRow>, StoreError>;
    /// Every user, by name.
    fn list_users(&mut self) -> Result<Vec<UserRow>, StoreError>;
    /// A session by the hash of its token.
    fn get_session_by_hash(&mut self, hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError>;
    /// Failed logins for `key` at or after `since`: how many, and the latest time.
    fn login_failures_since(
        &mut self,
        key: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, Option<OffsetDateTime>), StoreError>;
    /// Whether an unused recovery code with this hash exists for the user.
    fn has_recovery_code(&mut self, user_id: &str, hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// A custom role.
    fn get_role(&mut self, name: &str) -> Result<Option<RoleRow>, StoreError>;
    /// Every custom role, by name.
    fn list_roles(&mut self) -> Result<Vec<RoleRow>, StoreError>;
    /// Whether `principal_id` has a care relationship with `subject` in force at `now`.
    fn care_relationship_active(
        &mut self,
        principal_id: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// A principal's care relationships (in force or not), by subject.
    fn list_care_relationships(
        &mut self,
        principal_id: &str,
    ) -> Result<Vec<CareRelationshipRow>, StoreError>;
    /// The break-glass episode of `principal_id` for `subject` in force at `now`, if any.
    fn active_break_glass(
        &mut self,
        principal_id: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BreakGlassRow>, StoreError>;
    /// Break-glass episodes, newest first; only unreviewed ones when `open_only`.
    fn list_break_glass(&mut self, open_only: bool) -> Result<Vec<BreakGlassRow>, StoreError>;
    /// One break-glass episode.
    fn get_break_glass(&mut self, id: &str) -> Result<Option<BreakGlassRow>, StoreError>;
}

/// Identity writes.
pub trait IdentityWriteTx {
    /// Adds a user; `Duplicate` if the id or name exists.
    fn insert_user(&mut self, row: &UserRow) -> Result<(), StoreError>;
    /// Replaces a user (matched by id); false if unknown.
    fn update_user(&mut self, row: &UserRow) -> Result<bool, StoreError>;
    /// Adds a session.
    fn insert_session(&mut self, row: &SessionRow) -> Result<(), StoreError>;
    /// Records use of a session.
    fn touch_session(&mut self, id: &str, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Revokes one session; false if unknown or already revoked.
    fn revoke_session(&mut self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Revokes every live session of a user; returns how many.
    fn revoke_user_sessions(
        &mut self,
        user_id: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Records a failed login for `key` (a normalised login name, known or not).
    fn insert_login_failure(&mut self, key: &str, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Forgets failed logins for `key` (after a successful login or an admin unlock).
    fn clear_login_failures(&mut self, key: &str) -> Result<(), StoreError>;
    /// Replaces a user's recovery codes with these hashes.
    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError>;
    /// Marks a recovery code used; false if it is unknown or already used.
    fn use_recovery_code(
        &mut self,
        user_id: &str,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Adds or replaces a custom role.
    fn upsert_role(&mut self, row: &RoleRow) -> Result<(), StoreError>;
    /// Deletes a custom role; false if unknown.
    fn delete_role(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Adds or replaces the care relationship of (principal, subject).
    fn upsert_care_relationship(&mut self, row: &CareRelationshipRow) -> Result<(), StoreError>;
    /// Ends a care relationship; false if none existed.
    fn delete_care_relationship(
        &mut self,
        principal_id: &str,
        subject: &str,
    ) -> Result<bool, StoreError>;
    /// Adds a break-glass episode.
    fn insert_break_glass(&mut self, row: &BreakGlassRow) -> Result<(), StoreError>;
    /// Closes the review of an episode; false if unknown or already reviewed.
    fn review_break_glass(
        &mut self,
        id: &str,
        reviewer: &str,
        note_sealed: &[u8],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Records the last use of an API token.
    fn touch_token(
        &mut self,
        id: &crate::ids::TokenId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
