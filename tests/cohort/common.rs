//! Helpers: drive the HTTP routes through `shared::api::handle`, the cohort
//! consumer by receiving from the cohort queue like the event-source mapping
//! does, and read what reached the events queue.

use std::time::Duration;

use engage_bridge_tests::ids::{derived, partner_sync as partner_sync_uuid};
use engage_bridge_tests::{Backend, basic, workspace};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::config::WorkspaceConfig;
use shared::domain::{Event, EventsMessage, ProfileKey, ProfileUpdate};
use shared::ports::Queue;
use shared::runtime::Services;

pub const WS: &str = "acme";
pub const SECRET: &str = "acme-secret";

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Applies `ws` (or the default workspace) and returns its Basic auth.
pub async fn setup(b: &Backend, ws: Option<WorkspaceConfig>) -> String {
    let ws = ws.unwrap_or_else(|| workspace(WS, SECRET));
    b.workspaces.apply(&[ws]).await.unwrap();
    basic(WS, SECRET)
}

/// The default workspace with a change applied.
pub fn workspace_with(change: impl FnOnce(&mut WorkspaceConfig)) -> WorkspaceConfig {
    let mut ws = workspace(WS, SECRET);
    change(&mut ws);
    ws
}

pub async fn call(
    services: &Services,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Response {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = engage_bridge_tests::call(services, request.body(body.to_vec()).unwrap()).await;
    Response {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    }
}

pub async fn post(b: &Backend, uri: &str, auth: &str, body: &Value) -> Response {
    call(b, "POST", uri, Some(auth), body.to_string().as_bytes()).await
}

pub async fn get(b: &Backend, uri: &str, auth: &str) -> Response {
    call(b, "GET", uri, Some(auth), b"").await
}

/// Amplitude's Cohort Webhooks default body (docs/interface/http.md).
pub fn webhook(
    cohort_id: &str,
    in_cohort: bool,
    computed_time: i64,
    message_id: &str,
    users: Value,
) -> Value {
    json!({
        "cohort_name": "Cart Drop off",
        "cohort_id": cohort_id,
        "in_cohort": in_cohort,
        "computed_time": computed_time.to_string(),
        "message_id": message_id,
        "users": users,
    })
}

/// `[{"user_id": id}, ...]`.
pub fn users(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|id| json!({"user_id": id})).collect())
}

/// Posts a webhook and asserts it was acknowledged as new.
pub async fn send_webhook(b: &Backend, auth: &str, body: &Value) -> Value {
    let r = post(b, "/v1/amplitude/cohorts", auth, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", b.kind, r.body);
    assert_eq!(r.body["duplicate"], false, "{}", r.body);
    r.body
}

/// Everything currently visible on `queue` (received, not deleted).
pub async fn receive_all(queue: &dyn Queue, visibility: Duration) -> Vec<shared::ports::Received> {
    let mut out = Vec::new();
    loop {
        let batch = queue.receive(10, visibility, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Runs the cohort consumer over every staged message, like the SQS trigger:
/// one handler call per batch of ≤ 10, successes deleted. Returns how many
/// messages were handled and how many the handler reported as failed.
pub async fn apply_staged(services: &Services) -> (usize, usize) {
    let queue = services.queues.cohort.clone();
    let (mut handled, mut failed) = (0, 0);
    loop {
        let batch = queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        if batch.is_empty() {
            return (handled, failed);
        }
        let response =
            engage_bridge_tests::consume(services, shared::topology::QueueName::Cohort, &batch)
                .await;
        let failures = response.redeliver;
        let done: Vec<String> = batch
            .iter()
            .filter(|m| !failures.contains(&m.message_id))
            .map(|m| m.receipt_handle.clone())
            .collect();
        queue.delete(&done).await.unwrap();
        handled += batch.len();
        failed += failures.len();
        if !failures.is_empty() {
            // Failed messages stay hidden for their visibility timeout.
            return (handled, failed);
        }
    }
}

/// Drains the events queue: every event, in no particular order.
pub async fn drain_events(b: &Backend) -> Vec<Event> {
    let messages = receive_all(b.queues.events.as_ref(), Duration::from_secs(30)).await;
    let handles: Vec<String> = messages.iter().map(|m| m.receipt_handle.clone()).collect();
    b.queues.events.delete(&handles).await.unwrap();
    messages
        .iter()
        .flat_map(|m| {
            let message: EventsMessage = serde_json::from_str(&m.body).unwrap();
            assert_eq!(message.workspace_id, WS);
            message.events
        })
        .collect()
}

/// Creates a profile keyed by uid, optionally with an anonymous id attribute.
pub async fn profile_with_uid(b: &Backend, uid: &str, anonymous: Option<(&str, &str)>) -> String {
    let mut update = ProfileUpdate::new(ProfileKey::Uid(uid.into()));
    if let Some((attribute, anon)) = anonymous {
        update.set_attributes.insert(attribute.into(), json!(anon));
        update.add_anonymous_ids.push(anon.into());
    }
    b.profiles
        .update_profiles(WS, &[update])
        .await
        .unwrap()
        .remove(0)
        .moengage_user_id
}

/// The id a profile created from `key` gets (docs/rules/ids.md).
pub fn mid(key: ProfileKey) -> String {
    match key {
        ProfileKey::Uid(uid) => derived(&[WS, "uid", &uid]),
        ProfileKey::AnonymousId(anon) => derived(&[WS, "anonymous_id", &anon]),
    }
}

/// The Partner Sync event docs/rules/partner-sync.md specifies for one change.
pub fn expected_partner_sync(
    segment_id: &str,
    cohort_id: &str,
    member: &str,
    uid: Option<&str>,
    computed_time: i64,
    action: &str,
) -> Value {
    let label = computed_time.to_string();
    partner_sync(
        segment_id,
        cohort_id,
        member,
        uid,
        (&label, computed_time),
        action,
    )
}

/// The Partner Sync event of a list-API change that arrived at `time_ms`:
/// its uuid names the time in seconds with the milliseconds as a fraction.
pub fn expected_list_partner_sync(
    segment_id: &str,
    member: &str,
    uid: Option<&str>,
    time_ms: i64,
    action: &str,
) -> Value {
    let label = match time_ms % 1000 {
        0 => (time_ms / 1000).to_string(),
        ms => format!("{}.{ms:03}", time_ms / 1000),
    };
    let cohort_id = segment_id.trim_start_matches("amplitude-");
    partner_sync(
        segment_id,
        cohort_id,
        member,
        uid,
        (&label, time_ms / 1000),
        action,
    )
}

fn partner_sync(
    segment_id: &str,
    cohort_id: &str,
    member: &str,
    uid: Option<&str>,
    (time_label, event_time): (&str, i64),
    action: &str,
) -> Value {
    let mut event = json!({
        "event_name": "Partner Sync",
        "event_code": "PARTNER_SYNC",
        "event_uuid": partner_sync_uuid(WS, segment_id, member, time_label, action),
        "event_time": event_time,
        "event_type": "USER_ACTION_EVENT",
        "event_source": "AMPLITUDE",
        "event_attributes": {
            "Partner Segment Name": "Cart Drop off",
            "Action": action,
            "Partner Segment ID": cohort_id,
            "Partner Name": "Amplitude",
            "Source": "Amplitude"
        },
        "user_attributes": {"moengage_user_id": member},
        "device_attributes": {}
    });
    if let Some(uid) = uid {
        event["uid"] = json!(uid);
    }
    event
}

/// Events as JSON, sorted by uuid, for exact comparison.
pub fn sorted(events: &[Event]) -> Vec<Value> {
    let mut values: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    values.sort_by(|a, b| a["event_uuid"].as_str().cmp(&b["event_uuid"].as_str()));
    values
}

pub fn sorted_values(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by(|a, b| a["event_uuid"].as_str().cmp(&b["event_uuid"].as_str()));
    values
}

/// Every member of a segment, following `next_cursor` through the HTTP route.
pub async fn all_members(
    b: &Backend,
    auth: &str,
    segment_id: &str,
    limit: usize,
) -> (Vec<Value>, usize) {
    let mut members = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/segments/{segment_id}/members?limit={limit}&cursor={c}"),
            None => format!("/v1/segments/{segment_id}/members?limit={limit}"),
        };
        let r = get(b, &uri, auth).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        pages += 1;
        members.extend(r.body["members"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (members, pages),
        }
    }
}

/// The set of member uids (or anonymous ids when there is no uid).
pub fn member_ids(members: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = members
        .iter()
        .map(|m| {
            m["uid"]
                .as_str()
                .or(m["moe_anonymous_id"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

pub async fn segment(b: &Backend, auth: &str, id: &str) -> Value {
    let r = get(b, &format!("/v1/segments/{id}"), auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}
