//! Refusals as HTTP answers (docs/interface/http.md "Conventions"): a status and
//! `{"status":"error","error":"<clear, specific message>"}`. A 5xx is logged
//! at ERROR with its detail; the body never carries internals.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::json_response;
use crate::error::RequestError;

pub fn status(error: &RequestError) -> StatusCode {
    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error answer with a status of our choosing (404, 405, 414, 431…).
pub fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &serde_json::json!({"status": "error", "error": message}),
    )
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        if let Some(detail) = self.internal_detail() {
            tracing::error!(error = %detail, "internal error answering a request");
        }
        let mut response = error_response(status(&self), &self.to_string());
        let headers = response.headers_mut();
        match self {
            RequestError::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs.into());
            }
            RequestError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"engage-bridge\""),
                );
            }
            _ => {}
        }
        response
    }
}
