//! The HTTP API (docs/interface/http.md) as one axum `Router`, served by
//! `engage-bridge serve` and, through lambda_http, by the Lambda functions.
//! The routes come from the topology table; auth, rate limits, the body
//! limit, request ids and the access log are layers and extractors written
//! once here (docs/architecture.md "One HTTP surface").

mod access_log;
pub mod auth;
pub mod body;
pub mod error;
pub mod extract;
#[cfg(feature = "serve")]
pub mod openapi;
mod rate_limit;
mod routes;

use axum::Router;
use axum::extract::OriginalUri;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::runtime::Services;
use crate::topology::{Access, Route};

pub use auth::{Workspace, credentials};
pub use body::{MAX_BODY_BYTES, RequestBody};
pub use error::error_response;

/// The header carrying the request id (set by API Gateway's context on
/// Lambda, made here on `serve`), echoed on the response.
pub const REQUEST_ID: &str = "x-request-id";

/// The router answering `routes`: a function's own for Lambda (API Gateway
/// sends it nothing else), every route for tests.
pub fn router(services: Services, routes: impl IntoIterator<Item = Route>) -> Router {
    build(services, routes, Router::new())
}

/// `serve`'s router: every route, plus `GET /metrics` (Prometheus text) and
/// `GET /openapi.json`, which need no credentials and show no secret
/// (docs/interface/cli.md "serve").
#[cfg(feature = "serve")]
pub fn serve_router(services: Services) -> Router {
    let metrics = crate::observability::metrics::prometheus();
    let operations = Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let mut response = metrics.render().into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                response
            }),
        )
        .route(
            "/openapi.json",
            get(|| async { json_response(StatusCode::OK, &openapi::document()) }),
        );
    build(services, Route::ALL, operations)
}

fn build(
    services: Services,
    routes: impl IntoIterator<Item = Route>,
    operations: Router<Services>,
) -> Router {
    let mut workspace_routes = Router::new();
    let mut open_routes = Router::new();
    for route in routes {
        let mut endpoint = routes::endpoint(route);
        if let Some(limit) = route.rate_limit() {
            endpoint = endpoint.route_layer(from_fn_with_state(
                (services.clone(), limit),
                rate_limit::count_request,
            ));
        }
        match route.access() {
            Access::Workspace => {
                let path = route.path().strip_prefix("/v1").unwrap_or(route.path());
                workspace_routes = workspace_routes.route(path, endpoint);
            }
            Access::SelfAuthenticated => open_routes = open_routes.route(route.path(), endpoint),
        }
    }
    // Credentials are checked before routing: an unknown /v1 route with bad
    // credentials is a 401 like a known one (docs/interface/auth.md).
    let workspace_routes = workspace_routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            services.clone(),
            auth::require_workspace,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(operations)
        .merge(open_routes)
        .nest("/v1", workspace_routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(access_log::access_log))
        .layer(PropagateRequestIdLayer::new(
            REQUEST_ID.parse().expect("valid header name"),
        ))
        .layer(SetRequestIdLayer::new(
            REQUEST_ID.parse().expect("valid header name"),
            MakeRequestUuid,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }))
        .with_state(services)
}

async fn health() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn not_found(method: http::Method, OriginalUri(uri): OriginalUri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: http::Method, OriginalUri(uri): OriginalUri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{method} is not allowed on {}", uri.path()),
    )
}

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 whose body is the fields of `T` plus `"status":"success"`.
pub struct Success<T>(pub T);

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(self.0) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("status".into(), "success".into());
                json_response(StatusCode::OK, &fields)
            }
            Ok(_) | Err(_) => {
                crate::error::RequestError::Internal("a success body is not a JSON object")
                    .into_response()
            }
        }
    }
}
