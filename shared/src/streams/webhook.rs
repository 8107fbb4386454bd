//! Webhook streams [003 "API Request Format"]: `POST <url>` with
//! `{"app_name","source":"MOENGAGE","moe_request_id","events":[...]}`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{StreamAuth, StreamConfig};
use crate::domain::Event;

pub fn body(app_name: &str, request_id: &str, events: &[Event]) -> Value {
    json!({
        "app_name": app_name,
        "source": "MOENGAGE",
        "moe_request_id": request_id,
        "events": events,
    })
}

pub fn request(
    client: &reqwest::Client,
    stream: &StreamConfig,
    body: &Value,
) -> reqwest::RequestBuilder {
    let url = stream.url.as_deref().unwrap_or_default();
    let mut request = client
        .post(url)
        .timeout(Duration::from_secs(u64::from(stream.timeout_seconds)))
        .json(body);
    for (name, value) in &stream.headers {
        request = request.header(name, value.expose());
    }
    match &stream.auth {
        StreamAuth::None => request,
        StreamAuth::Basic { username, password } => {
            request.basic_auth(username, Some(password.expose()))
        }
        StreamAuth::Header { name, value } => request.header(name, value.expose()),
    }
}
