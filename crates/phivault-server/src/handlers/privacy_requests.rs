//! Individuals' requests (45 CFR 164.524, 164.526): access requests and amendments with
//! due dates, the item list, and each step of an item's life (extend, complete, accept,
//! deny, disagreement, end). Every route needs `privacy:manage`.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::Response;
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::privacy::{ItemKind, NewRequest};
use phivault_core::{CollectionName, RecordId, SubjectId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{created_item, query, subject, uuid_param};
use crate::call::{Call, Ctx, Params};
use crate::convert::privacy::item_to_api;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// The item id of a `/v1/privacy/items/{id}/…` route (a UUID).
async fn item_id(call: &Call, params: Params) -> Result<String, ApiError> {
    uuid_param(call, params, ErrorCode::InvalidItemId).await
}

/// Logs a request for access (164.524); due in 30 days from receipt.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/access-requests", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::AccessRequestBody,
    responses(
        (status = 201, description = "The request, with its due date", body = api::PrivacyItem),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`received_at` is in the future", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_access_request(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyAccessRequestOpen)
        .await?;
    let subject = subject(&call, params).await?;
    let body: api::AccessRequestBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .open_request(
                &call.meta,
                &call.principal,
                &subject,
                body.received_at,
                NewRequest::Access,
            )
            .await,
    )?;
    Ok(created_item(item))
}

/// Logs a request to amend one record (164.526); due in 60 days from receipt.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/amendments", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::AmendmentRequestBody,
    responses(
        (status = 201, description = "The request, with its due date", body = api::PrivacyItem),
        (status = 404, description = "No such record of this subject", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted, or the subject erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A changed field is not in the schema, or `received_at` is in the future", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_amendment(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyAmendmentOpen).await?;
    let subject = subject(&call, params).await?;
    let body: api::AmendmentRequestBody = call.json(req).await?;
    let collection = call.check(CollectionName::parse(&body.collection)).await?;
    let record_id = call.check(RecordId::parse(&body.record_id)).await?;
    let item = call.done(
        call.vault()
            .open_request(
                &call.meta,
                &call.principal,
                &subject,
                body.received_at,
                NewRequest::Amendment {
                    collection,
                    record_id,
                    changes: body.changes,
                    reason: body.reason,
                },
            )
            .await,
    )?;
    Ok(created_item(item))
}

/// Filters of the item list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ItemsQuery {
    /// The kind: `access_request`, `amendment`, `disclosure`, `restriction`,
    /// `confidential_communication` or `legal_hold`.
    #[param(value_type = api::PrivacyItemKind)]
    kind: String,
    /// Only this subject's items.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    subject: Option<String>,
    /// Only open requests past their due date.
    overdue: Option<bool>,
}

/// Privacy items of a kind; `overdue=true` lists the requests past due.
#[utoipa::path(
    get, path = "/v1/privacy/items", tag = "privacy", params(ItemsQuery),
    responses(
        (status = 200, description = "The items, oldest first", body = api::PrivacyItemList),
    )
)]
pub(crate) async fn list_items(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::PrivacyItemList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyItemList).await?;
    let q: ItemsQuery = query(&call, &uri).await?;
    let Some(kind) = ItemKind::parse(&q.kind) else {
        return call.reject(bad_request(ErrorCode::InvalidItemKind)).await;
    };
    let subject = match &q.subject {
        Some(s) => Some(call.check(SubjectId::parse(s)).await?),
        None => None,
    };
    let items = call.done(
        call.vault()
            .list_privacy_items(
                &call.meta,
                &call.principal,
                kind,
                subject.as_ref(),
                q.overdue.unwrap_or(false),
            )
            .await,
    )?;
    Ok(Json(api::PrivacyItemList {
        items: items.into_iter().map(item_to_api).collect(),
    }))
}

/// One privacy item.
#[utoipa::path(
    get, path = "/v1/privacy/items/{id}", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    responses(
        (status = 200, description = "The item", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_item(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyItemRead).await?;
    let id = item_id(&call, params).await?;
    let item = call.done(
        call.vault()
            .privacy_item(&call.meta, &call.principal, &id)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Takes the one 30-day extension of an open request, with its written reason; refused
/// once the request is overdue (164.524(b)(2)(ii), 164.526(b)(2)(ii)).
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/extend", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    request_body = api::ReasonBody,
    responses(
        (status = 200, description = "The request, with its new due date", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already extended, overdue, or not an open request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn extend(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyRequestExtend).await?;
    let id = item_id(&call, params).await?;
    let body: api::ReasonBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .extend_request(&call.meta, &call.principal, &id, body.reason)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Marks an access request answered.
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/complete", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    responses(
        (status = 200, description = "The completed request", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an open access request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn complete(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyAccessRequestComplete)
        .await?;
    let id = item_id(&call, params).await?;
    let item = call.done(
        call.vault()
            .complete_access_request(&call.meta, &call.principal, &id)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Accepts an amendment: the changes become a new version of the record.
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/accept", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    responses(
        (status = 200, description = "The accepted amendment; `meta.applied_version` names the new version", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an open amendment", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted, or the subject erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn accept(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyAmendmentAccept)
        .await?;
    let id = item_id(&call, params).await?;
    let item = call.done(
        call.vault()
            .accept_amendment(&call.meta, &call.principal, &id)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Denies an amendment with its basis and, if given, the statement of disagreement.
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/deny", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    request_body = api::DenyAmendmentBody,
    responses(
        (status = 200, description = "The denied amendment", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an open amendment", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn deny(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyAmendmentDeny).await?;
    let id = item_id(&call, params).await?;
    let body: api::DenyAmendmentBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .deny_amendment(
                &call.meta,
                &call.principal,
                &id,
                body.reason,
                body.disagreement,
            )
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Files the statement of disagreement with a denied amendment (and a rebuttal).
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/disagreement", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    request_body = api::DisagreementBody,
    responses(
        (status = 200, description = "The amendment with the statement", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a denied amendment", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn disagreement(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx
        .begin(&state, AuditAction::PrivacyAmendmentDisagreement)
        .await?;
    let id = item_id(&call, params).await?;
    let body: api::DisagreementBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .file_disagreement(
                &call.meta,
                &call.principal,
                &id,
                body.statement,
                body.rebuttal,
            )
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

/// Ends a restriction, a confidential-communication request or a legal hold.
#[utoipa::path(
    post, path = "/v1/privacy/items/{id}/end", tag = "privacy",
    params(("id" = String, Path, description = "The item id")),
    responses(
        (status = 200, description = "The ended item", body = api::PrivacyItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an item in force", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn end(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyItemEnd).await?;
    let id = item_id(&call, params).await?;
    let item = call.done(
        call.vault()
            .end_item(&call.meta, &call.principal, &id)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}
