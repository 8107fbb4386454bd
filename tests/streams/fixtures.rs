//! Shared set-up: workspaces whose streams point at local receivers, events,
//! and driving the consumers the way Lambda's event-source mapping does.

use engage_bridge_tests::Backend;
use serde_json::{Value, json};
use shared::config;
use shared::domain::{Event, ProfileKey, ProfileUpdate};
use shared::ports::Received;
use shared::topology::QueueName;

/// Applies a workspace `ws` (secret "s") with the given `[[workspaces.streams]]` TOML.
pub async fn workspace_with_streams(b: &Backend, streams_toml: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"ws\"\nsecret = \"s\"\napp_name = \"Demo App\"\n\n{streams_toml}"
    );
    let config = config::parse(&text).expect("valid test config");
    b.workspaces.apply(&config.workspaces).await.unwrap();
}

pub fn webhook_stream(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[workspaces.streams]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout_seconds = 5\n{extra}\n"
    )
}

pub fn email_event(i: usize, uid: &str) -> Event {
    serde_json::from_value(json!({
        "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
        "event_uuid": format!("uuid-{i}"), "event_time": 1_580_967_474 + i as i64,
        "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
        "uid": uid, "email_id": "jane@example.com",
        "event_attributes": {
            "campaign_id": "353df897hkbh67658", "campaign_name": "Welcome",
            "campaign_type": "General", "campaign_channel": "Email",
            "email_subject": "Hello!"
        }
    }))
    .unwrap()
}

/// An events message of workspace `ws` with one Email Sent event.
pub fn message(i: usize) -> shared::domain::EventsMessage {
    shared::domain::EventsMessage {
        workspace_id: "ws".into(),
        events: vec![email_event(i, "u1")],
    }
}

pub fn event_named(i: usize, name: &str, code: &str) -> Event {
    let mut e = email_event(i, "u1");
    e.event_name = name.into();
    e.event_code = code.into();
    e
}

pub async fn profile(b: &Backend, uid: &str, attributes: Value) -> String {
    let mut update = ProfileUpdate::new(ProfileKey::Uid(uid.into()));
    update.set_attributes = attributes.as_object().unwrap().clone();
    b.profiles.update_profiles("ws", &[update]).await.unwrap()[0]
        .moengage_user_id
        .clone()
}

/// Queues the events (as `events send` does) and runs stream-dispatch on them.
pub async fn dispatch(b: &Backend, events: Vec<Event>) -> shared::queue::batch::BatchOutcome {
    let messages = shared::domain::EventsMessage::pack("ws", &events).unwrap();
    b.queues.events.send_encoded(messages).await.unwrap();
    engage_bridge_tests::dispatch_queued(b).await
}

/// Calls a handler with an SQS event and deletes the successes, like the
/// event-source mapping.
pub async fn run_handler(
    b: &Backend,
    queue: QueueName,
    received: Vec<Received>,
) -> shared::queue::batch::BatchOutcome {
    engage_bridge_tests::run_handler(b, queue, received).await
}

pub use engage_bridge_tests::take_all;

pub async fn request_bodies(server: &wiremock::MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Applies workspace `ws` with one Amplitude stream `amp` sending to `server`.
pub async fn amplitude_stream(b: &Backend, server: &wiremock::MockServer, extra: &str) {
    workspace_with_streams(
        b,
        &format!(
            "[[workspaces.streams]]\nname = \"amp\"\ntype = \"amplitude\"\napi_key = \"amp-key\"\nendpoint = \"{}/2/httpapi\"\n{extra}\n",
            server.uri()
        ),
    )
    .await;
}

/// A receiver that accepts every request as Amplitude does.
pub async fn amplitude_ok_server() -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"code": 200, "events_ingested": 1})),
        )
        .mount(&server)
        .await;
    server
}

/// The Amplitude events of every request body, in order.
pub fn sent_events(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect()
}
