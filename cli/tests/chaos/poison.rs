//! Poison input (issue 10 items 3 and 4): every bad input is a 4xx with the
//! JSON error body of docs/interface/http.md, is refused before it changes anything,
//! and does not echo itself back.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Bridge, Client, SECRET, workspace};

/// Larger than any sane name or id.
fn huge() -> String {
    "n".repeat(1 << 20)
}

fn cohort(name: &str, id: &str) -> Value {
    json!({
        "cohort_name": name, "cohort_id": id, "in_cohort": true,
        "computed_time": "1700000000", "message_id": format!("m-{}", id.len()),
        "users": [{"user_id": "poison-user"}]
    })
}

fn audience_change(name: &str, id: Value) -> Value {
    json!({
        "type": "audience_membership_change_request", "id": "r-1",
        "timestamp_ms": 1_700_000_000_000_u64,
        "account": {"account_settings": {"workspace_id": "acme", "secret_key": SECRET}},
        "user_profiles": [{
            "user_identities": [{"type": "customer", "value": "poison-user"}],
            "audiences": [{"audience_id": id, "audience_name": name, "action": "add"}]
        }]
    })
}

/// Firehose audience changes with `huge` as the audience name, then id.
fn over_long_audiences(huge: &str) -> [(&'static str, &'static str, Value); 2] {
    [
        (
            "audience name",
            "/v1/mparticle/firehose",
            audience_change(huge, json!(7)),
        ),
        (
            "audience id",
            "/v1/mparticle/firehose",
            audience_change("ok", json!(huge)),
        ),
    ]
}

fn with_user_attribute(name: &str) -> Value {
    json!({
        "user_identities": [{"identity_type": "customer_id", "identity": "poison-user"}],
        "user_attributes": {name: "v"}, "events": []
    })
}

/// `Ok` when the answer is a 4xx with `{"status":"error","error":"…"}`
/// that does not echo a megabyte back.
fn json_error(status: u16, body: &str) -> Result<(), String> {
    let parsed: Value = serde_json::from_str(body).unwrap_or_default();
    let shown: String = match body {
        "" => "<empty body>".into(),
        _ => body.chars().take(160).collect(),
    };
    let well_formed = parsed["status"] == "error"
        && parsed["error"].as_str().is_some_and(|e| !e.is_empty())
        && body.len() < 64 * 1024;
    if (400..500).contains(&status) && well_formed {
        Ok(())
    } else {
        Err(format!("{status} {shown} ({} bytes)", body.len()))
    }
}

/// Sends every case; returns "what: answer" for each that was not
/// `expected` (a status, or any 4xx when `None`) with a JSON error.
async fn refusals(
    api: &Client,
    expected: Option<u16>,
    cases: &[(&str, &str, Value)],
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (what, path, body) in cases {
        let raw = body
            .as_str()
            .map_or_else(|| body.to_string(), str::to_owned);
        let (status, reply) = api.request("POST", "acme", path, raw.as_bytes()).await;
        let checked = json_error(status, &reply.to_string()).and_then(|()| match expected {
            Some(want) if want != status => Err(format!("{status} instead of {want}")),
            _ => Ok(()),
        });
        if let Err(why) = checked {
            wrong.push(format!("{what}: {why}"));
        }
    }
    wrong
}

/// `Err` naming what is there unless workspace `acme` still has no
/// segment and no profile `poison-user`.
async fn nothing_created(api: &Client) -> Result<(), String> {
    let (_, segments) = api.get("acme", "/v1/segments").await;
    let ids: Vec<String> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["id"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect()
        })
        .collect();
    let (user, _) = api.get("acme", "/v1/users/poison-user").await;
    match (ids.is_empty(), user) {
        (true, 404) => Ok(()),
        _ => Err(format!(
            "state left behind: segments {ids:?}, GET /v1/users/poison-user {user}"
        )),
    }
}

/// Panics listing the wrong answers and any state left behind.
async fn assert_all_refused(api: &Client, wrong: Vec<String>) {
    let state = nothing_created(api).await;
    assert!(
        wrong.is_empty() && state.is_ok(),
        "not refused with a JSON error: {wrong:#?}\n{}",
        state.err().unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_names_and_ids_are_rejected_with_400() {
    let bridge = Bridge::start(&workspace("acme", ""));
    let api = bridge.client();
    let huge = huge();
    let wrong = refusals(
        &api,
        Some(400),
        &[
            ("cohort name", "/v1/amplitude/cohorts", cohort(&huge, "c1")),
            ("cohort id", "/v1/amplitude/cohorts", cohort("ok", &huge)),
            (
                "list name",
                "/v1/amplitude/lists",
                json!({"name": format!("[Amplitude] {huge}: c2")}),
            ),
            (
                "list cohort id",
                "/v1/amplitude/lists",
                json!({"name": format!("[Amplitude] ok: {huge}")}),
            ),
            (
                "user attribute name",
                "/v1/mparticle/events",
                with_user_attribute(&huge),
            ),
        ]
        .into_iter()
        .chain(over_long_audiences(&huge))
        .collect::<Vec<_>>(),
    )
    .await;
    assert_all_refused(&api, wrong).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_audience_change_leaves_no_state() {
    let bridge = Bridge::start(&workspace("acme", ""));
    let api = bridge.client();
    let wrong = refusals(&api, None, &over_long_audiences(&huge())).await;
    assert_all_refused(&api, wrong).await;
}

/// One raw HTTP/1.1 request; returns (status, body) of the answer.
async fn raw_request(address: &str, head: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer (and close) before reading it all.
    let _ = stream.write_all(head).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_urls_and_headers_get_a_json_error() {
    let bridge = Bridge::start(&workspace("acme", ""));
    // Wrong credentials: whatever a fix accepts, the answer is a 4xx.
    let request = |path: &str, headers: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWNtZTp3cm9uZw==\r\n\
             {headers}Connection: close\r\n\r\n"
        )
    };
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        (
            "70 kB URL",
            request(&format!("/v1/segments/{}", "x".repeat(70_000)), ""),
        ),
        (
            "1 MiB header",
            request(
                "/v1/segments",
                &format!("X-Big: {}\r\n", "y".repeat(1 << 20)),
            ),
        ),
        ("200 headers", request("/v1/segments", &many)),
    ];
    let mut wrong = Vec::new();
    for (what, head) in cases {
        let (status, body) = raw_request(bridge.address(), head.as_bytes()).await;
        if let Err(why) = json_error(status, &body) {
            wrong.push(format!("{what}: {why}"));
        }
    }
    assert!(wrong.is_empty(), "not a 4xx JSON error: {wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_json_4xx_and_change_nothing() {
    let bridge = Bridge::start(&workspace("acme", ""));
    let api = bridge.client();
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"user_id": format!("u{i}")}))
        .collect();
    let mut oversized = cohort("ok", "c9");
    oversized["users"] = Value::from(too_many);
    let wrong = refusals(
        &api,
        None,
        &[
            ("cohort: not JSON", "/v1/amplitude/cohorts", json!("{\"cohort_")),
            ("cohort: empty object", "/v1/amplitude/cohorts", json!({})),
            ("cohort: 10 001 users", "/v1/amplitude/cohorts", oversized),
            ("cohort: bad name", "/v1/amplitude/cohorts", cohort("a|b", "c3")),
            ("cohort: users not a list", "/v1/amplitude/cohorts", {
                let mut c = cohort("ok", "c4");
                c["users"] = json!("poison-user");
                c
            }),
            ("list: no wrapper", "/v1/amplitude/lists", json!({"name": "plain"})),
            (
                "list add: unknown list",
                "/v1/amplitude/lists/amplitude-nope/add",
                json!({"userIds": ["poison-user"]}),
            ),
            ("events: not JSON", "/v1/mparticle/events", json!("[{")),
            ("firehose: not JSON", "/v1/mparticle/firehose", json!("{")),
            (
                "firehose: wrong secret",
                "/v1/mparticle/firehose",
                json!({"type": "audience_membership_change_request",
                       "account": {"account_settings": {"workspace_id": "acme", "secret_key": "x"}}}),
            ),
            ("body over 6 MiB", "/v1/amplitude/cohorts", json!(huge().repeat(7))),
            ("unknown route", "/v1/nowhere", json!({})),
        ],
    )
    .await;
    assert_all_refused(&api, wrong).await;
}
