//! Helpers: a workspace, API calls, and draining the events queue.

use std::time::Duration;

use engage_bridge_tests::{Backend, basic, repo_root, workspace};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use shared::config::WorkspaceConfig;

pub const WS: &str = "acme";
pub const SECRET: &str = "acme-secret";

/// Stores workspace `acme` (secret `acme-secret`) after `configure`.
pub async fn setup(b: &Backend, configure: impl FnOnce(&mut WorkspaceConfig)) {
    let mut ws = workspace(WS, SECRET);
    configure(&mut ws);
    b.workspaces.apply(&[ws]).await.unwrap();
}

pub fn auth() -> String {
    basic(WS, SECRET)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn call(
    b: &Backend,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = engage_bridge_tests::call(b, request.body(body).unwrap()).await;
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    }
}

/// `POST /v1/mparticle/events` as workspace `acme`.
pub async fn post_events(b: &Backend, body: &Value) -> Reply {
    call(
        b,
        "POST",
        "/v1/mparticle/events",
        Some(&auth()),
        body.to_string().into_bytes(),
    )
    .await
}

/// `POST /v1/mparticle/firehose` with optional Basic auth.
pub async fn post_firehose(b: &Backend, body: &Value, auth: Option<&str>) -> Reply {
    call(
        b,
        "POST",
        "/v1/mparticle/firehose",
        auth,
        body.to_string().into_bytes(),
    )
    .await
}

/// `GET /v1/users/{uid}` as workspace `acme`.
pub async fn get_user(b: &Backend, uid: &str) -> Reply {
    let uri = format!("/v1/users/{}", uid.replace('@', "%40"));
    call(b, "GET", &uri, Some(&auth()), Vec::new()).await
}

/// Every event on the events queue (removing them), in queue order.
pub async fn drain_events(b: &Backend) -> Vec<Value> {
    engage_bridge_tests::drain_events(b).await
}

/// The event named `name` (exactly one).
pub fn named<'a>(events: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["event_name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} event in {events:#?}");
    found[0]
}

/// A sample from events/.
pub fn sample(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("events").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The JSON body of the API Gateway sample `events-batch.json`.
pub fn sample_batch() -> Value {
    let envelope = sample("mparticle-ingest/events-batch.json");
    serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap()
}

/// A batch for customer `uid` with the given events (Events-API format).
pub fn batch(uid: &str, events: Value) -> Value {
    serde_json::json!({
        "events": events,
        "user_identities": [{"identity_type": "customer_id", "identity": uid, "timestamp_unixtime_ms": 1}],
        "environment": "production",
        "batch_id": format!("batch-{uid}"),
        "timestamp_unixtime_ms": 1_795_341_661_000_i64
    })
}

/// Waits so a short test does not straddle a minute boundary (rate-limit
/// windows are aligned to the epoch minute).
pub async fn avoid_minute_boundary() {
    let into_minute = shared::domain::time::now_ms().rem_euclid(60_000);
    if into_minute > 50_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into_minute + 200) as u64)).await;
    }
}
