//! The HTTP handlers, one file per resource. Each handler authenticates, parses its
//! inputs and makes one vault call; its `#[utoipa::path]` is the source of the OpenAPI
//! document. Answers are `phivault-api` types built by `crate::convert`, never ad-hoc JSON.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod break_glass;
pub(crate) mod collections;
pub(crate) mod compliance;
pub(crate) mod health;
pub(crate) mod privacy_requests;
pub(crate) mod privacy_subject;
pub(crate) mod records;
pub(crate) mod research;
pub(crate) mod retention;
pub(crate) mod roles;
pub(crate) mod tokens;
pub(crate) mod users;

use axum::Json;
use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use phivault_core::SubjectId;
use phivault_core::privacy::PrivacyItem;
use serde::de::DeserializeOwned;

use crate::call::{Call, Params};
use crate::convert::privacy::item_to_api;
use crate::error::{ApiError, bad_request};
use phivault_api::ErrorCode;

/// The query string parsed as `T`, or an audited `invalid_query` refusal.
pub(crate) async fn query<T: DeserializeOwned>(call: &Call, uri: &Uri) -> Result<T, ApiError> {
    match Query::<T>::try_from_uri(uri) {
        Ok(Query(q)) => Ok(q),
        Err(_) => call.reject(bad_request(ErrorCode::InvalidQuery)).await,
    }
}

/// The largest `limit` a listing takes; the vault clamps it further to its own page size.
/// The OpenAPI document declares the same range on every `limit` parameter.
pub(crate) const MAX_LIMIT: usize = 100_000;

/// A listing's `limit` (default `default`), refused outside `1..=MAX_LIMIT`.
pub(crate) async fn page_limit(
    call: &Call,
    limit: Option<usize>,
    default: usize,
) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => call.reject(bad_request(ErrorCode::InvalidQuery)).await,
    }
}

/// The largest value of an `int64` query parameter: the document declares every count and
/// sequence number as `int64` with this maximum, and the server refuses anything above.
const MAX_INT64: u64 = i64::MAX.unsigned_abs();

/// Refuses (audited, `invalid_query`) a query number above the declared `int64` range.
pub(crate) async fn int64_params(call: &Call, values: &[Option<u64>]) -> Result<(), ApiError> {
    if values.iter().flatten().any(|v| *v > MAX_INT64) {
        return call.reject(bad_request(ErrorCode::InvalidQuery)).await;
    }
    Ok(())
}

/// The subject of a `/v1/subjects/{subject}/…` route.
pub(crate) async fn subject(call: &Call, params: Params) -> Result<SubjectId, ApiError> {
    let [s] = call.params(params).await?;
    call.check(SubjectId::parse(&s)).await
}

/// The one path parameter of a route whose id is a UUID, in canonical form; anything else
/// is refused with `code`.
pub(crate) async fn uuid_param(
    call: &Call,
    params: Params,
    code: ErrorCode,
) -> Result<String, ApiError> {
    let [id] = call.params(params).await?;
    match phivault_core::ids::parse_hyphenated(&id) {
        Some(u) => Ok(u.to_string()),
        None => call.reject(bad_request(code)).await,
    }
}

/// A newly created privacy item: 201 with the item.
pub(crate) fn created_item(item: PrivacyItem) -> Response {
    (StatusCode::CREATED, Json(item_to_api(item))).into_response()
}
