//! The operator's identity commands: users, service accounts, roles and grants, tokens.
//! They run locally against the data directory as the operator who holds the passphrase
//! (the `local_cli` principal); every change is audited like an API call.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;
use zeroize::Zeroizing;

use phivault_core::{
    DataAction, Grant, Mask, Principal, PurposeOfUse, RequestMeta, Role, SubjectId, SubjectScope,
    TokenId, TokenInfo,
};

use crate::datadir::Opened;

/// `phivault user …`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a person's account; prints the authenticator enrollment (QR code) and recovery codes once.
    Create {
        /// Login name.
        username: String,
        /// A role to hold (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Allow administrative and PHI roles together (flagged as a compliance gap).
        #[arg(long)]
        allow_admin_phi: bool,
    },
    /// List users and service accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Login name.
        username: String,
    },
    /// Set a new password (asked for, or PHIVAULT_NEW_PASSWORD) and end the user's sessions.
    ResetPassword {
        /// Login name.
        username: String,
    },
    /// Replace an account's roles.
    Roles {
        /// Login name.
        username: String,
        /// A role to hold (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Allow administrative and PHI roles together (flagged as a compliance gap).
        #[arg(long)]
        allow_admin_phi: bool,
    },
    /// End every session of a user.
    RevokeSessions {
        /// Login name.
        username: String,
    },
    /// Link an account to a subject (care relationship) so `assigned` grants reach it.
    Assign {
        /// Login name.
        username: String,
        /// The subject id.
        #[arg(long)]
        subject: String,
        /// End of the relationship, RFC 3339.
        #[arg(long)]
        until: Option<String>,
    },
    /// End a care relationship.
    Unassign {
        /// Login name.
        username: String,
        /// The subject id.
        #[arg(long)]
        subject: String,
    },
}

/// `phivault service-account …`
#[derive(Debug, Subcommand)]
pub(crate) enum ServiceAccountCommand {
    /// Create a service account (a non-human identity that holds API tokens).
    Create {
        /// Account name.
        username: String,
        /// A role to hold (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Allow administrative and PHI roles together (flagged as a compliance gap).
        #[arg(long)]
        allow_admin_phi: bool,
    },
}

/// `phivault role …`
#[derive(Debug, Subcommand)]
pub(crate) enum RoleCommand {
    /// List built-in and custom roles with their grants.
    List,
    /// Define or replace a custom role from a JSON file (see ARCHITECTURE.md for the shape).
    Put {
        /// The role definition.
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

/// `phivault grant …`
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Add a data grant to a custom role (created if missing).
    Add {
        /// The custom role.
        #[arg(long)]
        role: String,
        /// A collection, or `*` (repeatable).
        #[arg(long = "collection", required = true)]
        collections: Vec<String>,
        /// read, create, update, delete, search, history or export (repeatable).
        #[arg(long = "action", required = true)]
        actions: Vec<String>,
        /// A visible field, or `*` (repeatable; default `*`).
        #[arg(long = "field")]
        fields: Vec<String>,
        /// A masked field as FIELD=last4 or FIELD=redact (repeatable).
        #[arg(long = "mask")]
        masks: Vec<String>,
        /// `all` or `assigned`.
        #[arg(long, default_value = "assigned")]
        subjects: String,
        /// An HL7 purpose of use, e.g. TREAT (repeatable).
        #[arg(long = "purpose", required = true)]
        purposes: Vec<String>,
    },
}

/// `phivault token …`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a token for a service account; its secret is printed once.
    Create {
        /// The service account it acts for.
        #[arg(long)]
        owner: String,
        /// A label for the token.
        #[arg(long)]
        name: String,
        /// A role to carry, one the account holds (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Lifetime, e.g. 30d, 12h, 90m (at most the configured maximum).
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token id.
        id: String,
    },
    /// Replace a token with a new secret (same owner, roles, lifetime) and revoke the old.
    Rotate {
        /// The token id.
        id: String,
    },
}

fn meta(action: &str) -> RequestMeta {
    crate::local_meta(action)
}

fn print_json_or(as_json: bool, value: serde_json::Value, text: impl FnOnce()) {
    if as_json {
        println!("{value}");
    } else {
        text();
    }
}

fn new_password(username: &str) -> Result<Zeroizing<String>> {
    if let Some(p) = crate::config::env::secret(crate::config::env::NEW_PASSWORD) {
        return Ok(p);
    }
    let p = Zeroizing::new(
        rpassword::prompt_password(format!("Password for {username}: "))
            .context("no PHIVAULT_NEW_PASSWORD and no terminal to ask for it")?,
    );
    let again = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?);
    if *again != *p {
        bail!("the passwords differ");
    }
    Ok(p)
}

fn user_json(u: &phivault_core::UserInfo) -> serde_json::Value {
    serde_json::to_value(u).unwrap_or_default()
}

/// Runs a `user` subcommand.
pub(crate) async fn user(opened: &Opened, cmd: UserCommand, as_json: bool) -> Result<ExitCode> {
    let op = Principal::local_operator();
    let v = &opened.vault;
    match cmd {
        UserCommand::Create {
            username,
            roles,
            allow_admin_phi,
        } => {
            let pw = new_password(&username)?;
            let (info, enrollment) = v
                .create_user(
                    &meta("user-create"),
                    &op,
                    &username,
                    &pw,
                    &roles,
                    allow_admin_phi,
                )
                .await?;
            let codes: Vec<&str> = enrollment
                .recovery_codes
                .iter()
                .map(|c| c.as_str())
                .collect();
            print_json_or(
                as_json,
                json!({"user": user_json(&info), "otpauth_uri": enrollment.otpauth_uri.as_str(),
                       "recovery_codes": codes}),
                || {
                    println!("Created {} ({})", info.username, info.id);
                    println!("Scan this with an authenticator app (shown once):");
                    match crate::qr::render_qr(&enrollment.otpauth_uri) {
                        Ok(qr) => println!("{qr}"),
                        Err(_) => println!("(QR code unavailable)"),
                    }
                    println!("{}", enrollment.otpauth_uri.as_str());
                    println!("Recovery codes (each works once; store them offline):");
                    for c in &codes {
                        println!("  {c}");
                    }
                },
            );
        }
        UserCommand::List => {
            let users = v.list_users(&meta("user-list"), &op).await?;
            print_json_or(
                as_json,
                serde_json::Value::Array(users.iter().map(user_json).collect()),
                || {
                    for u in &users {
                        println!(
                            "{}  {:<24} {:<8} {:<9} mfa={} {}",
                            u.id,
                            u.username,
                            u.kind,
                            if u.disabled { "disabled" } else { "active" },
                            u.mfa_enrolled,
                            u.roles.join(",")
                        );
                    }
                },
            );
        }
        UserCommand::Disable { username } => {
            let u = v
                .disable_user(&meta("user-disable"), &op, &username)
                .await?;
            print_json_or(as_json, user_json(&u), || println!("disabled {username}"));
        }
        UserCommand::Enable { username } => {
            let u = v.enable_user(&meta("user-enable"), &op, &username).await?;
            print_json_or(as_json, user_json(&u), || println!("enabled {username}"));
        }
        UserCommand::ResetPassword { username } => {
            let pw = new_password(&username)?;
            let u = v
                .reset_password(&meta("user-reset-password"), &op, &username, &pw)
                .await?;
            print_json_or(as_json, user_json(&u), || {
                println!("password of {username} reset; its sessions are ended")
            });
        }
        UserCommand::Roles {
            username,
            roles,
            allow_admin_phi,
        } => {
            let u = v
                .set_user_roles(&meta("user-roles"), &op, &username, &roles, allow_admin_phi)
                .await?;
            print_json_or(as_json, user_json(&u), || {
                println!("{username} now holds {}", u.roles.join(", "))
            });
        }
        UserCommand::RevokeSessions { username } => {
            let n = v
                .revoke_sessions(&meta("user-revoke-sessions"), &op, &username)
                .await?;
            print_json_or(as_json, json!({"revoked": n}), || {
                println!("{n} sessions of {username} ended")
            });
        }
        UserCommand::Assign {
            username,
            subject,
            until,
        } => {
            let subject = SubjectId::parse(&subject)?;
            let until = until
                .map(|u| {
                    time::OffsetDateTime::parse(&u, &time::format_description::well_known::Rfc3339)
                })
                .transpose()
                .context("--until must be RFC 3339")?;
            v.assign_subject(&meta("user-assign"), &op, &username, &subject, until)
                .await?;
            print_json_or(as_json, json!({"assigned": subject.as_str()}), || {
                println!("{username} is assigned to {subject}")
            });
        }
        UserCommand::Unassign { username, subject } => {
            let subject = SubjectId::parse(&subject)?;
            v.unassign_subject(&meta("user-unassign"), &op, &username, &subject)
                .await?;
            print_json_or(as_json, json!({"unassigned": subject.as_str()}), || {
                println!("{username} is no longer assigned to {subject}")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `service-account` subcommand.
pub(crate) async fn service_account(
    opened: &Opened,
    cmd: ServiceAccountCommand,
    as_json: bool,
) -> Result<ExitCode> {
    let ServiceAccountCommand::Create {
        username,
        roles,
        allow_admin_phi,
    } = cmd;
    let u = opened
        .vault
        .create_service_account(
            &meta("service-account-create"),
            &Principal::local_operator(),
            &username,
            &roles,
            allow_admin_phi,
        )
        .await?;
    print_json_or(as_json, user_json(&u), || {
        println!("created service account {} ({})", u.username, u.id)
    });
    Ok(ExitCode::SUCCESS)
}

/// Runs a `role` subcommand.
pub(crate) async fn role(opened: &Opened, cmd: RoleCommand, as_json: bool) -> Result<ExitCode> {
    let op = Principal::local_operator();
    match cmd {
        RoleCommand::List => {
            let roles = opened.vault.list_roles(&meta("role-list"), &op).await?;
            print_json_or(as_json, serde_json::to_value(&roles)?, || {
                for r in &roles {
                    let scopes: Vec<&str> = r.scopes.iter().map(|s| s.as_str()).collect();
                    println!(
                        "{:<16} scopes=[{}] grants={}  {}",
                        r.name,
                        scopes.join(","),
                        r.grants.len(),
                        r.description
                    );
                }
            });
        }
        RoleCommand::Put { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let role: Role = serde_json::from_str(&text).context("parsing the role")?;
            let role = opened.vault.put_role(&meta("role-put"), &op, role).await?;
            print_json_or(as_json, serde_json::to_value(&role)?, || {
                println!("role {} saved", role.name)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_action(s: &str) -> Result<DataAction> {
    DataAction::ALL
        .into_iter()
        .find(|a| a.as_str() == s)
        .with_context(|| format!("unknown action {s:?}"))
}

/// Runs a `grant` subcommand.
pub(crate) async fn grant(opened: &Opened, cmd: GrantCommand, as_json: bool) -> Result<ExitCode> {
    let GrantCommand::Add {
        role,
        collections,
        actions,
        fields,
        masks,
        subjects,
        purposes,
    } = cmd;
    let op = Principal::local_operator();
    let grant = Grant {
        collections,
        actions: actions
            .iter()
            .map(|a| parse_action(a))
            .collect::<Result<_>>()?,
        fields: if fields.is_empty() {
            vec!["*".to_owned()]
        } else {
            fields
        },
        masked: masks
            .iter()
            .map(|m| {
                let (field, kind) = m
                    .split_once('=')
                    .context("--mask wants FIELD=last4|redact")?;
                let mask = match kind {
                    "last4" => Mask::Last4,
                    "redact" => Mask::Redact,
                    other => bail!("unknown mask {other:?}"),
                };
                Ok((field.to_owned(), mask))
            })
            .collect::<Result<_>>()?,
        subjects: match subjects.as_str() {
            "all" => SubjectScope::All,
            "assigned" => SubjectScope::Assigned,
            other => bail!("--subjects must be all or assigned, not {other:?}"),
        },
        purposes: purposes
            .iter()
            .map(|p| PurposeOfUse::parse(p).with_context(|| format!("unknown purpose {p:?}")))
            .collect::<Result<_>>()?,
    };
    let existing = opened
        .vault
        .list_roles(&meta("grant-add"), &op)
        .await?
        .into_iter()
        .find(|r| r.name == role);
    let mut role = existing.unwrap_or(Role {
        name: role,
        description: String::new(),
        scopes: Default::default(),
        grants: vec![],
    });
    role.grants.push(grant);
    let role = opened.vault.put_role(&meta("grant-add"), &op, role).await?;
    print_json_or(as_json, serde_json::to_value(&role)?, || {
        println!("role {} now has {} grant(s)", role.name, role.grants.len())
    });
    Ok(ExitCode::SUCCESS)
}

fn token_json(t: &TokenInfo) -> serde_json::Value {
    json!({"id": t.id.to_string(), "name": t.name, "owner": t.owner, "roles": t.roles,
           "created_at": crate::rfc3339(t.created_at),
           "expires_at": crate::rfc3339(t.expires_at),
           "revoked_at": t.revoked_at.map(crate::rfc3339),
           "last_used_at": t.last_used_at.map(crate::rfc3339)})
}

/// Runs a `token` subcommand.
pub(crate) async fn token(opened: &Opened, cmd: TokenCommand, as_json: bool) -> Result<ExitCode> {
    let op = Principal::local_operator();
    let v = &opened.vault;
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            roles,
            ttl,
        } => {
            let ttl = crate::parse_ttl(&ttl)?;
            let (info, secret) = v
                .create_token(&meta("token-create"), &op, &owner, &name, &roles, ttl)
                .await?;
            let mut out = token_json(&info);
            out["token"] = json!(secret.expose_secret());
            print_json_or(as_json, out, || {
                println!("{}", secret.expose_secret());
                eprintln!(
                    "token {} expires at {} (shown once)",
                    info.id, info.expires_at
                );
            });
        }
        TokenCommand::List => {
            let tokens = v.list_tokens(&meta("token-list"), &op).await?;
            print_json_or(
                as_json,
                serde_json::Value::Array(tokens.iter().map(token_json).collect()),
                || {
                    for t in &tokens {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{}  {:<20} {:<8} expires {}  {}",
                            t.id,
                            t.name,
                            state,
                            t.expires_at,
                            t.roles.join(",")
                        );
                    }
                },
            );
        }
        TokenCommand::Revoke { id } => {
            let id = TokenId::parse(&id)?;
            v.revoke_token(&meta("token-revoke"), &op, id).await?;
            print_json_or(as_json, json!({"revoked": id.to_string()}), || {
                println!("revoked {id}")
            });
        }
        TokenCommand::Rotate { id } => {
            let id = TokenId::parse(&id)?;
            let (info, secret) = v.rotate_token(&meta("token-rotate"), &op, id).await?;
            let mut out = token_json(&info);
            out["token"] = json!(secret.expose_secret());
            print_json_or(as_json, out, || {
                println!("{}", secret.expose_secret());
                eprintln!("token {} replaces {id}, which is revoked", info.id);
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
