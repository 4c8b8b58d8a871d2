//! The middleware every response passes through: it settles the request id (the client's
//! if well-formed, else a fresh UUIDv4), opens a tracing span that records method, route
//! template, status, latency and request id (never bodies, query strings or header
//! values), and adds the security headers (the browser-facing ones too, for the subject
//! export's HTML form).

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use phivault_api::REQUEST_ID_HEADER;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

/// The request id of the current request, placed in request extensions by [`edge`].
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Whether a client-supplied request id is acceptable: 1–64 of `[A-Za-z0-9-_]`, so it is
/// safe to log and to echo.
pub(crate) fn valid_request_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Headers on every response. HSTS because the server only speaks TLS; `no-store`
/// because responses carry PHI that no browser or proxy cache may keep; `nosniff` so a
/// JSON body is never interpreted as something else.
const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    ),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// `Content-Security-Policy` of every response. Nothing may load, run, frame the page or
/// be framed; the one thing allowed is the subject export's own inline stylesheet, named
/// by its SHA-256 hash (CSP level 2), so the HTML form renders as designed and no other
/// style, script or resource can. JSON answers are not rendered, so the policy costs them
/// nothing and covers any future HTML answer by default.
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(
        phivault_core::privacy::EXPORT_STYLE.as_bytes(),
    ));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'none'"
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'none'; style-src 'none'; frame-ancestors 'none'")
    })
});

/// Browser features every response denies: a PHI document has no use for any of them.
const PERMISSIONS_POLICY: &str = "accelerometer=(), ambient-light-sensor=(), autoplay=(), \
    battery=(), bluetooth=(), camera=(), display-capture=(), document-domain=(), \
    encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), \
    idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), \
    picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), \
    sync-xhr=(), usb=(), web-share=(), xr-spatial-tracking=()";

/// Headers for browsers, on every response so that every HTML answer has them: no
/// `Referer` leaves a page that may show PHI, and no device or browser feature is granted.
const BROWSER_HEADERS: [(HeaderName, &str); 2] = [
    (header::REFERRER_POLICY, "no-referrer"),
    (
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    ),
];

/// The edge middleware (see the module docs).
pub(crate) async fn edge(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| valid_request_id(s))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        route = %route,
        request_id = %request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let mut res = next.run(req).instrument(span.clone()).await;
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS.into_iter().chain(BROWSER_HEADERS) {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY.clone(),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", res.status().as_u16());
    span.record("latency_ms", latency_ms);
    span.in_scope(|| tracing::info!("request finished"));
    let class = match res.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("phivault_http_responses_total", "class" => class).increment(1);
    metrics::histogram!("phivault_http_request_duration_seconds").record(latency_ms / 1000.0);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id("abc-DEF_123"));
        assert!(valid_request_id(&"a".repeat(64)));
        for bad in ["", "a b", "a/b", "ünï", "x\"y", &"a".repeat(65)] {
            assert!(!valid_request_id(bad), "{bad:?}");
        }
    }
}
