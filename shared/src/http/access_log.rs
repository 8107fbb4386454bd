//! One access line per request (docs/interface/observability.md "Logs"):
//! route, status and milliseconds at INFO (ERROR for a 5xx), inside a span
//! holding the request id and, once authenticated, the workspace, so every
//! line the request logs carries them; and the request counter.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::REQUEST_ID;
use crate::observability::metrics;

pub async fn access_log(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route,
        workspace_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics::http_request(&route, status);
    span.in_scope(|| {
        if response.status().is_server_error() {
            tracing::error!(status, ms, "request answered with a server error");
        } else {
            tracing::info!(status, ms, "request");
        }
    });
    response
}
