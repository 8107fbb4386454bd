//! The mParticle entry points: `POST /v1/mparticle/events` (Basic auth by
//! the router), Firehose over HTTP (`POST /v1/mparticle/firehose`, which
//! authenticates itself) and Firehose as a direct Lambda invocation.

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::firehose::{self, RequestType};
use super::json::Node;
use super::{audiences, events_api, ingest};
use crate::api::{ApiError, ApiRequest, ApiResponse, auth, json_response, parse_json, success};
use crate::config::WorkspaceConfig;
use crate::runtime::Services;

/// `POST /v1/mparticle/events`: Events-API batches. Rate limit first, then
/// the whole request is validated before anything is applied.
pub async fn events(
    services: &Services,
    ws: &WorkspaceConfig,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    ingest::rate_limit(services, ws).await?;
    let body: Value = parse_json(request.body())?;
    let batches = events_api::read_request(&body)?;
    let report = ingest::ingest(services, ws, batches).await?;
    let report = serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(success(report))
}

/// Firehose over HTTP: the response message as JSON, errors as API errors.
pub async fn firehose_http(
    services: &Services,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let body: Value = parse_json(request.body())?;
    let basic = auth::basic_credentials(request);
    let response = firehose(services, &body, basic).await?;
    Ok(json_response(StatusCode::OK, &response))
}

/// Firehose as a direct Lambda invocation: the response message, or an
/// error object `{"status":"error","error","status_code"}` (the same
/// messages as over HTTP; nothing says which credential was wrong).
pub async fn firehose_direct(services: &Services, payload: Value) -> Result<Value, ApiError> {
    match firehose(services, &payload, None).await {
        Ok(response) => Ok(response),
        // Retriable failures fail the invocation, so mParticle retries it
        // instead of counting the request as delivered.
        Err(error @ (ApiError::RateLimited { .. } | ApiError::Internal(_))) => {
            if let ApiError::Internal(detail) = &error {
                tracing::error!(error = %detail, "internal error answering a Firehose invocation");
            }
            Err(error)
        }
        // Bad input or credentials: a retry cannot help; answer with the error.
        Err(error) => Ok(json!({
            "status": "error",
            "error": error.to_string(),
            "status_code": error.status().as_u16(),
        })),
    }
}

/// One Firehose request → its response message.
async fn firehose(
    services: &Services,
    body: &Value,
    basic: Option<(String, String)>,
) -> Result<Value, ApiError> {
    let root = Node::root(body);
    root.object()?;
    let kind = RequestType::read(&root)?;
    if kind == RequestType::ModuleRegistration {
        return Ok(firehose::response(
            kind,
            &root,
            firehose::registration_fields(),
        ));
    }
    // The account settings the module registered, else Basic auth (HTTP).
    let (id, secret) = match firehose::account_credentials(&root)? {
        Some(credentials) => credentials,
        None => basic.ok_or(ApiError::Unauthorized)?,
    };
    let ws = auth::verify(services, &id, &secret).await?;
    ingest::rate_limit(services, &ws).await?;
    match kind {
        RequestType::EventProcessing => {
            let batch = firehose::read_event_processing(&root)?;
            ingest::ingest(services, &ws, vec![batch]).await?;
        }
        RequestType::AudienceSubscription => {
            audiences::subscription(services, &ws, &root).await?;
        }
        RequestType::AudienceMembershipChange => {
            audiences::membership_change(services, &ws, &root).await?;
        }
        RequestType::ModuleRegistration => {}
    }
    Ok(firehose::response(kind, &root, Map::new()))
}
