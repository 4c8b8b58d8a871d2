//! API tokens on the wire: scopes, the create request, the public description of a token,
//! and the one-time answer that carries its secret (hidden from `Debug`).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A permission carried by a token.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Create and inspect collections.
    #[serde(rename = "collections:manage")]
    CollectionsManage,
    /// Read, search and list records and their history.
    #[serde(rename = "records:read")]
    RecordsRead,
    /// Create, update and delete records.
    #[serde(rename = "records:write")]
    RecordsWrite,
    /// Create, list and revoke API tokens.
    #[serde(rename = "tokens:manage")]
    TokensManage,
    /// Verify and read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] = [
        Scope::CollectionsManage,
        Scope::RecordsRead,
        Scope::RecordsWrite,
        Scope::TokensManage,
        Scope::AuditRead,
    ];

    /// The wire name, e.g. `records:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CollectionsManage => "collections:manage",
            Scope::RecordsRead => "records:read",
            Scope::RecordsWrite => "records:write",
            Scope::TokensManage => "tokens:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The body of `POST /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A label: 1–64 of `[A-Za-z0-9-_. ]`.
    pub name: String,
    /// The scopes, a subset of the caller's own.
    pub scopes: Vec<Scope>,
    /// The lifetime in seconds (at most the server's maximum).
    pub ttl_seconds: i64,
}

/// A token's public description; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// The public id.
    pub id: Uuid,
    /// The label.
    pub name: String,
    /// What it allows.
    pub scopes: Vec<Scope>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The answer to `POST /v1/tokens`: the only time the secret is shown.
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
