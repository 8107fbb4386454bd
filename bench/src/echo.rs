//! The ceiling: a minimal hyper server that reads each body whole and
//! answers 200 `{}`. The generator posting to it measures what loopback
//! HTTP costs on this machine with nothing behind it.

use hyper::StatusCode;

use crate::http::{self, Server};

pub async fn start() -> anyhow::Result<Server> {
    http::serve(|request| async move {
        let _ = http::read_body(request).await;
        http::response(StatusCode::OK, &b"{}"[..])
    })
    .await
}
