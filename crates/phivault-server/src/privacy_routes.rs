//! Privacy Rule routes (45 CFR 164.522-164.528): individuals' requests for access and
//! amendment with due dates, the right-of-access export (JSON or HTML), recorded
//! disclosures and the accounting, restrictions, confidential communications, legal holds,
//! retention and erasure. Every route needs `privacy:manage`; erasure also needs a recent
//! login. Bodies that carry the individual's words are stored sealed, never logged.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::privacy::{
    Accounting, ItemKind, NewDisclosure, NewRequest, NewRestriction, PrivacyItem,
};
use phivault_core::{CollectionName, RecordId, SubjectId, VaultError};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;

use crate::audit_routes::query;
use crate::call::{Call, Ctx, Params};
use crate::convert::purpose_from_api;
use crate::error::ApiError;
use crate::state::AppState;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn kind_to_api(k: ItemKind) -> api::PrivacyItemKind {
    match k {
        ItemKind::AccessRequest => api::PrivacyItemKind::AccessRequest,
        ItemKind::Amendment => api::PrivacyItemKind::Amendment,
        ItemKind::Disclosure => api::PrivacyItemKind::Disclosure,
        ItemKind::Restriction => api::PrivacyItemKind::Restriction,
        ItemKind::ConfidentialCommunication => api::PrivacyItemKind::ConfidentialCommunication,
        ItemKind::LegalHold => api::PrivacyItemKind::LegalHold,
    }
}

fn item_to_api(i: PrivacyItem) -> api::PrivacyItem {
    api::PrivacyItem {
        id: i.id,
        kind: kind_to_api(i.kind),
        subject: i.subject,
        status: i.status,
        created_at: i.created_at,
        due_at: i.due_at,
        updated_at: i.updated_at,
        overdue: i.overdue,
        meta: object(serde_json::to_value(&i.meta).unwrap_or(Value::Null)),
        detail: i
            .detail
            .map(|d| object(serde_json::to_value(&d).unwrap_or(Value::Null))),
    }
}

fn created(item: PrivacyItem) -> Response {
    (StatusCode::CREATED, Json(item_to_api(item))).into_response()
}

fn accounting_to_api(a: Accounting) -> api::Accounting {
    api::Accounting {
        subject: a.subject,
        from: a.from,
        to: a.to,
        disclosures: a
            .disclosures
            .into_iter()
            .map(|d| api::DisclosureEntry {
                at: d.at,
                source: d.source.to_owned(),
                reference: d.reference,
                recipient: d.recipient,
                purpose: d.purpose,
                collections: d.collections,
                fields: d.fields,
                description: d.description,
            })
            .collect(),
        exclusions: a
            .exclusions
            .into_iter()
            .map(|e| api::AccountingExclusion {
                purpose: e.purpose,
                paragraph: e.paragraph.to_owned(),
                explanation: e.explanation.to_owned(),
                events: e.events,
            })
            .collect(),
    }
}

/// The subject of a `/v1/subjects/{subject}/…` route.
async fn subject(call: &Call, params: Params) -> Result<SubjectId, ApiError> {
    let [s] = call.params(params).await?;
    call.check(SubjectId::parse(&s)).await
}

/// The item id of a `/v1/privacy/items/{id}/…` route (a UUID).
async fn item_id(call: &Call, params: Params) -> Result<String, ApiError> {
    let [id] = call.params(params).await?;
    match uuid::Uuid::try_parse(&id) {
        Ok(u) => Ok(u.to_string()),
        Err(_) => call.reject(VaultError::BadRequest("invalid_item_id")).await,
    }
}

// ----- requests -------------------------------------------------------------------------

/// Logs a request for access (164.524); due in 30 days from receipt.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/access-requests", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::AccessRequestBody,
    responses(
        (status = 201, description = "The request, with its due date", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_access_request(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "privacy.access_request.open").await?;
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
    Ok(created(item))
}

/// Logs a request to amend one record (164.526); due in 60 days from receipt.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/amendments", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::AmendmentRequestBody,
    responses(
        (status = 201, description = "The request, with its due date", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_amendment(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "privacy.amendment.open").await?;
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
    Ok(created(item))
}

/// Filters of the item list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ItemsQuery {
    /// The kind: `access_request`, `amendment`, `disclosure`, `restriction`,
    /// `confidential_communication` or `legal_hold`.
    kind: String,
    /// Only this subject's items.
    subject: Option<String>,
    /// Only open requests past their due date.
    overdue: Option<bool>,
}

/// Privacy items of a kind; `overdue=true` lists the requests past due.
#[utoipa::path(
    get, path = "/v1/privacy/items", tag = "privacy", params(ItemsQuery),
    responses(
        (status = 200, description = "The items, oldest first", body = api::PrivacyItemList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_items(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::PrivacyItemList>, ApiError> {
    let call = ctx.begin(&state, "privacy.item.list").await?;
    let q: ItemsQuery = query(&call, &uri).await?;
    let Some(kind) = ItemKind::parse(&q.kind) else {
        return call
            .reject(VaultError::BadRequest("invalid_item_kind"))
            .await;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_item(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.item.read").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn extend(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.request.extend").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn complete(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.access_request.complete").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn accept(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.amendment.accept").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn deny(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.amendment.deny").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn disagreement(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.amendment.disagreement").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn end(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::PrivacyItem>, ApiError> {
    let call = ctx.begin(&state, "privacy.item.end").await?;
    let id = item_id(&call, params).await?;
    let item = call.done(
        call.vault()
            .end_item(&call.meta, &call.principal, &id)
            .await,
    )?;
    Ok(Json(item_to_api(item)))
}

// ----- restrictions, communications, holds, disclosures ---------------------------------

/// Agrees to a restriction the policy engine then enforces (164.522(a)).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/restrictions", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::RestrictionBody,
    responses(
        (status = 201, description = "The restriction, in force", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_restriction(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "privacy.restriction.add").await?;
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
    Ok(created(item))
}

/// Records a request for confidential communications (164.522(b)).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/confidential-communications", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::ConfidentialCommunicationBody,
    responses(
        (status = 201, description = "The request, in force", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_confidential_communication(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx
        .begin(&state, "privacy.confidential_communication.add")
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
    Ok(created(item))
}

/// Places a legal hold: no disposal or erasure while it stands.
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/legal-holds", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::ReasonBody,
    responses(
        (status = 201, description = "The hold, in force", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_legal_hold(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "privacy.legal_hold.add").await?;
    let subject = subject(&call, params).await?;
    let body: api::ReasonBody = call.json(req).await?;
    let item = call.done(
        call.vault()
            .place_legal_hold(&call.meta, &call.principal, &subject, body.reason)
            .await,
    )?;
    Ok(created(item))
}

/// Records a disclosure made outside the vault, for the accounting (164.528).
#[utoipa::path(
    post, path = "/v1/subjects/{subject}/disclosures", tag = "privacy",
    params(("subject" = String, Path, description = "The subject id")),
    request_body = api::DisclosureBody,
    responses(
        (status = 201, description = "The recorded disclosure", body = api::PrivacyItem),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn record_disclosure(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "privacy.disclosure.add").await?;
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
    Ok(created(item))
}

/// The period of an accounting.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountingQuery {
    /// Start of the period (RFC 3339; default and earliest: six years back).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>)]
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn accounting(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Json<api::Accounting>, ApiError> {
    let call = ctx.begin(&state, "privacy.accounting").await?;
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
    format: Option<String>,
    /// An open access request this export answers (it is marked completed).
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
        (status = 200, description = "application/json or text/html", content_type = "application/json"),
        (status = 410, description = "The subject was erased", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "subject.export").await?;
    let subject = subject(&call, params).await?;
    let q: ExportQuery = query(&call, &uri).await?;
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return call
                .reject(VaultError::BadRequest("invalid_export_format"))
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
        Json(export.to_json()).into_response()
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::Erasure>, ApiError> {
    let call = ctx.begin(&state, "subject.erase").await?;
    let subject = subject(&call, params).await?;
    let r = call.done(
        call.vault()
            .erase_subject(&call.meta, &call.principal, &subject)
            .await,
    )?;
    Ok(Json(api::Erasure {
        subject: r.subject,
        records: r.records,
        erased_at: r.erased_at,
    }))
}

// ----- retention ------------------------------------------------------------------------

/// Sets (or, with `null`, removes) a collection's retention period.
#[utoipa::path(
    put, path = "/v1/collections/{name}/retention", tag = "privacy",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::RetentionBody,
    responses(
        (status = 204, description = "Set"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_retention(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, "privacy.retention.set").await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::RetentionBody = call.json(req).await?;
    call.done(
        call.vault()
            .set_retention(&call.meta, &call.principal, &name, body.days)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every collection's retention period.
#[utoipa::path(
    get, path = "/v1/retention", tag = "privacy",
    responses(
        (status = 200, description = "The periods", body = api::RetentionList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_retention(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RetentionList>, ApiError> {
    let call = ctx.begin(&state, "privacy.retention.list").await?;
    let list = call.done(
        call.vault()
            .retention_policies(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(api::RetentionList {
        policies: list
            .into_iter()
            .map(|(collection, days)| api::RetentionPolicy { collection, days })
            .collect(),
    }))
}

/// Disposes of expired records now (the server also does so on a schedule).
#[utoipa::path(
    post, path = "/v1/retention/run", tag = "privacy",
    responses(
        (status = 200, description = "What was disposed of", body = api::RetentionRun),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn run_retention(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RetentionRun>, ApiError> {
    let call = ctx.begin(&state, "privacy.retention.run").await?;
    let r = call.done(
        call.vault()
            .apply_retention(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(api::RetentionRun {
        policies: r.policies,
        disposed: r.disposed,
        held: r.held,
    }))
}
