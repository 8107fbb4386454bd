//! Amplitude cohort sync [000, 001]: cohort webhooks and the list API in,
//! segments with identity-matched members and `Partner Sync` events out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use http::Method;

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::config::WorkspaceConfig;
use crate::runtime::Services;

/// The cohort routes (`/v1/amplitude/...`); `None` when the path is not one.
pub async fn route(
    _services: &Services,
    _workspace: &WorkspaceConfig,
    _method: &Method,
    _path: &[&str],
    _request: &ApiRequest,
) -> Option<Result<ApiResponse, ApiError>> {
    None
}

/// Consumer of the cohort staging queue.
pub async fn handle_staged(_services: &Services, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        if let Some(id) = record.message_id {
            response.add_failure(id);
        }
    }
    response
}
