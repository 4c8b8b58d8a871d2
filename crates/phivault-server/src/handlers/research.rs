//! Research routes: de-identified exports and small-cell-suppressed aggregates
//! (45 CFR 164.514(b) and (c)). Both need the `research:read` scope and a login within the
//! step-up window, so API tokens of service accounts are refused (`deny:step_up_required`);
//! a researcher logs in and exports with the session token. The vault audits each call
//! with the field names and the row or cell count, never a value.
//!
//! An export's k-anonymity report travels in the `Phivault-K-Anonymity` response header
//! (`k=<k>, rows=<n>, classes=<n>, target=<k>, rows_below_target=<n>,
//! classes_below_target=<n>`), so the body stays a plain JSONL or CSV file.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::CollectionName;
use phivault_core::research::{MIN_CELL, rows_to_csv, rows_to_jsonl};

use crate::call::{Ctx, Params};
use crate::convert::research::{cell_to_api, report_to_api};
use crate::error::ApiError;
use crate::state::AppState;

/// A de-identified export of a collection (Safe Harbor; subject ids replaced by research
/// pseudonyms) as JSONL or CSV, with its k-anonymity report in the `Phivault-K-Anonymity`
/// header. Needs `research:read` and a recent login (step-up).
#[utoipa::path(
    post, path = "/v1/research/{collection}/export", tag = "research",
    params(("collection" = String, Path, description = "The collection name")),
    request_body = api::ResearchExportRequest,
    responses(
        (status = 200, description = "JSONL or CSV, as the body's `format` asks; the k-anonymity report is in the Phivault-K-Anonymity header",
         content((String = "application/jsonl"), (String = "text/csv")),
         headers(("Phivault-K-Anonymity" = String, description = "k=<k>, rows=<n>, classes=<n>, target=<k>, rows_below_target=<n>, classes_below_target=<n>"))),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not in the schema", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::ResearchExport).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::ResearchExportRequest = call.json(req).await?;
    let (rows, report) = call.done(
        call.vault()
            .research_export(&call.meta, &call.principal, &name, &body.quasi_identifiers)
            .await,
    )?;
    let (text, mime) = match body.format {
        api::ExportFormat::Jsonl => (rows_to_jsonl(&rows), "application/jsonl"),
        api::ExportFormat::Csv => (rows_to_csv(&rows), "text/csv; charset=utf-8"),
    };
    let mut res = ([(header::CONTENT_TYPE, mime)], text).into_response();
    if let Ok(v) = HeaderValue::from_str(&report_to_api(&report).header_value()) {
        res.headers_mut().insert(api::K_ANONYMITY_HEADER, v);
    }
    Ok(res)
}

/// Counts (and sums) of a collection's de-identified records grouped by fields; cells
/// under 11 are hidden, and further cells where the total would reveal them. Needs
/// `research:read` and a recent login (step-up).
#[utoipa::path(
    post, path = "/v1/research/{collection}/aggregate", tag = "research",
    params(("collection" = String, Path, description = "The collection name")),
    request_body = api::AggregateRequest,
    responses(
        (status = 200, description = "The cells, suppressed ones without counts", body = api::AggregateResponse),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not in the schema, or the summed field is not numeric", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn aggregate(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::AggregateResponse>, ApiError> {
    let call = ctx.begin(&state, AuditAction::ResearchAggregate).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::AggregateRequest = call.json(req).await?;
    let cells = call.done(
        call.vault()
            .research_aggregate(
                &call.meta,
                &call.principal,
                &name,
                &body.group_by,
                body.sum.clone(),
            )
            .await,
    )?;
    Ok(Json(api::AggregateResponse {
        group_by: body.group_by,
        sum: body.sum,
        min_cell: MIN_CELL,
        cells: cells.into_iter().map(cell_to_api).collect(),
    }))
}
