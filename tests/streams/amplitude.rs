//! Amplitude streams (docs/rules/amplitude-export.md) against a local
//! receiver standing in for the HTTP V2 API.

use engage_bridge_tests::sqlite;
use serde_json::{Value, json};
use shared::domain::time::now_ms;
use shared::topology::QueueName;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::*;

#[tokio::test]
async fn maps_campaign_events_exactly() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "").await;
    let id = profile(
        &b,
        "u1",
        json!({"moe_anonymous_id": "anon-1", "email": "jane@example.com"}),
    )
    .await;
    let mut event = email_event(1, "u1");
    event
        .event_attributes
        .insert("parent_flow_id".into(), json!("flow-9"));
    event
        .event_attributes
        .insert("variation_id".into(), json!(2));
    std::sync::Arc::make_mut(&mut event.device_attributes)
        .insert("platform".into(), json!("ANDROID"));
    dispatch(&b, vec![event]).await;

    let bodies = request_bodies(&server).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        bodies[0],
        json!({
            "api_key": "amp-key",
            "events": [{
                "user_id": "u1",
                "device_id": "anon-1",
                "event_type": "Email Sent",
                "time": 1_580_967_475_000i64,
                "insert_id": "uuid-1",
                "platform": "Android",
                "event_properties": {
                    "campaign_id": "353df897hkbh67658", "campaign_name": "Welcome",
                    "campaign_type": "General", "campaign_channel": "Email",
                    "parent_flow_id": "flow-9", "variation_id": 2,
                    "moe_email_id": "jane@example.com",
                    "moengage_user_id": id,
                    "$source": "MOENGAGE"
                }
            }],
            "options": {"min_id_length": 1}
        })
    );
}

#[tokio::test]
async fn user_and_device_id_rules() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "").await;
    profile(&b, "0", json!({"email": "zero@example.com"})).await;
    let zero_with_profile = email_event(1, "0");
    let mut zero_without_profile = email_event(2, "0");
    zero_without_profile.uid = Some("0".into());
    zero_without_profile
        .user_attributes
        .insert("moengage_user_id".into(), json!("no-such-profile"));
    zero_without_profile.email_id = Some("fallback@example.com".into());
    let mut invalid_uid = email_event(3, "null");
    invalid_uid
        .user_attributes
        .insert("moe_anonymous_id".into(), json!("dev-3"));
    let mut nothing = email_event(4, "undefined");
    nothing.uid = None;
    dispatch(
        &b,
        vec![
            zero_with_profile,
            zero_without_profile,
            invalid_uid,
            nothing,
        ],
    )
    .await;

    let events = sent_events(&request_bodies(&server).await);
    let by_insert: std::collections::HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["insert_id"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        by_insert["uuid-1"]["user_id"], "zero@example.com",
        "uid 0 → profile email [004]"
    );
    assert_eq!(
        by_insert["uuid-2"]["user_id"], "fallback@example.com",
        "uid 0 → event email_id"
    );
    assert!(
        by_insert["uuid-3"].get("user_id").is_none(),
        "Amplitude-invalid uid → no user_id"
    );
    assert_eq!(by_insert["uuid-3"]["device_id"], "dev-3");
    assert!(
        !by_insert.contains_key("uuid-4"),
        "neither id → dropped [000]"
    );
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn default_selection_is_seed_000s_campaign_events_and_never_amplitudes_own() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "").await;
    let mut partner_sync = event_named(4, "Partner Sync", "PARTNER_SYNC");
    partner_sync.event_source = shared::domain::EventSource::Amplitude;
    dispatch(
        &b,
        vec![
            event_named(1, "SMS Delivered", "SMS_DELIVERED"),
            event_named(2, "purchase", "purchase"),
            event_named(3, "Notification Swiped Android", "NOTIFICATION_CLEARED_MOE"),
            partner_sync,
            event_named(5, "Card Sent", "MOE_CARD_SENT"),
        ],
    )
    .await;
    let mut types: Vec<String> = sent_events(&request_bodies(&server).await)
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, vec!["Card Sent", "SMS Delivered"]);

    // Even when selected explicitly, Amplitude's own events do not go back.
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "events = \"all\"").await;
    let mut partner_sync = event_named(6, "Partner Sync", "PARTNER_SYNC");
    partner_sync.event_source = shared::domain::EventSource::Amplitude;
    dispatch(
        &b,
        vec![partner_sync, event_named(7, "purchase", "purchase")],
    )
    .await;
    let types: Vec<Value> = sent_events(&request_bodies(&server).await)
        .iter()
        .map(|e| e["event_type"].clone())
        .collect();
    assert_eq!(types, vec![json!("purchase")]);
}

#[tokio::test]
async fn strings_are_cut_to_1024_characters() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "").await;
    let mut event = email_event(1, "u1");
    event
        .event_attributes
        .insert("campaign_name".into(), json!("é".repeat(2000)));
    dispatch(&b, vec![event]).await;
    let events = sent_events(&request_bodies(&server).await);
    let name = events[0]["event_properties"]["campaign_name"]
        .as_str()
        .unwrap();
    assert_eq!(name.chars().count(), 1024);
}

#[tokio::test]
async fn rejected_events_are_dead_lettered_and_the_rest_resent_at_once() {
    let b = sqlite();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 400, "error": "Request missing required field",
            "events_with_invalid_fields": {"time": [1]},
            "events_with_missing_fields": {}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    amplitude_stream(&b, &server, "").await;
    dispatch(&b, (0..3).map(|i| email_event(i, "u1")).collect()).await;

    let bodies = request_bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    let resent: Vec<&str> = bodies[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap())
        .collect();
    assert_eq!(resent, vec!["uuid-0", "uuid-2"]);
    let letters = shared::streams::dlq::list(&b, &Default::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_uuids, vec!["uuid-1"]);
    assert!(
        letters[0].reason.contains("invalid field time"),
        "{}",
        letters[0].reason
    );
    assert!(
        !serde_json::to_string(&letters[0])
            .unwrap()
            .contains("amp-key")
    );
    assert!(take_all(&*b.queues.retry).await.is_empty());
}

#[tokio::test]
async fn throttled_users_wait_while_the_others_are_resent() {
    let b = sqlite();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "code": 429, "error": "Too many requests for some devices and users",
            "eps_threshold": 30, "throttled_users": {"u2": 31}, "throttled_devices": {}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    amplitude_stream(&b, &server, "").await;
    let before = now_ms();
    dispatch(
        &b,
        vec![
            email_event(1, "u1"),
            email_event(2, "u2"),
            email_event(3, "u3"),
        ],
    )
    .await;
    let after = now_ms();

    let bodies = request_bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    let resent: Vec<&str> = bodies[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(resent, vec!["u1", "u3"]);
    // u2's event waits 30 s on the retry queue (the test schedule's first
    // step is 1 s): the embedded queue's due time says so, without waiting.
    let retry = QueueName::Retry.as_str();
    let due = visible_at_ms(&b.sqlite_file().unwrap(), retry);
    assert_eq!(due.len(), 1);
    assert!(
        due[0] >= before + 30_000 && due[0] <= after + 30_000,
        "due {} ms after the dispatch began",
        due[0] - before
    );
    let waiting = take_all(&*b.queues.retry).await;
    assert!(waiting.is_empty(), "not visible before it is due");
}

/// When each message of the embedded queue `queue` becomes visible.
fn visible_at_ms(file: &std::path::Path, queue: &str) -> Vec<i64> {
    let db = rusqlite::Connection::open(file).unwrap();
    let mut select = db
        .prepare("SELECT visible_at_ms FROM queue_messages WHERE queue = ?1")
        .unwrap();
    select
        .query_map([queue], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn too_large_batches_are_split_and_resent() {
    let b = sqlite();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(413))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    amplitude_stream(&b, &server, "").await;
    dispatch(&b, (0..4).map(|i| email_event(i, "u1")).collect()).await;
    let sizes: Vec<usize> = request_bodies(&server)
        .await
        .iter()
        .map(|b| b["events"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![4, 2, 2]);
    assert!(
        shared::streams::dlq::list(&b, &Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}
