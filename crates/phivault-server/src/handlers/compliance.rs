//! The compliance self-check: settings and accounts that weaken a safeguard.

use axum::Json;
use axum::extract::State;
use phivault_api as api;
use phivault_core::AuditAction;

use crate::call::Ctx;
use crate::convert::identity::gap_to_api;
use crate::error::ApiError;
use crate::state::AppState;

/// Settings and accounts that weaken a safeguard, each with the rule it touches. Needs
/// `audit:read` or `users:manage`; a read-only report, so no recent login is required.
#[utoipa::path(
    get, path = "/v1/compliance/gaps", tag = "compliance",
    responses(
        (status = 200, description = "The findings", body = api::ComplianceGapList),
    )
)]
pub(crate) async fn compliance_gaps(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::ComplianceGapList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::ComplianceGaps).await?;
    let gaps = call.done(
        call.vault()
            .compliance_gaps(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(api::ComplianceGapList {
        items: gaps.into_iter().map(gap_to_api).collect(),
    }))
}
