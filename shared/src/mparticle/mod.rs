//! mParticle server-to-server [002]: Firehose requests (direct Lambda
//! invocations and HTTP) and Events-API batches into profiles and events.
//!
//! Both formats are read into one internal model (`model`), which one
//! mapper turns into profile updates and events following seed 002's tables
//! (`mapping`); `ingest` applies them with one batched profile write and one
//! queue send per request.

mod audiences;
mod commerce;
pub mod events_api;
pub mod firehose;
mod ingest;
mod json;
pub mod mapper;
pub mod mapping;
pub mod model;
mod routes;

use http::Method;
use serde_json::Value;

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::config::WorkspaceConfig;
use crate::runtime::Services;

pub use ingest::RATE_SCOPE;
pub use json::Invalid;

/// The authenticated mParticle routes (`/v1/mparticle/events`); `None` when
/// the path is not one.
pub async fn route(
    services: &Services,
    workspace: &WorkspaceConfig,
    method: &Method,
    path: &[&str],
    request: &ApiRequest,
) -> Option<Result<ApiResponse, ApiError>> {
    match (method, path) {
        (&Method::POST, ["mparticle", "events"]) => {
            Some(routes::events(services, workspace, request).await)
        }
        _ => None,
    }
}

/// `POST /v1/mparticle/firehose`: authenticates itself (account settings or
/// Basic auth; module registration needs none).
pub async fn firehose_http(
    services: &Services,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    routes::firehose_http(services, request).await
}

/// A Firehose request delivered as a direct Lambda invocation.
pub async fn firehose_direct(services: &Services, payload: Value) -> Result<Value, ApiError> {
    routes::firehose_direct(services, payload).await
}
