//! Amplitude cohort routes (docs/interface/http.md "POST /v1/amplitude/cohorts" and the list routes).

use axum::extract::State;
use serde_json::Value;

use crate::cohort;
use crate::domain::MembershipAction;
use crate::error::RequestError;
use crate::http::extract::PathParam;
use crate::http::{RequestBody, Success, Workspace};
use crate::runtime::Services;

type Answer = Result<Success<Value>, RequestError>;

pub async fn webhook(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    body: RequestBody,
) -> Answer {
    cohort::receive_webhook(&services, &ws, &body)
        .await
        .map(Success)
}

pub async fn create_list(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    body: RequestBody,
) -> Answer {
    cohort::create_list(&services, &ws, &body)
        .await
        .map(Success)
}

pub async fn add_to_list(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(list_id): PathParam,
    body: RequestBody,
) -> Answer {
    cohort::change_list(&services, &ws, &list_id, MembershipAction::Added, &body)
        .await
        .map(Success)
}

pub async fn remove_from_list(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(list_id): PathParam,
    body: RequestBody,
) -> Answer {
    cohort::change_list(&services, &ws, &list_id, MembershipAction::Removed, &body)
        .await
        .map(Success)
}
