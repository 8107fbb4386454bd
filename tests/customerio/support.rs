//! Helpers: a workspace with Customer.io settings, signed requests, and
//! running stream-dispatch on what the route queued.

use engage_bridge_tests::{Backend, repo_root};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use shared::config;
use shared::customerio::signature::sign;
use shared::domain::time::now_s;

pub const WS: &str = "acme";
pub const SECRET: &str = "acme-secret";
pub const SIGNING_KEY: &str = "cio-signing-key-3f9a-never-logged";

/// Applies workspace `acme` with `customerio = { … extra }` and the given
/// `[[workspaces.streams]]` TOML.
pub async fn setup(b: &Backend, customerio_extra: &str, streams: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"{WS}\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\n\
         customerio = {{ signing_key = \"{SIGNING_KEY}\"{customerio_extra} }}\n\n{streams}"
    );
    let config = config::parse(&text).expect("valid test config");
    b.workspaces.apply(&config.workspaces).await.unwrap();
}

/// A fixture from tests/fixtures/customerio/, as its exact bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/customerio").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// POSTs `body` to workspace `ws`'s reporting route with `headers`.
pub async fn post(b: &Backend, ws: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("/v1/customerio/{ws}/reporting"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = engage_bridge_tests::call(b, request.body(body.to_vec()).unwrap()).await;
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    }
}

/// The signature headers Customer.io sends, signed with `key` at `timestamp`.
pub fn signed_with(key: &str, timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-cio-timestamp", timestamp.to_string()),
        (
            "x-cio-signature",
            sign(key.as_bytes(), &timestamp.to_string(), body),
        ),
    ]
}

/// POSTs `body` to `acme`, signed now with the right key.
pub async fn post_signed(b: &Backend, body: &[u8]) -> Reply {
    post(b, WS, &signed_with(SIGNING_KEY, now_s(), body), body).await
}

/// Every event on the events queue (removing them).
pub async fn drain_events(b: &Backend) -> Vec<Value> {
    engage_bridge_tests::drain_events(b).await
}

/// Runs stream-dispatch on everything queued, as the SQS event source does.
pub async fn dispatch_queued(b: &Backend) {
    let answer = engage_bridge_tests::dispatch_queued(b).await;
    assert!(answer.redeliver.is_empty());
}
