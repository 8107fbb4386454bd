//! The HTTP server of `serve`: the shared router on hyper, with the bounds a
//! public endpoint needs (docs/architecture.md "Limits"): a deadline on
//! request heads, a cap on connections, JSON answers even for the requests
//! hyper refuses itself, and a shutdown that ends within its grace period
//! whatever clients do.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::parse_errors::JsonParseErrors;

/// A client gets this long to send a request's head; then the connection
/// closes (slow-header clients cannot hold connections forever).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes hyper buffers for one request head before answering 431.
const MAX_HEAD_BYTES: usize = 128 * 1024;
/// Header lines per request before answering 431.
const MAX_HEADERS: usize = 100;
/// Open connections at once; the next ones wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish for at most `grace` and returns.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .max_headers(MAX_HEADERS);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // e.g. too many open files: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(JsonParseErrors::new(stream));
        // The peer's address, for the console's sign-in limit per client.
        let with_peer = tower::ServiceBuilder::new()
            .map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            })
            .service(router.clone());
        let service = TowerToHyperService::new(with_peer);
        let connection = builder.serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        grace_seconds = grace.as_secs(),
        "no longer accepting; finishing requests in flight"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at the end of the grace period were cut off");
    }
}
