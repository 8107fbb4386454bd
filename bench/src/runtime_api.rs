//! The Lambda Runtime API, emulated for `coldstart`: `next` hands out the
//! events it is given, `response`, `error` and `init/error` are reported
//! with the time they arrived.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

use crate::http;

/// What the emulator saw.
pub enum Report {
    Next(Instant),
    Response(Instant, Bytes),
    Error(Instant, Bytes),
    InitError(Bytes),
}

/// The Runtime API: `next` hands out what `invocations` yields (and waits
/// while it yields nothing); `response`, `error` and `init/error` are
/// reported.
pub async fn emulator(
    function: &str,
    reports: mpsc::UnboundedSender<Report>,
    invocations: mpsc::Receiver<Bytes>,
) -> anyhow::Result<http::Server> {
    let invocations = Arc::new(Mutex::new(invocations));
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    http::serve(move |request| {
        let reports = reports.clone();
        let invocations = invocations.clone();
        let arn = arn.clone();
        async move {
            let path = request.uri().path().to_owned();
            let method = request.method().clone();
            const NEXT: &str = "/2018-06-01/runtime/invocation/next";
            if method == Method::GET && path == NEXT {
                let _ = reports.send(Report::Next(Instant::now()));
                let Some(payload) = invocations.lock().await.recv().await else {
                    return http::response(StatusCode::INTERNAL_SERVER_ERROR, "{}");
                };
                let deadline = crate::workload::now_ms() + 60_000;
                let mut response = http::response(StatusCode::OK, payload);
                let headers = response.headers_mut();
                for (name, value) in [
                    ("lambda-runtime-aws-request-id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned()),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    ("lambda-runtime-invoked-function-arn", arn),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                            .to_owned(),
                    ),
                ] {
                    if let Ok(value) = value.parse() {
                        headers.insert(name, value);
                    }
                }
                return response;
            }
            if method != Method::POST {
                return http::response(StatusCode::NOT_FOUND, "{}");
            }
            let now = Instant::now();
            let body = http::read_body(request).await;
            let report = if path == "/2018-06-01/runtime/init/error" {
                Report::InitError(body)
            } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/response") {
                Report::Response(now, body)
            } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/error") {
                Report::Error(now, body)
            } else {
                return http::response(StatusCode::NOT_FOUND, "{}");
            };
            let _ = reports.send(report);
            http::response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
    })
    .await
}

/// "response" plus what it says: the HTTP status of an API Gateway
/// response, the failures of an SQS batch response.
pub fn describe_response(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(status) = value.get("statusCode") {
        format!("response, HTTP {status}")
    } else if let Some(failures) = value.get("batchItemFailures").and_then(Value::as_array) {
        format!("response, {} batch item failures", failures.len())
    } else {
        "response".to_owned()
    }
}
