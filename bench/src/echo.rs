//! The ceiling: a minimal hyper server that reads each body whole and
//! answers 200 `{}`. The generator posting to it measures what loopback
//! HTTP costs on this machine with nothing behind it.
//!
//! With `parse_json`, it also parses each body into a `serde_json::Value`
//! and serializes it again: the floor any JSON-in/JSON-out service pays,
//! a second reference beside the bare loopback ceiling.

use hyper::StatusCode;

use crate::http::{self, Server};

pub async fn start(parse_json: bool) -> anyhow::Result<Server> {
    http::serve(move |request| async move {
        let body = http::read_body(request).await;
        if parse_json {
            let parsed = serde_json::from_slice::<serde_json::Value>(&body)
                .and_then(|value| serde_json::to_vec(&value));
            if parsed.is_err() {
                return http::response(StatusCode::BAD_REQUEST, &b"{}"[..]);
            }
        }
        http::response(StatusCode::OK, &b"{}"[..])
    })
    .await
}
