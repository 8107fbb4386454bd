//! One access line per request (docs/interface/observability.md): route,
//! status and milliseconds, with the request id and workspace at the top.

use std::time::Duration;

use axum::extract::MatchedPath;
use http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::REQUEST_ID;

type MakeSpan = fn(&Request<axum::body::Body>) -> Span;
type OnResponse = fn(&Response<axum::body::Body>, Duration, &Span);

pub fn layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), OnResponse, (), (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(make_span as MakeSpan)
        .on_request(())
        .on_response(on_response as OnResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn make_span(request: &Request<axum::body::Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route,
        workspace_id = tracing::field::Empty,
    )
}

fn on_response(response: &Response<axum::body::Body>, latency: Duration, _: &Span) {
    let status = response.status().as_u16();
    let ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::error!(status, ms, "request answered with a server error");
    } else {
        tracing::info!(status, ms, "request");
    }
}
