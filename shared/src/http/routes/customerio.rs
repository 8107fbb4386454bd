//! `POST /v1/customerio/{workspace_id}/reporting` (docs/interface/http.md
//! "Customer.io"): the raw body and what the request presented, handed to
//! the capability.

use axum::extract::State;
use http::HeaderMap;

use crate::customerio::{self, Presented, Received, Signed};
use crate::error::RequestError;
use crate::http::extract::PathParam;
use crate::http::{RequestBody, Success, credentials};
use crate::runtime::Services;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub async fn reporting(
    State(services): State<Services>,
    PathParam(workspace_id): PathParam,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<Success<Received>, RequestError> {
    // A signature header present decides alone (a partial pair fails it).
    let signature = header(&headers, "x-cio-signature");
    let timestamp = header(&headers, "x-cio-timestamp");
    let signed = (signature.is_some() || timestamp.is_some()).then(|| Signed {
        timestamp: timestamp.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
    });
    let presented = Presented {
        signed,
        credentials: credentials(&headers),
    };
    customerio::receive(&services, &workspace_id, &presented, &body)
        .await
        .map(Success)
}
