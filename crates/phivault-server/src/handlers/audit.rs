//! The auditor's API: chain verification, signed tree heads, inclusion and consistency
//! proofs (RFC 9162), filtered queries with cursor pagination, and CSV/JSONL exports.
//! Every route needs the `audit:read` scope and is itself audited.

use axum::Json;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::audit_log::ExportFormat;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{int64_params, page_limit, query};
use crate::call::Ctx;
use crate::convert::audit::{
    consistency_to_api, filter_from_api, inclusion_to_api, page_to_api, tree_head_to_api,
    verify_to_api,
};
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// Walks the audit hash chain and reports the first broken entry.
#[utoipa::path(
    post, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The verification report", body = api::AuditVerifyResponse),
    )
)]
pub(crate) async fn verify_audit(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::AuditVerifyResponse>, ApiError> {
    let call = ctx.begin(&state, AuditAction::AuditVerify).await?;
    let report = call.done(call.vault().verify_audit(&call.meta, &call.principal).await)?;
    Ok(Json(verify_to_api(report)))
}

/// The query of `/v1/audit/tree-head`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TreeHeadQuery {
    /// Sign a new head over the whole log now instead of returning the latest one.
    fresh: Option<bool>,
}

/// The latest signed tree head (Ed25519 over size, time and RFC 9162 root), with the key.
#[utoipa::path(
    get, path = "/v1/audit/tree-head", tag = "audit", params(TreeHeadQuery),
    responses(
        (status = 200, description = "The signed tree head and the audit verifying key", body = api::TreeHead),
        (status = 404, description = "No tree head has been signed yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn tree_head(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::TreeHead>, ApiError> {
    let call = ctx.begin(&state, AuditAction::AuditTreeHead).await?;
    let q: TreeHeadQuery = query(&call, &uri).await?;
    let head = call.done(
        call.vault()
            .tree_head(&call.meta, &call.principal, q.fresh.unwrap_or(false))
            .await,
    )?;
    Ok(Json(tree_head_to_api(
        &head,
        &call.vault().audit_public_key(),
    )))
}

/// The query of an inclusion proof.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InclusionQuery {
    /// The entry's sequence number.
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    seq: u64,
    /// The tree size (default: the latest signed head's).
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    tree_size: Option<u64>,
}

/// The RFC 9162 inclusion proof of one entry.
#[utoipa::path(
    get, path = "/v1/audit/proof/inclusion", tag = "audit", params(InclusionQuery),
    responses(
        (status = 200, description = "The audit path, leaf, root and signed head", body = api::InclusionProof),
        (status = 422, description = "The entry or tree size is past the log (or pruned)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No tree head has been signed yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn inclusion(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::InclusionProof>, ApiError> {
    let call = ctx.begin(&state, AuditAction::AuditProofInclusion).await?;
    let q: InclusionQuery = query(&call, &uri).await?;
    int64_params(&call, &[Some(q.seq), q.tree_size]).await?;
    let p = call.done(
        call.vault()
            .inclusion_proof(&call.meta, &call.principal, q.seq, q.tree_size)
            .await,
    )?;
    Ok(Json(inclusion_to_api(p)))
}

/// The query of a consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size.
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    from: u64,
    /// The newer tree size (default: the latest signed head's).
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    to: Option<u64>,
}

/// The RFC 9162 consistency proof between two tree sizes.
#[utoipa::path(
    get, path = "/v1/audit/proof/consistency", tag = "audit", params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof, both roots and the signed head", body = api::ConsistencyProof),
        (status = 422, description = "A tree size is past the log (or pruned), or `from` is after `to`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No tree head has been signed yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::ConsistencyProof>, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::AuditProofConsistency)
        .await?;
    let q: ConsistencyQuery = query(&call, &uri).await?;
    int64_params(&call, &[Some(q.from), q.to]).await?;
    let p = call.done(
        call.vault()
            .consistency_proof(&call.meta, &call.principal, q.from, q.to)
            .await,
    )?;
    Ok(Json(consistency_to_api(p)))
}

/// The query of an auditor query: the wire filter plus paging. The filter is flattened
/// in, so its parameters are described by `api::AuditEventFilter` and only the fields
/// below by this type.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    #[serde(flatten)]
    #[param(ignore)]
    filter: api::AuditEventFilter,
    /// The `next_cursor` of the previous page.
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    cursor: Option<u64>,
    /// The most events to return (default 100).
    #[param(minimum = 1, maximum = 100_000)]
    limit: Option<usize>,
}

/// The query of an export: the wire filter plus the format (every match is exported, so
/// there is no paging).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    #[serde(flatten)]
    #[param(ignore)]
    filter: api::AuditEventFilter,
    /// `jsonl` (the default) or `csv`.
    #[param(value_type = Option<api::ExportFormat>)]
    format: Option<String>,
}

/// Audit events matching the filters, in log order, with a cursor to the next page.
#[utoipa::path(
    get, path = "/v1/audit/events", tag = "audit", params(api::AuditEventFilter, EventsQuery),
    responses(
        (status = 200, description = "A page of events and the next cursor", body = api::AuditEventPage),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::AuditEventPage>, ApiError> {
    let call = ctx.begin(&state, AuditAction::AuditQuery).await?;
    let q: EventsQuery = query(&call, &uri).await?;
    int64_params(&call, &[q.cursor]).await?;
    let limit = page_limit(&call, q.limit, 100).await?;
    let filter = filter_from_api(&q.filter);
    let page = call.done(
        call.vault()
            .query_audit(
                &call.meta,
                &call.principal,
                &filter,
                q.cursor.unwrap_or(0),
                limit,
            )
            .await,
    )?;
    Ok(Json(page_to_api(page)))
}

/// Every matching event as CSV or JSONL; the export is itself audited.
#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit", params(api::AuditEventFilter, ExportQuery),
    responses(
        (status = 200, description = "JSONL (the default) or, with `format=csv`, CSV", content(
            (String = "application/jsonl"),
            (String = "text/csv"),
        )),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::AuditExport).await?;
    let q: ExportQuery = query(&call, &uri).await?;
    let filter = filter_from_api(&q.filter);
    let (format, mime) = match q.format.as_deref() {
        None | Some("jsonl") => (ExportFormat::Jsonl, "application/jsonl"),
        Some("csv") => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        Some(_) => {
            return call.reject(bad_request(ErrorCode::InvalidQuery)).await;
        }
    };
    let body = call.done(
        call.vault()
            .export_audit(&call.meta, &call.principal, &filter, format)
            .await,
    )?;
    Ok(([(header::CONTENT_TYPE, mime)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;

    fn parse(q: &str) -> Option<EventsQuery> {
        let uri: Uri = format!("/v1/audit/events?{q}").parse().ok()?;
        Query::<EventsQuery>::try_from_uri(&uri)
            .ok()
            .map(|Query(q)| q)
    }

    #[test]
    fn the_wire_filter_and_paging_parse_from_one_query_string() {
        let q = parse(
            "actor=tok&subject=s1&action=record.&outcome=denied&purpose=TREAT\
             &since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z&cursor=7&limit=5",
        )
        .unwrap();
        assert_eq!(q.filter.actor.as_deref(), Some("tok"));
        assert_eq!(q.filter.subject.as_deref(), Some("s1"));
        assert_eq!(q.filter.action.as_deref(), Some("record."));
        assert_eq!(q.filter.outcome, Some(api::AuditOutcome::Denied));
        assert_eq!(q.filter.purpose.as_deref(), Some("TREAT"));
        assert!(q.filter.since.is_some() && q.filter.until.is_some());
        assert_eq!((q.cursor, q.limit), (Some(7), Some(5)));
        let empty = parse("").unwrap();
        assert_eq!(empty.filter, api::AuditEventFilter::default());
        // paging is for queries, the format for exports: each refuses the other's
        assert!(parse("format=csv").is_none());
        let uri: Uri = "/v1/audit/export?subject=s1&format=csv".parse().unwrap();
        let Query(e) = Query::<ExportQuery>::try_from_uri(&uri).unwrap();
        assert_eq!(
            (e.filter.subject.as_deref(), e.format.as_deref()),
            (Some("s1"), Some("csv"))
        );
        let uri: Uri = "/v1/audit/export?limit=0".parse().unwrap();
        assert!(Query::<ExportQuery>::try_from_uri(&uri).is_err());
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_refused() {
        for bad in [
            "bogus=1",
            "outcome=maybe",
            "since=yesterday",
            "until=2026-13-01T00:00:00Z",
            "cursor=abc",
            "limit=-1",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
