//! Rate limits at the edge: a token bucket (GCRA, from `governor`) per bearer token, per
//! source address, and for logins per source address (core's lockout counts failures per
//! login name; this one stops one address from trying many names). A refusal is a 429
//! problem document with `Retry-After`, audited once per key and window, never per request,
//! so a flood cannot flood the audit log. Also the body limit of each route.
//!
//! Buckets live in this process: on several nodes each node limits on its own. The token
//! bucket is keyed by the SHA-256 of the `Authorization` value, so no token is kept or
//! logged, and a made-up token gets a bucket like a real one (its address bucket still
//! applies).

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use phivault_api::ErrorCode;
use phivault_core::AuditAction;
use sha2::{Digest, Sha256};

use crate::call::request_meta;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// The route of the one operation without a token, throttled per address on its own.
const LOGIN_ROUTE: &str = "/v1/auth/login";
/// How many checks pass between sweeps of buckets that are full again (idle keys).
const SWEEP_EVERY: u64 = 4096;

/// A token bucket: `burst` requests at once, then one more every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed at once (the bucket size).
    pub burst: NonZeroU32,
    /// Time to earn one more request.
    pub period: Duration,
}

impl Rate {
    /// `per_second` requests a second on average, `burst` at once; `None` when either is 0
    /// (the limit is off).
    pub fn per_second(per_second: u32, burst: u32) -> Option<Rate> {
        Self::per(Duration::from_secs(1), per_second, burst)
    }

    /// `per_minute` requests a minute on average, `burst` at once; `None` when either is 0.
    pub fn per_minute(per_minute: u32, burst: u32) -> Option<Rate> {
        Self::per(Duration::from_secs(60), per_minute, burst)
    }

    fn per(window: Duration, n: u32, burst: u32) -> Option<Rate> {
        let burst = NonZeroU32::new(burst)?;
        let period = window.checked_div(n)?;
        (!period.is_zero()).then_some(Rate { burst, period })
    }

    fn quota(self) -> Option<Quota> {
        Quota::with_period(self.period).map(|q| q.allow_burst(self.burst))
    }
}

/// The rate limits the edge enforces; `None` turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per bearer token.
    pub per_token: Option<Rate>,
    /// Requests per source address (every route, with or without a token).
    pub per_address: Option<Rate>,
    /// Login attempts per source address.
    pub login_per_address: Option<Rate>,
    /// At most one audit event per limited key in this long.
    pub audit_window: Duration,
}

impl RateLimits {
    /// No limits: what [`crate::AppState::new`] starts with; the binary sets its own.
    pub fn off() -> Self {
        Self {
            per_token: None,
            per_address: None,
            login_per_address: None,
            audit_window: Duration::from_secs(60),
        }
    }
}

/// Which bucket refused: the key of the refusal's audit event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Limited {
    Token([u8; 32]),
    Address(IpAddr),
    Login(IpAddr),
}

/// The buckets of one server (shared by every connection through [`AppState`]).
pub(crate) struct Limiters {
    per_token: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// One audit event per key and window: a bucket of one, refilled once a window.
    audited: Option<DefaultKeyedRateLimiter<Limited>>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("per_token", &self.per_token.is_some())
            .field("per_address", &self.per_address.is_some())
            .field("login", &self.login.is_some())
            .finish_non_exhaustive()
    }
}

fn forget_idle<K: Hash + Eq + Clone>(limiter: &Option<DefaultKeyedRateLimiter<K>>) {
    if let Some(l) = limiter {
        l.retain_recent();
        l.shrink_to_fit();
    }
}

fn keyed<K: Hash + Eq + Clone>(rate: Option<Rate>) -> Option<DefaultKeyedRateLimiter<K>> {
    rate.and_then(Rate::quota).map(governor::RateLimiter::keyed)
}

impl Limiters {
    /// Buckets for `limits`.
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let audit = Rate {
            burst: NonZeroU32::MIN,
            period: limits.audit_window,
        };
        Self {
            per_token: keyed(limits.per_token),
            per_address: keyed(limits.per_address),
            login: keyed(limits.login_per_address),
            audited: keyed(Some(audit)),
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    fn is_off(&self) -> bool {
        self.per_token.is_none() && self.per_address.is_none() && self.login.is_none()
    }

    /// The first bucket that refuses this request, with the time until it would pass.
    fn check(
        &self,
        address: Option<IpAddr>,
        login: bool,
        token: Option<[u8; 32]>,
    ) -> Option<(Limited, Duration)> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let now = self.clock.now();
        if let (Some(l), Some(ip)) = (&self.per_address, address)
            && let Err(n) = l.check_key(&ip)
        {
            return Some((Limited::Address(ip), n.wait_time_from(now)));
        }
        if let (Some(l), Some(ip), true) = (&self.login, address, login)
            && let Err(n) = l.check_key(&ip)
        {
            return Some((Limited::Login(ip), n.wait_time_from(now)));
        }
        if let (Some(l), Some(t)) = (&self.per_token, token)
            && let Err(n) = l.check_key(&t)
        {
            return Some((Limited::Token(t), n.wait_time_from(now)));
        }
        None
    }

    /// Whether a refusal under `key` is the first in its audit window.
    fn audit_due(&self, key: Limited) -> bool {
        self.audited
            .as_ref()
            .is_none_or(|l| l.check_key(&key).is_ok())
    }

    /// Forgets keys whose buckets are full again, so idle clients cost no memory.
    fn sweep(&self) {
        forget_idle(&self.per_token);
        forget_idle(&self.per_address);
        forget_idle(&self.login);
        forget_idle(&self.audited);
    }
}

/// The rate-limit middleware (see the module docs). It runs inside the edge middleware, so
/// a refusal carries the request id and the security headers like every answer.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let limiters = &state.limiters;
    if limiters.is_off() {
        return next.run(req).await;
    }
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let login = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == LOGIN_ROUTE);
    // The hash, never the token: the bucket map holds nothing that authenticates.
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| <[u8; 32]>::from(Sha256::digest(v.as_bytes())));
    let Some((key, wait)) = limiters.check(address, login, token) else {
        return next.run(req).await;
    };
    let meta = request_meta(req.extensions());
    let refusal = bad_request(ErrorCode::RateLimited);
    let kind = match key {
        Limited::Token(_) => "token",
        Limited::Address(_) => "address",
        Limited::Login(_) => "login_address",
    };
    metrics::counter!("phivault_rate_limited_total", "limit" => kind).increment(1);
    if limiters.audit_due(key) {
        // Unauthenticated: the token is not checked before the limit, so it names no one.
        if let Err(e) = state
            .vault
            .record_rejected(&meta, None, AuditAction::HttpRateLimited, &refusal)
            .await
        {
            tracing::warn!(
                code = e.code(),
                limit = kind,
                "rate-limit refusal not audited"
            );
        }
    }
    let mut res = ApiError::new(refusal, &meta.request_id).into_response();
    // Whole seconds, rounded up: a client that waits this long finds a request's worth.
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    res
}

/// Largest body of an operation that never carries record data, schemas or free text of
/// any length (login, tokens, accounts, care relationships, break-glass, settings).
pub const SMALL_BODY_LIMIT: usize = 16 * 1024;

/// The body limit of the operation `action`: the configured limit for operations that
/// carry records, schemas, searches, roles or individuals' requests; [`SMALL_BODY_LIMIT`]
/// (or the configured limit, if lower) for the rest, so an unauthenticated login cannot
/// make the server buffer megabytes.
pub(crate) fn body_limit(action: AuditAction, configured: usize) -> usize {
    use AuditAction as A;
    match action {
        A::AuthLogin
        | A::AuthLogout
        | A::TokenCreate
        | A::TokenRotate
        | A::TokenRevoke
        | A::UserCreate
        | A::UserDisable
        | A::UserEnable
        | A::UserResetPassword
        | A::UserRevokeSessions
        | A::UserSetRoles
        | A::ServiceAccountCreate
        | A::CareAssign
        | A::CareUnassign
        | A::BreakglassOpen
        | A::BreakglassReview
        | A::PrivacyRetentionSet
        | A::PrivacyRetentionRun
        | A::AuditVerify
        | A::SubjectErase => configured.min(SMALL_BODY_LIMIT),
        _ => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_zero_are_off_and_others_have_a_period() {
        assert_eq!(Rate::per_second(0, 10), None);
        assert_eq!(Rate::per_second(10, 0), None);
        let r = Rate::per_second(4, 8).unwrap();
        assert_eq!(r.period, Duration::from_millis(250));
        assert_eq!(r.burst.get(), 8);
        assert_eq!(
            Rate::per_minute(10, 1).unwrap().period,
            Duration::from_secs(6)
        );
    }

    #[test]
    fn a_refusal_is_audited_once_per_key_and_window() {
        let l = Limiters::new(&RateLimits {
            per_address: Rate::per_minute(1, 1),
            ..RateLimits::off()
        });
        let ip: IpAddr = [192, 0, 2, 1].into();
        assert!(l.check(Some(ip), false, None).is_none());
        let (key, wait) = l.check(Some(ip), false, None).unwrap();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert!(l.audit_due(key.clone()));
        assert!(!l.audit_due(key));
        // another address has its own bucket and its own audit window
        let other: IpAddr = [192, 0, 2, 2].into();
        assert!(l.check(Some(other), false, None).is_none());
        assert!(l.audit_due(Limited::Address(other)));
    }

    #[test]
    fn small_bodies_for_operations_without_records() {
        assert_eq!(
            body_limit(AuditAction::AuthLogin, 1 << 20),
            SMALL_BODY_LIMIT
        );
        assert_eq!(body_limit(AuditAction::AuthLogin, 2048), 2048);
        assert_eq!(body_limit(AuditAction::RecordCreate, 1 << 20), 1 << 20);
    }
}
