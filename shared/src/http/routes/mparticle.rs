//! mParticle routes (docs/interface/http.md "mParticle").

use axum::extract::State;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::RequestError;
use crate::http::{RequestBody, Success, Workspace, credentials, json_response};
use crate::input::parse_json;
use crate::mparticle;
use crate::mparticle::events_api::Form;
use crate::mparticle::mapper::Report;
use crate::runtime::Services;

pub async fn events(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    body: RequestBody,
) -> Result<Success<Report>, RequestError> {
    mparticle::receive_events(&services, &ws, &body, Form::OneOrMany)
        .await
        .map(Success)
}

/// `POST /v1/mparticle/bulkevents`: mParticle's server-side SDKs' bulk
/// upload (an array of batches), so they work with their host set to
/// engage-bridge (docs/interface/http.md "mParticle").
pub async fn bulk_events(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    body: RequestBody,
) -> Result<Success<Report>, RequestError> {
    mparticle::receive_events(&services, &ws, &body, Form::Array)
        .await
        .map(Success)
}

/// Firehose over HTTP authenticates itself: account settings, else Basic
/// auth; module registration needs none. Answers Firehose's own message.
pub async fn firehose(
    State(services): State<Services>,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<axum::response::Response, RequestError> {
    let request: Value = parse_json(&body)?;
    let response = mparticle::firehose(&services, &request, credentials(&headers)).await?;
    Ok(json_response(StatusCode::OK, &response))
}
