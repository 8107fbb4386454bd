//! mParticle server-to-server [002]: Firehose requests (direct Lambda
//! invocations and HTTP) and Events-API batches into profiles and events.

use http::Method;
use serde_json::Value;

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::config::WorkspaceConfig;
use crate::runtime::Services;

/// The authenticated mParticle routes (`/v1/mparticle/events`); `None` when
/// the path is not one.
pub async fn route(
    _services: &Services,
    _workspace: &WorkspaceConfig,
    _method: &Method,
    _path: &[&str],
    _request: &ApiRequest,
) -> Option<Result<ApiResponse, ApiError>> {
    None
}

/// `POST /v1/mparticle/firehose`: authenticates itself (account settings or
/// Basic auth; module registration needs none).
pub async fn firehose_http(
    _services: &Services,
    _request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    Err(ApiError::NotFound(
        "no route for POST /v1/mparticle/firehose".into(),
    ))
}

/// A Firehose request delivered as a direct Lambda invocation.
pub async fn firehose_direct(_services: &Services, payload: Value) -> Value {
    let kind = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    serde_json::json!({
        "status": "error",
        "error": format!("unsupported direct invocation of type {kind:?}"),
    })
}
