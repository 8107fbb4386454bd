//! Privacy routes (docs/interface/privacy.md): erase and export a user,
//! follow a privacy request, check and lift a suppression. Every one is
//! scoped to the authenticated workspace: another workspace's users and
//! request ids are simply unknown.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use crate::domain::time::rfc3339_ms;
use crate::error::RequestError;
use crate::http::extract::PathParam;
use crate::http::{Success, Workspace, json_response};
use crate::privacy::request::{RequestKind, RequestStatus};
use crate::privacy::{self, access, check_uid, suppression};
use crate::runtime::Services;

/// `DELETE /v1/users/{uid}` → `202` once the erasure is durable.
pub async fn erase(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(uid): PathParam,
) -> Result<Response, RequestError> {
    let request = privacy::erase_user(&services, &ws.id, &uid).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"status": "success", "request_id": request.id}),
    ))
}

/// `GET /v1/users/{uid}/export`.
pub async fn export(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(uid): PathParam,
) -> Result<Response, RequestError> {
    check_uid(&uid)?;
    let export = access::export_user(&services, &ws.id, &uid)
        .await?
        .ok_or_else(|| RequestError::NotFound("nothing is held for this uid".into()))?;
    Ok(Success(export).into_response())
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct RequestView {
    request_id: String,
    kind: RequestKind,
    request_status: RequestStatus,
}

/// `GET /v1/privacy/requests/{request_id}`.
pub async fn request(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
) -> Result<Success<RequestView>, RequestError> {
    let request = privacy::find_request(&services, &ws.id, &id).await?;
    Ok(Success(RequestView {
        request_id: request.id,
        kind: request.kind,
        request_status: request.status,
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SuppressionView {
    suppressed: bool,
    /// RFC 3339.
    since: String,
}

fn not_suppressed() -> RequestError {
    RequestError::NotFound("this uid is not suppressed".into())
}

/// `GET /v1/suppressions/{uid}`.
pub async fn suppression(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(uid): PathParam,
) -> Result<Success<SuppressionView>, RequestError> {
    check_uid(&uid)?;
    let since = suppression::since(&services, &ws.id, &uid)
        .await?
        .ok_or_else(not_suppressed)?;
    Ok(Success(SuppressionView {
        suppressed: true,
        since: rfc3339_ms(since),
    }))
}

/// `DELETE /v1/suppressions/{uid}`: the uid's data is accepted again.
pub async fn lift(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(uid): PathParam,
) -> Result<Success<serde_json::Value>, RequestError> {
    check_uid(&uid)?;
    if !suppression::lift(&services, &ws.id, &uid).await? {
        return Err(not_suppressed());
    }
    tracing::info!(workspace_id = %ws.id, "suppression lifted");
    Ok(Success(serde_json::json!({"lifted": true})))
}
