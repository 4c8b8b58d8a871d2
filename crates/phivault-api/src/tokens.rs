//! API tokens on the wire: the create request (a service account, a name, roles and a
//! lifetime), the public description of a token, and the one-time answer that carries its
//! secret (hidden from `Debug`).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of `POST /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The username of the service account the token acts for.
    pub owner: String,
    /// A label: 1–64 of `[A-Za-z0-9-_. ]`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._ -]+$")]
    pub name: String,
    /// Role names, a non-empty subset of the service account's roles.
    pub roles: Vec<String>,
    /// The lifetime in seconds: at least 1, at most the server's maximum (90 days unless
    /// configured otherwise; the served document states the configured one).
    #[schema(minimum = 1, maximum = 7_776_000)]
    pub ttl_seconds: i64,
}

/// A token's public description; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// The public id.
    pub id: Uuid,
    /// The label.
    pub name: String,
    /// The id of the service account it acts for.
    pub owner: String,
    /// The role names it carries.
    pub roles: Vec<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used (recorded at most once a minute).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The answer to `POST /v1/tokens` and `POST /v1/tokens/{id}/rotate`: the only time the
/// secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token's description.
    pub token: Token,
    /// The bearer secret; store it now, it cannot be shown again.
    pub secret: String,
}

// The secret must not reach logs through `{:?}`.
impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// A page of tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// The tokens, newest first.
    pub items: Vec<Token>,
    /// Always absent: every token fits in one page.
    pub next_cursor: Option<String>,
}
