//! Routing. On `serve`, credentials are checked before routing so an unknown
//! `/v1` route with bad credentials is a 401 (interface §2).

use http::{Method, StatusCode};

use super::{
    ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, auth, json_response, segments, users,
};
use crate::runtime::Services;

/// Which routes a deployment unit answers: each Lambda function serves its
/// own (API Gateway routes only those to it); `serve` answers all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteSet {
    All,
    CohortIngest,
    MparticleIngest,
}

impl RouteSet {
    fn serves_cohorts(self) -> bool {
        matches!(self, Self::All | Self::CohortIngest)
    }
    fn serves_mparticle(self) -> bool {
        matches!(self, Self::All | Self::MparticleIngest)
    }
}

pub async fn handle(services: &Services, routes: RouteSet, request: ApiRequest) -> ApiResponse {
    match route(services, routes, &request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(
    services: &Services,
    routes: RouteSet,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let method = request.method().clone();
    if path == "/health" && method == Method::GET {
        return Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
        ));
    }
    if request.body().len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.first() != Some(&"v1") {
        return Err(not_found(&method, &path));
    }
    // Firehose authenticates itself: module registration needs no
    // credentials, other requests carry them in their account settings.
    if routes.serves_mparticle()
        && method == Method::POST
        && segments[1..] == ["mparticle", "firehose"]
    {
        return crate::mparticle::firehose_http(services, request).await;
    }
    let workspace = auth::authenticate(services, request).await?;
    let ws = workspace.as_ref();
    let path_segments = &segments[1..];
    if routes.serves_cohorts()
        && let Some(result) =
            crate::cohort::route(services, ws, &method, path_segments, request).await
    {
        return result;
    }
    if routes.serves_mparticle()
        && let Some(result) =
            crate::mparticle::route(services, ws, &method, path_segments, request).await
    {
        return result;
    }
    match (&method, path_segments) {
        (&Method::GET, ["segments"]) if routes.serves_cohorts() => {
            segments::list(services, ws, request).await
        }
        (&Method::GET, ["segments", id]) if routes.serves_cohorts() => {
            segments::get(services, ws, &super::percent_decode(id)).await
        }
        (&Method::GET, ["segments", id, "members"]) if routes.serves_cohorts() => {
            segments::members(services, ws, &super::percent_decode(id), request).await
        }
        (&Method::GET, ["users", uid]) if routes.serves_mparticle() => {
            users::get(services, ws, &super::percent_decode(uid)).await
        }
        _ => Err(not_found(&method, &path)),
    }
}

fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {path}"))
}
