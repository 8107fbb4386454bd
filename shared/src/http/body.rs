//! The request body, read only once the route and its credentials are known,
//! and never beyond the limit (docs/interface/http.md "Limits").

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use futures::StreamExt;
use http::header::CONTENT_LENGTH;
use std::time::Duration;

use crate::error::RequestError;

/// `serve` accepts bodies up to 6 MiB; on AWS the Lambda payload limit
/// (about the same, envelope included) applies first.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// How much of an oversized body is read and thrown away before the 413, and
/// for how long: a client still sending when the connection closes sees a
/// reset instead of the answer (nginx's "lingering close" does the same).
const DRAIN_BYTES: usize = 2 * MAX_BODY_BYTES;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The raw body, at most [`MAX_BODY_BYTES`]: larger is a 413, never held in
/// memory.
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
            drain(request.into_body()).await;
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

/// Reads and drops up to [`DRAIN_BYTES`] for at most [`DRAIN_TIME`].
async fn drain(body: axum::body::Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
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
