//! Amplitude cohort sync [000, 001]: cohort webhooks and the list API in,
//! segments with identity-matched members and `Partner Sync` events out.
//!
//! A request is validated ([`payload`], [`names`]), de-duplicated by
//! `message_id`, staged on the cohort queue ([`staging`]) and acknowledged;
//! the queue consumer ([`apply`]) matches users to profiles ([`matching`])
//! and applies the versioned changes (`crate::membership`).

pub mod apply;
pub mod matching;
pub mod names;
pub mod payload;
mod routes;
pub mod staging;

pub use apply::handle_staged;
pub use routes::MESSAGE_ID_TTL;

use http::Method;

use crate::api::{ApiError, ApiRequest, ApiResponse, percent_decode};
use crate::config::WorkspaceConfig;
use crate::domain::MembershipAction;
use crate::runtime::Services;

/// The cohort routes (`/v1/amplitude/...`); `None` when the path is not one.
/// The `GET /v1/segments*` routes live in `crate::api::segments`.
pub async fn route(
    services: &Services,
    workspace: &WorkspaceConfig,
    method: &Method,
    path: &[&str],
    request: &ApiRequest,
) -> Option<Result<ApiResponse, ApiError>> {
    if method != Method::POST {
        return None;
    }
    let result = match path {
        ["amplitude", "cohorts"] => routes::cohort_webhook(services, workspace, request).await,
        ["amplitude", "lists"] => routes::create_list(services, workspace, request).await,
        ["amplitude", "lists", id, verb] => {
            let action = match *verb {
                "add" => MembershipAction::Added,
                "remove" => MembershipAction::Removed,
                _ => return None,
            };
            routes::list_members(services, workspace, &percent_decode(id), action, request).await
        }
        _ => return None,
    };
    Some(result)
}
