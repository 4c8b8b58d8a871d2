//! What is held about one subject (45 CFR 164.522, 164.524, 164.528): restrictions,
//! confidential communications, legal holds, recorded disclosures and the accounting, the
//! right-of-access export, and erasure by crypto-shredding (step-up).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::privacy::{NewDisclosure, NewRestriction};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{created_item, query, subject};
use crate::call::{Ctx, Params};
use crate::convert::privacy::{accounting_to_api, erasure_to_api, subject_export_to_api};
use crate::convert::roles::purpose_from_api;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// Agrees to a restriction the policy engine then enforces (164.522(a)).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/restrictions", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::RestrictionBody,
    responses(
        (status = 201, description = "The restriction, in force", body = api::PrivacyItem),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_restriction(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyRestrictionAdd)
        .await?;
    let subject = subject(&call, params).await?;
    let body: api::RestrictionBody = call.json(req).await?;
    let r = NewRestriction {
        collections: body.collections,
        purposes: body.purposes.into_iter().map(purpose_from_api).collect(),
        reason: body.reason,
    };
    let item = call.done(
        call.vault()
            .add_restriction(&call.meta, &call.principal, &subject, r)
            .await,
    )?;
    Ok(created_item(item))
}

/// Records a request for confidential communications (164.522(b)).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/confidential-communications", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::ConfidentialCommunicationBody,
    responses(
        (status = 201, description = "The request, in force", body = api::PrivacyItem),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_confidential_communication(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyConfidentialCommunicationAdd)
        .await?;
    let subject = subject(&call, params).await?;
    let body: api::ConfidentialCommunicationBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .add_confidential_communication(
                &call.meta,
                &call.principal,
                &subject,
                body.instructions,
            )
            .await,
    )?;
    Ok(created_item(item))
}

/// Places a legal hold: no disposal or erasure while it stands.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/legal-holds", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::ReasonBody,
    responses(
        (status = 201, description = "The hold, in force", body = api::PrivacyItem),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_legal_hold(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyLegalHoldAdd).await?;
    let subject = subject(&call, params).await?;
    let body: api::ReasonBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .place_legal_hold(&call.meta, &call.principal, &subject, body.reason)
            .await,
    )?;
    Ok(created_item(item))
}

/// Records a disclosure made outside the vault, for the accounting (164.528).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/disclosures", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::DisclosureBody,
    responses(
        (status = 201, description = "The recorded disclosure", body = api::PrivacyItem),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The purpose is excluded from the accounting (164.528(a)(1)), or the time is in the future or past the six years", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn record_disclosure(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyDisclosureAdd).await?;
    let subject = subject(&call, params).await?;
    let body: api::DisclosureBody = call.json(req).await?;
    let d = NewDisclosure {
        disclosed_at: body.disclosed_at,
        recipient: body.recipient,
        purpose: purpose_from_api(body.purpose),
        collections: body.collections,
        fields: body.fields,
        description: body.description,
    };
    let item = call.done(
        call.vault()
            .record_disclosure(&call.meta, &call.principal, &subject, d)
            .await,
    )?;
    Ok(created_item(item))
}

/// The period of an accounting.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountingQuery {
    /// Start of the period (RFC 3339; default and earliest: six years back).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<time::OffsetDateTime>,
}

/// The accounting of disclosures for a subject (164.528): disclosures found in the audit
/// log and recorded by hand over six years, with the exclusions of 164.528(a)(1) applied
/// by purpose of use and listed.
#[utoipa::path(
    get, path = "/v1/subjects/{subject}/disclosures", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id"), AccountingQuery),
    responses(
        (status = 200, description = "The accounting", body = api::Accounting),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn accounting(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Json<api::Accounting>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyAccounting).await?;
    let subject = subject(&call, params).await?;
    let q: AccountingQuery = query(&call, &uri).await?;
    let a = call.done(
        call.vault()
            .accounting(&call.meta, &call.principal, &subject, q.since)
            .await,
    )?;
    Ok(Json(accounting_to_api(a)))
}

// ----- right of access and erasure ------------------------------------------------------

/// The export's options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `json` (default) or `html`.
    #[param(value_type = Option<api::SubjectExportFormat>)]
    format: Option<String>,
    /// An open access request this export answers (it is marked completed).
    #[param(value_type = Option<uuid::Uuid>)]
    request: Option<String>,
}

/// Everything held about a subject (164.524): records with every version, amendment
/// requests with statements of disagreement, restrictions and confidential
/// communications; JSON or a readable HTML document. Audited as a disclosure to the
/// individual (PATRQT).
#[utoipa::path(
    get, path = "/v1/subjects/{subject}/export", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id"), ExportQuery),
    responses(
        (status = 200, description = "The export as JSON, or as a readable document with `format=html`", content(
            (api::SubjectExport = "application/json"),
            (String = "text/html"),
        )),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The access request named is not an open request of this subject", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such access request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::SubjectExport).await?;
    let subject = subject(&call, params).await?;
    let q: ExportQuery = query(&call, &uri).await?;
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return call
                .reject(bad_request(ErrorCode::InvalidExportFormat))
                .await;
        }
    };
    let export = call.done(
        call.vault()
            .export_subject(
                &call.meta,
                &call.principal,
                &subject,
                q.request.as_deref(),
                None,
            )
            .await,
    )?;
    Ok(if html {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            export.to_html(),
        )
            .into_response()
    } else {
        Json(subject_export_to_api(export)).into_response()
    })
}

/// Erases a subject by crypto-shredding (its data key is destroyed; the ciphertext stays
/// but can never be opened). Refused under a legal hold. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/erase", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    responses(
        (status = 200, description = "The erasure", body = api::Erasure),
        (status = 409, description = "A legal hold stands", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Already erased", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No data of this subject", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::Erasure>, ApiError> {
    let call = ctx.begin(&state, AuditAction::SubjectErase).await?;
    let subject = subject(&call, params).await?;
    let r = call.done(
        call.vault()
            .erase_subject(&call.meta, &call.principal, &subject)
            .await,
    )?;
    Ok(Json(erasure_to_api(r)))
}
