//! The SQL behind [`IdentityReadTx`] and [`IdentityWriteTx`] (users, sessions, login
//! failures, recovery codes, custom roles, care relationships, break glass, `touch_token`),
//! statement for statement the SQLite backend's, with the conventions of [`crate::tx`].

use phivault_core::identity_store::{
    BreakGlassRow, CareRelationshipRow, IdentityReadTx, IdentityWriteTx, RoleRow, SessionRow,
    UserRow,
};
use phivault_core::{StoreError, TokenId};
use time::OffsetDateTime;
use tokio_postgres::Row;

use crate::tx::{PgTx, corrupt, get, get_hash, get_time, get_u64, int, nanos, uuid_text};

// ---- encoding ----

fn roles_json(roles: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(roles)
        .map_err(|_| StoreError::Unavailable("role names could not be encoded".into()))
}

fn opt_nanos(t: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    t.map(nanos).transpose()
}

// ---- decoding ----

fn get_opt_time(
    row: &Row,
    i: usize,
    what: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    get::<Option<i64>>(row, i, what)?
        .map(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)))
        .transpose()
        .map_err(|_| corrupt(what))
}

fn get_opt_u64(row: &Row, i: usize, what: &'static str) -> Result<Option<u64>, StoreError> {
    get::<Option<i64>>(row, i, what)?
        .map(u64::try_from)
        .transpose()
        .map_err(|_| corrupt(what))
}

macro_rules! user_columns {
    () => {
        "id, username, kind, password_phc, totp_sealed, totp_last_step, roles, \
         allow_admin_phi, disabled, created_at, updated_at"
    };
}

fn decode_user(row: &Row) -> Result<UserRow, StoreError> {
    let roles: &str = get(row, 6, "users.roles")?;
    Ok(UserRow {
        id: get(row, 0, "users.id")?,
        username: get(row, 1, "users.username")?,
        kind: get(row, 2, "users.kind")?,
        password_phc: get(row, 3, "users.password_phc")?,
        totp_sealed: get(row, 4, "users.totp_sealed")?,
        totp_last_step: get_opt_u64(row, 5, "users.totp_last_step")?,
        roles: serde_json::from_str(roles).map_err(|_| corrupt("users.roles"))?,
        allow_admin_phi: get(row, 7, "users.allow_admin_phi")?,
        disabled: get(row, 8, "users.disabled")?,
        created_at: get_time(row, 9, "users.created_at")?,
        updated_at: get_time(row, 10, "users.updated_at")?,
    })
}

macro_rules! session_columns {
    () => {
        "id, user_id, secret_hash, created_at, last_seen_at, expires_at, revoked_at"
    };
}

fn decode_session(row: &Row) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: get(row, 0, "sessions.id")?,
        user_id: get(row, 1, "sessions.user_id")?,
        secret_hash: get_hash(row, 2, "sessions.secret_hash")?,
        created_at: get_time(row, 3, "sessions.created_at")?,
        last_seen_at: get_time(row, 4, "sessions.last_seen_at")?,
        expires_at: get_time(row, 5, "sessions.expires_at")?,
        revoked_at: get_opt_time(row, 6, "sessions.revoked_at")?,
    })
}

fn decode_role(row: &Row) -> Result<RoleRow, StoreError> {
    Ok(RoleRow {
        name: get(row, 0, "roles.name")?,
        definition_json: get(row, 1, "roles.definition_json")?,
        updated_at: get_time(row, 2, "roles.updated_at")?,
    })
}

fn decode_care(row: &Row) -> Result<CareRelationshipRow, StoreError> {
    Ok(CareRelationshipRow {
        principal_id: get(row, 0, "care_relationships.principal_id")?,
        subject: get(row, 1, "care_relationships.subject")?,
        created_at: get_time(row, 2, "care_relationships.created_at")?,
        expires_at: get_opt_time(row, 3, "care_relationships.expires_at")?,
    })
}

macro_rules! break_glass_columns {
    () => {
        "id, principal_id, subject, reason_sealed, opened_at, expires_at, reviewed_at, \
         reviewer, review_sealed"
    };
}

fn decode_break_glass(row: &Row) -> Result<BreakGlassRow, StoreError> {
    Ok(BreakGlassRow {
        id: get(row, 0, "break_glass.id")?,
        principal_id: get(row, 1, "break_glass.principal_id")?,
        subject: get(row, 2, "break_glass.subject")?,
        reason_sealed: get(row, 3, "break_glass.reason_sealed")?,
        opened_at: get_time(row, 4, "break_glass.opened_at")?,
        expires_at: get_time(row, 5, "break_glass.expires_at")?,
        reviewed_at: get_opt_time(row, 6, "break_glass.reviewed_at")?,
        reviewer: get(row, 7, "break_glass.reviewer")?,
        review_sealed: get(row, 8, "break_glass.review_sealed")?,
    })
}

impl IdentityReadTx for PgTx<'_> {
    fn get_user(&mut self, id: &str) -> Result<Option<UserRow>, StoreError> {
        self.row(
            concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
            &[&id],
            decode_user,
        )
    }

    fn get_user_by_name(&mut self, username: &str) -> Result<Option<UserRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username = $1"
            ),
            &[&username],
            decode_user,
        )
    }

    fn list_users(&mut self) -> Result<Vec<UserRow>, StoreError> {
        self.rows(
            concat!("SELECT ", user_columns!(), " FROM users ORDER BY username"),
            &[],
            decode_user,
        )
    }

    fn get_session_by_hash(&mut self, hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE secret_hash = $1"
            ),
            &[&&hash[..]],
            decode_session,
        )
    }

    fn login_failures_since(
        &mut self,
        key: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, Option<OffsetDateTime>), StoreError> {
        let found = self.row(
            "SELECT count(*), max(at) FROM login_failures WHERE key = $1 AND at >= $2",
            &[&key, &nanos(since)?],
            |r| {
                Ok((
                    get_u64(r, 0, "count(login_failures)")?,
                    get_opt_time(r, 1, "login_failures.at")?,
                ))
            },
        )?;
        Ok(found.unwrap_or((0, None)))
    }

    fn has_recovery_code(&mut self, user_id: &str, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let found = self.row(
            "SELECT 1 FROM recovery_codes \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[&user_id, &&hash[..]],
            |_| Ok(()),
        )?;
        Ok(found.is_some())
    }

    fn get_role(&mut self, name: &str) -> Result<Option<RoleRow>, StoreError> {
        self.row(
            "SELECT name, definition_json, updated_at FROM roles WHERE name = $1",
            &[&name],
            decode_role,
        )
    }

    fn list_roles(&mut self) -> Result<Vec<RoleRow>, StoreError> {
        self.rows(
            "SELECT name, definition_json, updated_at FROM roles ORDER BY name",
            &[],
            decode_role,
        )
    }

    fn care_relationship_active(
        &mut self,
        principal_id: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let found = self.row(
            "SELECT 1 FROM care_relationships \
             WHERE principal_id = $1 AND subject = $2 \
             AND (expires_at IS NULL OR expires_at > $3)",
            &[&principal_id, &subject, &nanos(now)?],
            |_| Ok(()),
        )?;
        Ok(found.is_some())
    }

    fn list_care_relationships(
        &mut self,
        principal_id: &str,
    ) -> Result<Vec<CareRelationshipRow>, StoreError> {
        self.rows(
            "SELECT principal_id, subject, created_at, expires_at FROM care_relationships \
             WHERE principal_id = $1 ORDER BY subject",
            &[&principal_id],
            decode_care,
        )
    }

    fn active_break_glass(
        &mut self,
        principal_id: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BreakGlassRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                break_glass_columns!(),
                " FROM break_glass \
                 WHERE principal_id = $1 AND subject = $2 AND opened_at <= $3 AND expires_at > $3 \
                 ORDER BY opened_at DESC, id DESC LIMIT 1"
            ),
            &[&principal_id, &subject, &nanos(now)?],
            decode_break_glass,
        )
    }

    fn list_break_glass(&mut self, open_only: bool) -> Result<Vec<BreakGlassRow>, StoreError> {
        if open_only {
            self.rows(
                concat!(
                    "SELECT ",
                    break_glass_columns!(),
                    " FROM break_glass WHERE reviewed_at IS NULL ORDER BY opened_at DESC, id DESC"
                ),
                &[],
                decode_break_glass,
            )
        } else {
            self.rows(
                concat!(
                    "SELECT ",
                    break_glass_columns!(),
                    " FROM break_glass ORDER BY opened_at DESC, id DESC"
                ),
                &[],
                decode_break_glass,
            )
        }
    }

    fn get_break_glass(&mut self, id: &str) -> Result<Option<BreakGlassRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                break_glass_columns!(),
                " FROM break_glass WHERE id = $1"
            ),
            &[&id],
            decode_break_glass,
        )
    }
}

impl IdentityWriteTx for PgTx<'_> {
    fn insert_user(&mut self, row: &UserRow) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO users (",
                user_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
            ),
            &[
                &row.id,
                &row.username,
                &row.kind,
                &row.password_phc,
                &row.totp_sealed,
                &row.totp_last_step
                    .map(|s| int(s, "totp time step"))
                    .transpose()?,
                &roles_json(&row.roles)?,
                &row.allow_admin_phi,
                &row.disabled,
                &nanos(row.created_at)?,
                &nanos(row.updated_at)?,
            ],
        )
    }

    fn update_user(&mut self, row: &UserRow) -> Result<bool, StoreError> {
        // A rename onto a taken name is refused as SQLite's UNIQUE would refuse it, but
        // without aborting the transaction (see `PgTx::insert`).
        let taken = self.row(
            "SELECT 1 FROM users WHERE username = $1 AND id <> $2",
            &[&row.username, &row.id],
            |_| Ok(()),
        )?;
        if taken.is_some() {
            return Err(StoreError::Duplicate);
        }
        let n = self.exec(
            "UPDATE users SET username = $2, kind = $3, password_phc = $4, totp_sealed = $5, \
             totp_last_step = $6, roles = $7, allow_admin_phi = $8, disabled = $9, \
             created_at = $10, updated_at = $11 WHERE id = $1",
            &[
                &row.id,
                &row.username,
                &row.kind,
                &row.password_phc,
                &row.totp_sealed,
                &row.totp_last_step
                    .map(|s| int(s, "totp time step"))
                    .transpose()?,
                &roles_json(&row.roles)?,
                &row.allow_admin_phi,
                &row.disabled,
                &nanos(row.created_at)?,
                &nanos(row.updated_at)?,
            ],
        )?;
        Ok(n > 0)
    }

    fn insert_session(&mut self, row: &SessionRow) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO sessions (",
                session_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
            ),
            &[
                &row.id,
                &row.user_id,
                &&row.secret_hash[..],
                &nanos(row.created_at)?,
                &nanos(row.last_seen_at)?,
                &nanos(row.expires_at)?,
                &opt_nanos(row.revoked_at)?,
            ],
        )
    }

    fn touch_session(&mut self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET last_seen_at = $2 WHERE id = $1",
            &[&id, &nanos(at)?],
        )
        .map(drop)
    }

    fn revoke_session(&mut self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &nanos(at)?],
        )?;
        Ok(n > 0)
    }

    fn revoke_user_sessions(
        &mut self,
        user_id: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.exec(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user_id, &nanos(at)?],
        )
    }

    fn insert_login_failure(&mut self, key: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO login_failures (key, at) VALUES ($1, $2)",
            &[&key, &nanos(at)?],
        )
        .map(drop)
    }

    fn clear_login_failures(&mut self, key: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM login_failures WHERE key = $1", &[&key])
            .map(drop)
    }

    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        self.exec("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])?;
        for hash in hashes {
            // DO NOTHING: a repeated hash in one batch is one code.
            self.exec(
                "INSERT INTO recovery_codes (user_id, code_hash, used_at) \
                 VALUES ($1, $2, NULL) ON CONFLICT DO NOTHING",
                &[&user_id, &&hash[..]],
            )?;
        }
        Ok(())
    }

    fn use_recovery_code(
        &mut self,
        user_id: &str,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[&user_id, &&hash[..], &nanos(at)?],
        )?;
        Ok(n > 0)
    }

    fn upsert_role(&mut self, row: &RoleRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO roles (name, definition_json, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET \
             definition_json = excluded.definition_json, updated_at = excluded.updated_at",
            &[&row.name, &row.definition_json, &nanos(row.updated_at)?],
        )
        .map(drop)
    }

    fn delete_role(&mut self, name: &str) -> Result<bool, StoreError> {
        let n = self.exec("DELETE FROM roles WHERE name = $1", &[&name])?;
        Ok(n > 0)
    }

    fn upsert_care_relationship(&mut self, row: &CareRelationshipRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO care_relationships (principal_id, subject, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (principal_id, subject) DO UPDATE SET \
             created_at = excluded.created_at, expires_at = excluded.expires_at",
            &[
                &row.principal_id,
                &row.subject,
                &nanos(row.created_at)?,
                &opt_nanos(row.expires_at)?,
            ],
        )
        .map(drop)
    }

    fn delete_care_relationship(
        &mut self,
        principal_id: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "DELETE FROM care_relationships WHERE principal_id = $1 AND subject = $2",
            &[&principal_id, &subject],
        )?;
        Ok(n > 0)
    }

    fn insert_break_glass(&mut self, row: &BreakGlassRow) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO break_glass (",
                break_glass_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
            ),
            &[
                &row.id,
                &row.principal_id,
                &row.subject,
                &row.reason_sealed,
                &nanos(row.opened_at)?,
                &nanos(row.expires_at)?,
                &opt_nanos(row.reviewed_at)?,
                &row.reviewer,
                &row.review_sealed,
            ],
        )
    }

    fn review_break_glass(
        &mut self,
        id: &str,
        reviewer: &str,
        note_sealed: &[u8],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE break_glass SET reviewed_at = $4, reviewer = $2, review_sealed = $3 \
             WHERE id = $1 AND reviewed_at IS NULL",
            &[&id, &reviewer, &note_sealed, &nanos(at)?],
        )?;
        Ok(n > 0)
    }

    fn touch_token(&mut self, id: &TokenId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.exec(
            "UPDATE tokens SET last_used_at = $2 WHERE id = $1",
            &[&uuid_text(&id.0), &nanos(at)?],
        )
        .map(drop)
    }
}
