//! Amplitude's answers as its HTTP V2 documentation publishes them
//! (tests/fixtures/amplitude): a receiver that answers like Amplitude, per
//! request, and what becomes of each event (docs/rules/amplitude-export.md
//! "Limits and Amplitude's answers").

use engage_bridge_tests::{fixture, sqlite};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fixtures::*;

/// Mounts a receiver whose answer depends on the request's events.
async fn amplitude_like(
    answer: impl Fn(&[Value]) -> ResponseTemplate + Send + Sync + 'static,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            answer(body["events"].as_array().unwrap())
        })
        .mount(&server)
        .await;
    server
}

fn insert_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn dead_uuids(b: &engage_bridge_tests::Backend) -> Vec<(Vec<String>, String)> {
    shared::streams::dlq::list(b, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event_uuids, d.reason))
        .collect()
}

/// Amplitude's current documentation: `events_with_invalid_fields` holds
/// the index of the first bad event only. Each answer's event is
/// dead-lettered and the rest resent until every good event is in.
#[tokio::test]
async fn a_400_naming_only_the_first_bad_event_still_delivers_the_rest() {
    let b = sqlite();
    let bad = ["uuid-3", "uuid-4", "uuid-7"];
    let server = amplitude_like(move |events| {
        let ids = insert_ids(events);
        match ids.iter().position(|id| bad.contains(&id.as_str())) {
            Some(first) => ResponseTemplate::new(400).set_body_json(json!({
                "code": 400, "error": "Request missing required field",
                "events_with_invalid_fields": {"time": [first]}
            })),
            None => ResponseTemplate::new(200).set_body_json(json!({"code": 200})),
        }
    })
    .await;
    amplitude_stream(&b, &server, "").await;
    dispatch(&b, (0..9).map(|i| email_event(i, "u1")).collect()).await;
    let bodies = request_bodies(&server).await;
    let accepted = bodies.last().unwrap()["events"].as_array().unwrap().clone();
    assert_eq!(
        insert_ids(&accepted),
        ["uuid-0", "uuid-1", "uuid-2", "uuid-5", "uuid-6", "uuid-8"]
    );
    let mut dead: Vec<String> = dead_uuids(&b)
        .await
        .into_iter()
        .flat_map(|(u, _)| u)
        .collect();
    dead.sort();
    assert_eq!(dead, bad);
    assert!(take_all(&*b.queues.retry).await.is_empty());
}

/// The published "Events silenced for device_id" 400: the silenced
/// device's events are dead-lettered (Amplitude drops them), the other
/// events of the request are delivered at once instead of being retried
/// with them.
#[tokio::test]
async fn a_silenced_devices_events_are_dead_lettered_and_the_rest_delivered() {
    let b = sqlite();
    let published = fixture("amplitude/httpapi-response-400-silenced-devices.json");
    let server = amplitude_like(move |events| {
        let silenced: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["device_id"] == "silenced_device_id_1")
            .map(|(i, _)| i)
            .collect();
        if silenced.is_empty() {
            return ResponseTemplate::new(200).set_body_json(json!({"code": 200}));
        }
        let mut body = published.clone();
        body["silenced_events"] = json!(silenced);
        body["throttled_events"] = json!([]);
        body["throttled_devices"] = json!({});
        ResponseTemplate::new(400).set_body_json(body)
    })
    .await;
    amplitude_stream(&b, &server, "").await;
    let events = (0..4)
        .map(|i| {
            let mut event = email_event(i, &format!("user-{i}"));
            let device = if i % 2 == 0 {
                "silenced_device_id_1"
            } else {
                "healthy-device"
            };
            event
                .user_attributes
                .insert("moe_anonymous_id".into(), json!(device));
            event
        })
        .collect();
    dispatch(&b, events).await;
    let bodies = request_bodies(&server).await;
    assert_eq!(
        insert_ids(bodies.last().unwrap()["events"].as_array().unwrap()),
        ["uuid-1", "uuid-3"]
    );
    let dead = dead_uuids(&b).await;
    let mut uuids: Vec<String> = dead.iter().flat_map(|(u, _)| u.clone()).collect();
    uuids.sort();
    assert_eq!(uuids, ["uuid-0", "uuid-2"]);
    assert!(
        dead.iter().all(|(_, reason)| reason.contains("silenced")),
        "{dead:?}"
    );
    assert!(take_all(&*b.queues.retry).await.is_empty());
}
