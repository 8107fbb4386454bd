//! The request body, read only once the route and its credentials are known,
//! and never beyond the limit (docs/interface/http.md "Limits").

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header::CONTENT_LENGTH;

use crate::error::RequestError;

/// `serve` accepts bodies up to 6 MiB; on AWS the Lambda payload limit
/// (about the same, envelope included) applies first.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The raw body, at most [`MAX_BODY_BYTES`]: larger is a 413 without reading
/// further.
pub struct RequestBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = RequestError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let too_large = RequestError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(too_large);
        }
        match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(e) if is_length_limit(&e) => Err(too_large),
            Err(e) => Err(RequestError::bad_request(format!(
                "could not read the request body: {e}"
            ))),
        }
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
