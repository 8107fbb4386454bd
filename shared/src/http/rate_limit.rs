//! The rate-limit layer: counts a request against its workspace's limit
//! (docs/interface/http.md "Rate limits") before the route runs.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::Workspace;
use crate::error::RequestError;
use crate::rate_limit::RateLimit;
use crate::runtime::Services;

pub async fn count_request(
    State((services, limit)): State<(Services, RateLimit)>,
    workspace: Workspace,
    request: Request,
    next: Next,
) -> Result<Response, RequestError> {
    limit.enforce(&services.rate_limiter, &workspace.0).await?;
    Ok(next.run(request).await)
}
