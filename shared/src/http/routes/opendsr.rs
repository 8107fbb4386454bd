//! OpenDSR routes (docs/interface/privacy.md "OpenDSR"): answers in
//! OpenDSR's shapes, errors included, each signed (`X-OpenDSR-Signature`
//! over the exact body) when `[privacy] signing_key` is set.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::http::extract::PathParam;
use crate::http::{RequestBody, Workspace};
use crate::privacy::opendsr::{self, OpenDsrError};
use crate::privacy::{access, find_request};
use crate::runtime::Services;

/// A JSON answer with the signature headers.
fn signed(services: &Services, status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let headers = opendsr::signature_headers(&services.privacy.settings, &bytes);
    let mut response = (status, bytes).into_response();
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

fn answer<T: Serialize>(
    services: &Services,
    status: StatusCode,
    result: Result<T, OpenDsrError>,
) -> Response {
    match result {
        Ok(body) => signed(services, status, &body),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            signed(services, status, &e.body())
        }
    }
}

/// `GET /v1/opendsr/discovery` (no credentials).
pub async fn discovery(State(services): State<Services>) -> Response {
    let body = opendsr::discovery(&services.privacy.settings);
    signed(&services, StatusCode::OK, &body)
}

/// `POST /v1/opendsr/requests` → `201`.
pub async fn create(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    body: RequestBody,
) -> Response {
    let created = opendsr::create(&services, &ws.id, &body).await;
    answer(&services, StatusCode::CREATED, created)
}

/// `GET /v1/opendsr/requests/{request_id}`.
pub async fn status(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
) -> Response {
    let status = opendsr::status(&services, &ws.id, &id).await;
    answer(&services, StatusCode::OK, status)
}

/// `DELETE /v1/opendsr/requests/{request_id}` → `202` while pending, else `405`.
pub async fn cancel(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
) -> Response {
    let cancelled = opendsr::cancel(&services, &ws.id, &id).await;
    answer(&services, StatusCode::ACCEPTED, cancelled)
}

/// `GET /v1/opendsr/requests/{request_id}/results`: an access request's export.
pub async fn results(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
) -> Response {
    let found = async {
        find_request(&services, &ws.id, &id).await?;
        access::results(&services, &ws.id, &id)
            .await?
            .ok_or_else(|| {
                OpenDsrError::NotFound(
                    "no results: the request is not a completed access request, its results \
                     expired, or nothing is held"
                        .into(),
                )
            })
    }
    .await;
    answer(&services, StatusCode::OK, found)
}
