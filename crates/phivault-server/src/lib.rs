//! The phivault HTTP/TLS edge: the axum router (authentication, body parsing, one vault
//! call per handler, errors as RFC 9457 problem documents, security headers, per-request
//! tracing), the OpenAPI document, and the TLS accept loop. Only this crate knows HTTP.
//!
//! Where things live: `routes` is the route table; `handlers` holds one file per resource;
//! `convert` every mapping between domain and wire types; `call` the steps before each
//! vault call; `error` the one error-to-problem table; `edge` the middleware; `limits` the
//! rate limits and per-route body limits; `tls` the TLS configuration (certificate reload,
//! client certificates); `accept` the accept loop and its connection limits.
#![forbid(unsafe_code)]
// Numbers here come from requests: arithmetic that can overflow must be checked, so it
// cannot panic the server (see clippy.toml beside this crate for the time constructors).
#![deny(clippy::arithmetic_side_effects)]

mod accept;
mod call;
pub mod convert;
mod edge;
mod error;
mod handlers;
mod limits;
mod openapi;
mod routes;
mod state;
mod tls;

pub use accept::{ServeOptions, serve, serve_with};
pub use error::ServerError;
pub use limits::{Rate, RateLimits, SMALL_BODY_LIMIT};
pub use openapi::ApiDoc;
pub use routes::{route_paths, router};
pub use state::{AppState, DEFAULT_BODY_LIMIT, MetricsRenderer, Readiness};
pub use tls::{CertificateSwap, ClientAuth, crypto_provider, tls_config, tls_server};
