//! The steps every handler runs before its one vault call: authenticate the bearer token,
//! apply `X-Purpose-Of-Use`, then parse path parameters, query and body. Every refusal on
//! the way is audited through `Vault::record_rejected` under the handler's action, and
//! the response names an error code, never the offending input.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use http_body_util::LengthLimitError;
use phivault_api::ErrorCode;
use phivault_api::PURPOSE_HEADER;
use phivault_core::audit::{Actor, ActorKind};
use phivault_core::{AuditAction, Principal, PurposeOfUse, RequestMeta, Vault, VaultError};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::accept::ClientCertSubject;
use crate::edge::RequestId;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// What a request says about itself before anything is checked.
#[derive(Debug)]
pub(crate) struct Ctx {
    meta: RequestMeta,
    authorization: Option<HeaderValue>,
    purpose: Option<HeaderValue>,
}

/// The request metadata recorded in audit events: request id and source. The source is
/// the peer address, followed by ` client_cert=` and the subject of the verified client
/// certificate when the connection presented one (mTLS), e.g.
/// `192.0.2.7 client_cert=CN=clinic-app,O=Example Clinic`: the event's source field
/// carries both without a change to the audit event format.
pub(crate) fn request_meta(parts_ext: &axum::http::Extensions) -> RequestMeta {
    let address = parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let subject = parts_ext.get::<ClientCertSubject>().map(|s| s.0.as_str());
    RequestMeta {
        request_id: parts_ext
            .get::<RequestId>()
            .map_or_else(|| Uuid::new_v4().to_string(), |r| r.0.clone()),
        source: match (address, subject) {
            (Some(a), Some(s)) => Some(format!("{a} client_cert={s}")),
            (None, Some(s)) => Some(format!("client_cert={s}")),
            (a, None) => a,
        },
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            meta: request_meta(&parts.extensions),
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            purpose: parts.headers.get(PURPOSE_HEADER).cloned(),
        })
    }
}

/// Path parameters in route order, or the fact that they were not valid UTF-8. Never
/// rejects, so that a bad path is audited like any other bad input.
#[derive(Debug)]
pub(crate) struct Params(Option<Vec<String>>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(
            RawPathParams::from_request_parts(parts, state)
                .await
                .ok()
                .map(|p| p.iter().map(|(_, v)| v.to_owned()).collect()),
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` header; any other form yields an empty
/// token, which the vault refuses as malformed (and audits as such).
fn bearer(value: &HeaderValue) -> &str {
    let Ok(s) = value.to_str() else { return "" };
    match (s.get(..7), s.get(7..)) {
        (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer ") => token.trim(),
        _ => "",
    }
}

impl Ctx {
    /// The request id.
    pub(crate) fn request_id(&self) -> &str {
        &self.meta.request_id
    }

    /// Refuses a request that reached no handler, audited without a principal (the
    /// caller is not authenticated for a route that does not exist).
    pub(crate) async fn refuse(
        self,
        state: &AppState,
        action: AuditAction,
        err: VaultError,
    ) -> ApiError {
        match state
            .vault
            .record_rejected(&self.meta, None, action, &err)
            .await
        {
            Ok(()) => ApiError::new(err, &self.meta.request_id),
            Err(audit) => ApiError::new(audit, &self.meta.request_id),
        }
    }

    /// The bearer token presented, if any (empty when the header is not a bearer token).
    pub(crate) fn bearer_token(&self) -> Option<&str> {
        self.authorization.as_ref().map(bearer)
    }

    /// A call with no authenticated caller, for the one operation that needs none
    /// (login). Refusals on the way are audited without a principal; `principal` holds
    /// no role, so it can authorise nothing.
    pub(crate) fn anonymous(self, state: &AppState, action: AuditAction) -> Call {
        Call {
            state: state.clone(),
            meta: self.meta,
            principal: Principal {
                id: String::new(),
                actor: Actor {
                    kind: ActorKind::Anonymous,
                    id: None,
                },
                auth_method: "none",
                roles: Vec::new(),
                purpose: None,
                authenticated_at: None,
                step_up_exempt: false,
            },
            authenticated: false,
            action,
        }
    }

    /// Authenticates the caller and applies the stated purpose of use.
    pub(crate) async fn begin(
        self,
        state: &AppState,
        action: AuditAction,
    ) -> Result<Call, ApiError> {
        let token = self.authorization.as_ref().map(bearer);
        let principal = state
            .vault
            .authenticate(&self.meta, token)
            .await
            .map_err(|e| ApiError::new(e, &self.meta.request_id))?;
        let mut call = Call {
            state: state.clone(),
            meta: self.meta,
            principal,
            authenticated: true,
            action,
        };
        if let Some(raw) = self.purpose {
            match raw.to_str().ok().and_then(PurposeOfUse::parse) {
                Some(p) => call.principal.purpose = Some(p),
                None => {
                    return call
                        .reject(bad_request(ErrorCode::InvalidPurposeOfUse))
                        .await;
                }
            }
        }
        Ok(call)
    }
}

/// An authenticated request on its way to one vault call.
#[derive(Debug)]
pub(crate) struct Call {
    state: AppState,
    /// Request id and source, for the audit event.
    pub(crate) meta: RequestMeta,
    /// The authenticated caller.
    pub(crate) principal: Principal,
    /// Whether `principal` was authenticated (false only for login).
    authenticated: bool,
    action: AuditAction,
}

/// Whether `Content-Type` is `application/json` (parameters such as charset allowed).
/// `application/json`, the media type of every request body.
const JSON: &str = "application/json";
/// A JSON Merge Patch (RFC 7396), also accepted by `PATCH` on a record.
pub(crate) const MERGE_PATCH: &str = "application/merge-patch+json";

fn has_media_type(headers: &HeaderMap, accepted: &[&str]) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| accepted.iter().any(|a| t.trim().eq_ignore_ascii_case(a)))
}

/// The largest magnitude up to which every integer is exactly an `f64` (2^53).
const EXACT_F64_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Rewrites every number written with a fraction of zero (`400.0`, `4e2`) as the integer
/// it is: JSON Schema counts it as an `integer`, and the document promises that schema,
/// while serde would refuse it for an integer field. Numbers beyond 2^53 are left alone
/// (the text may already have lost precision).
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT_F64_INTEGER
            {
                // Exact: |f| <= 2^53, integral.
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *n = serde_json::Number::from(i);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether an error, or one it was caused by, is an `E`.
fn caused_by<E: std::error::Error + 'static>(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<E>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn is_length_limit(err: &axum::Error) -> bool {
    caused_by::<LengthLimitError>(err)
}

/// The body deadline of the accept loop (`ServeOptions::body_read_timeout`) ran out.
fn is_body_timeout(err: &axum::Error) -> bool {
    caused_by::<tower_http::timeout::TimeoutError>(err)
}

impl Call {
    /// The vault.
    pub(crate) fn vault(&self) -> &Vault {
        &self.state.vault
    }

    /// Wraps an error the vault has already audited.
    pub(crate) fn err(&self, e: VaultError) -> ApiError {
        ApiError::new(e, &self.meta.request_id)
    }

    /// Passes a vault result through, wrapping its (already audited) error.
    pub(crate) fn done<T>(&self, r: Result<T, VaultError>) -> Result<T, ApiError> {
        r.map_err(|e| self.err(e))
    }

    /// Audits a refusal that happened before the vault call and returns it. If the audit
    /// event cannot be written, the caller learns that instead (fail closed).
    pub(crate) async fn reject<T>(&self, e: VaultError) -> Result<T, ApiError> {
        self.reject_with(e, None).await
    }

    async fn reject_with<T>(&self, e: VaultError, detail: Option<String>) -> Result<T, ApiError> {
        if let Err(audit) = self
            .vault()
            .record_rejected(
                &self.meta,
                self.authenticated.then_some(&self.principal),
                self.action,
                &e,
            )
            .await
        {
            return Err(self.err(audit));
        }
        let err = self.err(e);
        Err(match detail {
            Some(d) => err.with_detail(d),
            None => err,
        })
    }

    /// Audits and returns the error of a failed parse, or passes the value through.
    pub(crate) async fn check<T>(&self, r: Result<T, VaultError>) -> Result<T, ApiError> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => self.reject(e).await,
        }
    }

    /// The `N` path parameters of the route.
    pub(crate) async fn params<const N: usize>(&self, p: Params) -> Result<[String; N], ApiError> {
        match p.0.and_then(|v| <[String; N]>::try_from(v).ok()) {
            Some(a) => Ok(a),
            None => self.reject(bad_request(ErrorCode::InvalidPath)).await,
        }
    }

    /// Reads and parses a JSON body of type `T`: content type, size limit, UTF-8, JSON
    /// syntax (and nesting depth), then shape, each refusal with its own code. Serde's
    /// messages are never used: they quote the submitted values.
    pub(crate) async fn json<T: DeserializeOwned>(&self, req: Request) -> Result<T, ApiError> {
        self.json_as(req, &[JSON]).await
    }

    /// [`Call::json`] for a body whose content type is one of `accepted` (e.g. a merge patch).
    pub(crate) async fn json_as<T: DeserializeOwned>(
        &self,
        req: Request,
        accepted: &[&str],
    ) -> Result<T, ApiError> {
        let (parts, body) = req.into_parts();
        if !has_media_type(&parts.headers, accepted) {
            return self
                .reject(bad_request(ErrorCode::UnsupportedMediaType))
                .await;
        }
        let limit = crate::limits::body_limit(self.action, self.state.body_limit);
        if declared_length(&parts.headers).is_some_and(|n| n > limit as u64) {
            return self.reject(VaultError::PayloadTooLarge).await;
        }
        let bytes = match axum::body::to_bytes(Body::new(body), limit).await {
            Ok(b) => b,
            Err(e) if is_length_limit(&e) => return self.reject(VaultError::PayloadTooLarge).await,
            Err(e) if is_body_timeout(&e) => {
                return self.reject(bad_request(ErrorCode::BodyTimeout)).await;
            }
            Err(_) => {
                return self.reject(bad_request(ErrorCode::BodyUnreadable)).await;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return self.reject(bad_request(ErrorCode::InvalidUtf8)).await;
        };
        let mut value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let detail = format!(
                    "The request body is not valid JSON (line {}, column {}).",
                    e.line(),
                    e.column()
                );
                return self
                    .reject_with(bad_request(ErrorCode::MalformedJson), Some(detail))
                    .await;
            }
        };
        // Every request body is an object; serde would also build a struct from an array.
        if !value.is_object() {
            return self
                .reject(bad_request(ErrorCode::InvalidRequestShape))
                .await;
        }
        integral_numbers(&mut value);
        match serde_json::from_value(value) {
            Ok(v) => Ok(v),
            Err(_) => {
                self.reject(bad_request(ErrorCode::InvalidRequestShape))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let v = HeaderValue::from_static("Bearer pvt_abc");
        assert_eq!(bearer(&v), "pvt_abc");
        let v = HeaderValue::from_static("bearer  pvt_abc ");
        assert_eq!(bearer(&v), "pvt_abc");
        let v = HeaderValue::from_static("Basic dXNlcjpwYXNz");
        assert_eq!(bearer(&v), "");
        let v = HeaderValue::from_static("Bearer");
        assert_eq!(bearer(&v), "");
    }

    #[test]
    fn integral_numbers_become_integers() {
        let mut v = serde_json::json!({"a": 400.0, "b": [4e2, 1.5, -0.0], "c": {"d": 1e300}});
        integral_numbers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": 400, "b": [400, 1.5, 0], "c": {"d": 1e300}})
        );
        #[derive(serde::Deserialize)]
        struct Days {
            days: u32,
        }
        let mut v = serde_json::json!({"days": 30.0});
        integral_numbers(&mut v);
        assert_eq!(serde_json::from_value::<Days>(v).unwrap().days, 30);
    }

    #[test]
    fn json_content_type_is_recognised() {
        let mut h = HeaderMap::new();
        assert!(!has_media_type(&h, &[JSON]));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(has_media_type(&h, &[JSON]));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(has_media_type(&h, &[JSON]));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!has_media_type(&h, &[JSON]));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(!has_media_type(&h, &[JSON]));
        assert!(has_media_type(&h, &[MERGE_PATCH, JSON]));
    }
}
