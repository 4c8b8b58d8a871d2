//! Records: create, read, update (with `If-Match`), soft-delete, history, versions,
//! blind-index search and a subject's records in pages. Every operation states a purpose
//! of use; `ETag` carries the record version.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::{CollectionName, FieldName, RecordId, RecordView, SubjectId, VaultError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_limit;
use crate::call::{Call, Ctx, MERGE_PATCH, Params};
use crate::convert::records::record_to_api;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// The default page size of a subject listing.
const DEFAULT_PAGE: usize = 50;

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn record_response(status: StatusCode, view: RecordView, location: bool) -> Response {
    let tag = etag(view.version);
    let path = format!("/v1/collections/{}/records/{}", view.collection, view.id);
    let body = Json(record_to_api(view));
    if location {
        (
            status,
            [(header::ETAG, tag), (header::LOCATION, path)],
            body,
        )
            .into_response()
    } else {
        (status, [(header::ETAG, tag)], body).into_response()
    }
}

fn record_list(views: Vec<RecordView>, next_cursor: Option<String>) -> Json<api::RecordList> {
    Json(api::RecordList {
        items: views.into_iter().map(record_to_api).collect(),
        next_cursor,
    })
}

/// The version named by `If-Match`, if the header is present. Our ETags are always one
/// strong tag `"<version>"`; the bare version is taken too (the document declares
/// `^("[0-9]{1,19}"|[0-9]{1,19})$`); any other value,
/// `*` included (an update must name the version it was based on), is refused as
/// malformed (400), and a well-formed tag of another version is a 412.
async fn if_match(call: &Call, headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().map(str::trim).unwrap_or("");
    // The entity-tag as sent back (`"3"`), or the bare version some clients send (`3`).
    let digits = match text.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(text),
    };
    match digits
        .filter(|s| (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => Ok(Some(n)),
        None => call.reject(bad_request(ErrorCode::InvalidIfMatch)).await,
    }
}

/// The version `If-Match` names, for an update: a missing header is refused before
/// anything is looked up (RFC 6585 428).
async fn required_if_match(call: &Call, headers: &HeaderMap) -> Result<u64, ApiError> {
    match if_match(call, headers).await? {
        Some(v) => Ok(v),
        None => call.reject(VaultError::PreconditionRequired).await,
    }
}

/// Parses `name` and `id` path parameters.
async fn collection_and_id(
    call: &Call,
    params: Params,
) -> Result<(CollectionName, RecordId), ApiError> {
    let [name, id] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let id = call.check(RecordId::parse(&id)).await?;
    Ok((name, id))
}

/// A listing cursor: `collection/id` of the last record returned. It is a position in
/// the listing's order, not a token: any value of that shape (the pattern the OpenAPI
/// document declares) continues after that position, whether or not the record exists.
fn encode_cursor(collection: &str, id: &RecordId) -> String {
    format!("{collection}/{id}")
}

fn decode_cursor(cursor: &str) -> Result<(CollectionName, RecordId), VaultError> {
    let (c, id) = cursor
        .split_once('/')
        .ok_or(bad_request(ErrorCode::InvalidCursor))?;
    match (CollectionName::parse(c), RecordId::parse(id)) {
        (Ok(c), Ok(id)) => Ok((c, id)),
        _ => Err(bad_request(ErrorCode::InvalidCursor)),
    }
}

/// Stores a new record for a subject.
#[utoipa::path(
    post, path = "/v1/collections/{name}/records", tag = "records",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::CreateRecordRequest,
    responses(
        (status = 201, description = "Created; `Location` names the record, `ETag` its version", body = api::Record),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The data does not match the schema", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordCreate).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::CreateRecordRequest = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    let view = call.done(
        call.vault()
            .create_record(&call.meta, &call.principal, &name, &subject, body.data)
            .await,
    )?;
    Ok(record_response(StatusCode::CREATED, view, true))
}

/// The current version of a record; `ETag` carries its version.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "The record", body = api::Record),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordRead).await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let view = call.done(
        call.vault()
            .get_record(&call.meta, &call.principal, &name, id)
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Replaces a record's data; `If-Match` must name its current version. Fields the caller
/// may not see, or sees masked, keep their stored values.
#[utoipa::path(
    put, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("If-Match" = String, Header, pattern = "^(\"[0-9]{1,19}\"|[0-9]{1,19})$", description = "The current ETag, e.g. \"3\""),
    ),
    request_body = api::UpdateRecordRequest,
    responses(
        (status = 200, description = "The new version", body = api::Record),
        (status = 412, description = "The record has changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The data does not match the schema", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordUpdate).await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let expected = required_if_match(&call, req.headers()).await?;
    let body: api::UpdateRecordRequest = call.json(req).await?;
    let view = call.done(
        call.vault()
            .update_record(
                &call.meta,
                &call.principal,
                &name,
                id,
                Some(expected),
                body.data,
            )
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Changes some fields of a record with a JSON Merge Patch (RFC 7396): members set
/// fields, `null` removes them, absent fields keep their stored values. `If-Match` must
/// name its current version.
#[utoipa::path(
    patch, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("If-Match" = String, Header, pattern = "^(\"[0-9]{1,19}\"|[0-9]{1,19})$", description = "The current ETag, e.g. \"3\""),
    ),
    request_body(
        description = "A JSON Merge Patch of the record's data",
        content(
            (api::RecordPatch = "application/merge-patch+json"),
            (api::RecordPatch = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "The new version", body = api::Record),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record has changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched data does not match the schema", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordUpdate).await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let expected = required_if_match(&call, req.headers()).await?;
    let patch: api::RecordPatch = call
        .json_as(req, &[MERGE_PATCH, "application/json"])
        .await?;
    let view = call.done(
        call.vault()
            .patch_record(
                &call.meta,
                &call.principal,
                &name,
                id,
                Some(expected),
                patch.0,
            )
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Soft-deletes a record (honours `If-Match` when given).
#[utoipa::path(
    delete, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = "^(\"[0-9]{1,19}\"|[0-9]{1,19})$", description = "The current ETag, e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "Deleted", body = api::DeletedRecord),
        (status = 410, description = "Already deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record has changed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<api::DeletedRecord>, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordDelete).await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let expected = if_match(&call, &headers).await?;
    let version = call.done(
        call.vault()
            .delete_record(&call.meta, &call.principal, &name, id, expected)
            .await,
    )?;
    Ok(Json(api::DeletedRecord {
        collection: name.to_string(),
        id: id.0,
        version,
    }))
}

/// Every version of a record, oldest first.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}/versions", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "The history", body = api::RecordList),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn record_history(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordHistory).await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let views = call.done(
        call.vault()
            .record_history(&call.meta, &call.principal, &name, id)
            .await,
    )?;
    Ok(record_list(views, None))
}

/// One version of a record.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}/versions/{version}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("version" = u64, Path, description = "The version number"),
    ),
    responses(
        (status = 200, description = "That version", body = api::Record),
        (status = 404, description = "No such record or version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_record_version(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordReadVersion).await?;
    let [name, id, version] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let id = call.check(RecordId::parse(&id)).await?;
    let version = match version.parse::<i64>() {
        Ok(v) if v > 0 => v.unsigned_abs(),
        _ => {
            return call.reject(bad_request(ErrorCode::InvalidVersion)).await;
        }
    };
    let view = call.done(
        call.vault()
            .get_record_version(&call.meta, &call.principal, &name, id, version)
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Equality search on a searchable field. A POST, so the value never appears in a URL.
#[utoipa::path(
    post, path = "/v1/collections/{name}/search", tag = "records",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::SearchRequest,
    responses(
        (status = 200, description = "The matching records", body = api::RecordList),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The field is not in the schema or not searchable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::RecordSearch).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::SearchRequest = call.json(req).await?;
    call.check(FieldName::parse(&body.field)).await?;
    let views = call.done(
        call.vault()
            .search(&call.meta, &call.principal, &name, &body.field, &body.value)
            .await,
    )?;
    Ok(record_list(views, None))
}

/// The query of a subject listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The `next_cursor` of the previous page: `collection/record-id`.
    #[param(
        pattern = "^[a-z][a-z0-9_]{0,62}/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// The most records to return (default 50; more than the server's page size is
    /// served as a full page).
    #[param(minimum = 1, maximum = 100_000)]
    limit: Option<usize>,
}

/// A subject's live records across collections, in pages.
#[utoipa::path(
    get, path = "/v1/subjects/{subject}/records", tag = "records",
    params(("subject" = String, Path, description = "The subject id"), ListQuery),
    responses(
        (status = 200, description = "A page of records", body = api::RecordList),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_subject_records(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::SubjectListRecords).await?;
    let [subject] = call.params(params).await?;
    let subject = call.check(SubjectId::parse(&subject)).await?;
    let Ok(Query(query)) = Query::<ListQuery>::try_from_uri(&uri) else {
        return call.reject(bad_request(ErrorCode::InvalidQuery)).await;
    };
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(call.check(decode_cursor(c)).await?),
    };
    let limit = page_limit(&call, query.limit, DEFAULT_PAGE)
        .await?
        .min(call.vault().config().max_results.max(1));
    let views = call.done(
        call.vault()
            .list_subject_records(&call.meta, &call.principal, &subject, after, limit)
            .await,
    )?;
    let next_cursor = if views.len() >= limit {
        views.last().map(|v| encode_cursor(&v.collection, &v.id))
    } else {
        None
    };
    Ok(record_list(views, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = RecordId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").unwrap();
        let c = encode_cursor("patients", &id);
        let (name, back) = decode_cursor(&c).unwrap();
        assert_eq!(name.as_str(), "patients");
        assert_eq!(back, id);
        assert_eq!(c, "patients/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        for bad in [
            "",
            "!!!",
            "cGF0aWVudHM",
            "Bad/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "patients/x",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
