//! The request body, read only once the route and its credentials are known,
//! and never beyond the limit (docs/interface/http.md "Limits").

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use futures::StreamExt;
use http::header::CONTENT_LENGTH;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::RequestError;

/// `serve` accepts bodies up to 6 MiB; on AWS the Lambda payload limit
/// (about the same, envelope included) applies first.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// How much of an oversized body is read and thrown away before the 413, and
/// for how long: a client still sending when the connection closes sees a
/// reset instead of the answer (nginx's "lingering close" does the same).
const DRAIN_BYTES: usize = 2 * MAX_BODY_BYTES;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Requests handled at once per core, once their bodies are read. Parsing
/// and mapping expand a request several times over and are CPU-bound, so
/// more at once adds memory, not throughput: with this bound `serve`'s
/// memory follows the number of cores, not of clients (BENCHMARKS.md "Load
/// harness": 32 connections flat out).
const HANDLED_PER_CORE: usize = 4;

static HANDLING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Arc::new(Semaphore::new(cores * HANDLED_PER_CORE))
});

/// The raw body, at most [`MAX_BODY_BYTES`]: larger is a 413, never held in
/// memory. While it lives, its request holds one of the turns to be handled
/// (taken once the body is read: a slow client never holds one).
pub struct RequestBody {
    bytes: Bytes,
    _turn: OwnedSemaphorePermit,
}

impl Deref for RequestBody {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        &self.bytes
    }
}

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
            Ok(bytes) => Ok(Self {
                bytes,
                _turn: HANDLING
                    .clone()
                    .acquire_owned()
                    .await
                    // Never closed: this cannot happen.
                    .map_err(|_| RequestError::Internal("the request turns are closed"))?,
            }),
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
