//! Client calls for identity and access: login and sessions, users and service accounts,
//! roles, care relationships, break-glass episodes and API tokens.

use phivault_api::{
    BreakGlassEpisode, BreakGlassList, BreakGlassRequest, CareRelationship, CareRelationshipKey,
    CreateServiceAccountRequest, CreateTokenRequest, CreateUserRequest, CreatedToken, CreatedUser,
    LoginRequest, LoginResponse, ResetPasswordRequest, ReviewRequest, RevokedSessions, Role,
    RoleList, SetRolesRequest, TokenList, User, UserList,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Client, ClientError};

impl Client {
    // ----- login and sessions ----------------------------------------------------------

    /// `POST /v1/auth/login`: logs a human user in with password and second factor (a TOTP
    /// code or a recovery code). The answer's `session_token` is the bearer token of the
    /// session: pass it to [`Client::with_token`]. No bearer token is sent.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            code: code.map(str::to_owned),
        };
        let req = self
            .http
            .post(self.url(&["v1", "auth", "login"])?)
            .json(&body);
        let res = self.json(req).await;
        // the request body held the password; clear our copy
        let LoginRequest { password, code, .. } = body;
        drop((Zeroizing::new(password), code.map(Zeroizing::new)));
        res
    }

    /// `POST /v1/auth/logout`: ends the session whose token this client sends.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let req = self.request(Method::POST, self.url(&["v1", "auth", "logout"])?)?;
        self.send(req).await?;
        Ok(())
    }

    // ----- users and service accounts --------------------------------------------------

    /// Every user and service account.
    pub async fn list_users(&self) -> Result<UserList, ClientError> {
        self.get(&["v1", "users"]).await
    }

    /// Creates a human user; the answer holds their second-factor enrollment (shown once).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<CreatedUser, ClientError> {
        let body = CreateUserRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "users"])?)?
            .json(&body);
        let res = self.json(req).await;
        drop(Zeroizing::new(body.password));
        res
    }

    /// Creates a service account, the owner of API tokens.
    pub async fn create_service_account(
        &self,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<User, ClientError> {
        let body = CreateServiceAccountRequest {
            username: username.to_owned(),
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "service-accounts"])?)?
            .json(&body);
        self.json(req).await
    }

    async fn user_action<T: DeserializeOwned>(
        &self,
        username: &str,
        action: &str,
    ) -> Result<T, ClientError> {
        let req = self.request(Method::POST, self.url(&["v1", "users", username, action])?)?;
        self.json(req).await
    }

    /// Disables an account and ends its sessions.
    pub async fn disable_user(&self, username: &str) -> Result<User, ClientError> {
        self.user_action(username, "disable").await
    }

    /// Enables a disabled account.
    pub async fn enable_user(&self, username: &str) -> Result<User, ClientError> {
        self.user_action(username, "enable").await
    }

    /// Ends every session of a user; returns how many ended.
    pub async fn revoke_sessions(&self, username: &str) -> Result<u64, ClientError> {
        let r: RevokedSessions = self.user_action(username, "revoke-sessions").await?;
        Ok(r.revoked)
    }

    /// Sets a new password for a user (ends their sessions).
    pub async fn reset_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<User, ClientError> {
        let body = ResetPasswordRequest {
            password: password.to_owned(),
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "users", username, "reset-password"])?,
            )?
            .json(&body);
        let res = self.json(req).await;
        drop(Zeroizing::new(body.password));
        res
    }

    /// Replaces a user's roles.
    pub async fn set_user_roles(
        &self,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<User, ClientError> {
        let body = SetRolesRequest {
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::PUT, self.url(&["v1", "users", username, "roles"])?)?
            .json(&body);
        self.json(req).await
    }

    // ----- roles -----------------------------------------------------------------------

    /// Every role, built-in ones first.
    pub async fn list_roles(&self) -> Result<RoleList, ClientError> {
        self.get(&["v1", "roles"]).await
    }

    /// Defines or replaces a custom role.
    pub async fn put_role(&self, role: &Role) -> Result<Role, ClientError> {
        let req = self
            .request(Method::PUT, self.url(&["v1", "roles", &role.name])?)?
            .json(role);
        self.json(req).await
    }

    // ----- care relationships ----------------------------------------------------------

    /// Links a user or service account to a subject (until `expires_at`, if given).
    pub async fn assign_subject(
        &self,
        username: &str,
        subject: &str,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<CareRelationship, ClientError> {
        let body = CareRelationship {
            username: username.to_owned(),
            subject: subject.to_owned(),
            expires_at,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "care-relationships"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Ends a care relationship.
    pub async fn unassign_subject(&self, username: &str, subject: &str) -> Result<(), ClientError> {
        let body = CareRelationshipKey {
            username: username.to_owned(),
            subject: subject.to_owned(),
        };
        let req = self
            .request(Method::DELETE, self.url(&["v1", "care-relationships"])?)?
            .json(&body);
        self.send(req).await?;
        Ok(())
    }

    // ----- break-glass and compliance --------------------------------------------------

    /// Opens emergency access to one subject for `duration_minutes`, with a reason; read
    /// its records with the purpose of use `ETREAT`.
    pub async fn open_break_glass(
        &self,
        subject: &str,
        reason: &str,
        duration_minutes: i64,
    ) -> Result<BreakGlassEpisode, ClientError> {
        let body = BreakGlassRequest {
            subject: subject.to_owned(),
            reason: reason.to_owned(),
            duration_minutes,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "break-glass"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Break-glass episodes: only those awaiting review with `open_only`, else all.
    pub async fn list_break_glass(&self, open_only: bool) -> Result<BreakGlassList, ClientError> {
        let mut url = self.url(&["v1", "break-glass"])?;
        if open_only {
            url.query_pairs_mut().append_pair("open", "true");
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    /// Closes the review of a break-glass episode with a note.
    pub async fn review_break_glass(
        &self,
        id: &str,
        note: &str,
    ) -> Result<BreakGlassEpisode, ClientError> {
        let body = ReviewRequest {
            note: note.to_owned(),
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "break-glass", id, "review"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    // ----- tokens -------------------------------------------------------------------

    /// Issues an API token for the service account `owner`, carrying `roles` (a subset of
    /// the account's) for `ttl_seconds`; the answer holds its secret.
    pub async fn create_token(
        &self,
        owner: &str,
        name: &str,
        roles: &[String],
        ttl_seconds: i64,
    ) -> Result<CreatedToken, ClientError> {
        let body = CreateTokenRequest {
            owner: owner.to_owned(),
            name: name.to_owned(),
            roles: roles.to_vec(),
            ttl_seconds,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "tokens"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Replaces a token with a new secret (same owner, roles and lifetime) and revokes the
    /// old one; the answer holds the new secret.
    pub async fn rotate_token(&self, id: Uuid) -> Result<CreatedToken, ClientError> {
        let id = id.to_string();
        let req = self.request(Method::POST, self.url(&["v1", "tokens", &id, "rotate"])?)?;
        self.json(req).await
    }

    /// Every token's public description.
    pub async fn list_tokens(&self) -> Result<TokenList, ClientError> {
        self.get(&["v1", "tokens"]).await
    }

    /// Revokes a token at once.
    pub async fn revoke_token(&self, id: Uuid) -> Result<(), ClientError> {
        let id = id.to_string();
        let req = self.request(Method::DELETE, self.url(&["v1", "tokens", &id])?)?;
        self.send(req).await?;
        Ok(())
    }
}
