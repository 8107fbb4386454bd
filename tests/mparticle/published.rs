//! The payloads mParticle itself publishes (its JSON reference, its sample
//! batches, its Firehose SDK's examples; tests/fixtures/SOURCES.md), sent as
//! published: each is accepted and mapped by docs/rules/mparticle-mapping.md.

use engage_bridge_tests::{Backend, contract_tests, fixture, repo_root};
use http::StatusCode;
use serde_json::{Value, json};
use shared::config::MparticleIdentity;

use crate::support::*;

async fn accepted(b: &Backend, path: &str, body: &Value) -> Value {
    let reply = post_events(b, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    reply.body
}

fn counts(reply: &Value) -> (Value, Value, Value) {
    (
        reply["events"].clone(),
        reply["profiles"].clone(),
        reply["skipped"].clone(),
    )
}

/// Every published Events-API batch is accepted: unsupported types and
/// events without content are skipped and counted, never refused.
async fn published_events_api_batches_are_accepted(b: &Backend) {
    setup(b, |_| {}).await;
    let cases = [
        (
            "mparticle/events-api-master-sample.json",
            (
                json!(0),
                json!(1),
                json!({"application_state_transition": 1, "crash_report": 1,
                       "session_end": 1, "session_start": 1}),
            ),
        ),
        (
            "mparticle/events-api-inbound-sample-all-event-types.json",
            (
                json!(2),
                json!(1),
                json!({"application_state_transition": 2, "breadcrumb": 1, "crash_report": 1,
                       "network_performance": 1, "push_registration": 1, "screen_view": 1,
                       "session_end": 1, "session_start": 2}),
            ),
        ),
        (
            "mparticle/events-api-custom-and-commerce-batch.json",
            (json!(2), json!(1), json!({})),
        ),
        (
            "mparticle/events-api-screen-view-batch.json",
            (json!(0), json!(1), json!({"screen_view": 1})),
        ),
    ];
    for (path, expected) in cases {
        let reply = accepted(b, path, &fixture(path)).await;
        assert_eq!(counts(&reply), expected, "{path}: {reply}");
    }
    // mParticle's S3 output: one batch a line, timestamps and ids as strings.
    let lines = std::fs::read_to_string(
        repo_root().join("tests/fixtures/mparticle/webhook-output-s3-two-batches.ndjson"),
    )
    .unwrap();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let reply = accepted(b, "s3 output", &serde_json::from_str(line).unwrap()).await;
        assert_eq!(reply["events"], 1, "{reply}");
    }
    let events = drain_events(b).await;
    let my_test_event = named(&events, "MyTestEvent");
    assert_eq!(my_test_event["event_time"], 1_595_542_763);
    assert_eq!(my_test_event["uid"], "TestCustomerId1");
}

/// The JSON reference's "Overall Structure" example: a `custom_event` with
/// `data: {}` (no name) and an `mpid` beyond 2^53. The event is skipped and
/// counted; the mpid is read exactly.
async fn a_nameless_custom_event_is_skipped_and_a_large_mpid_kept(b: &Backend) {
    setup(b, |ws| ws.mparticle_identity = MparticleIdentity::Mpid).await;
    let path = "mparticle/events-api-overall-structure.json";
    let reply = accepted(b, path, &fixture(path)).await;
    assert_eq!(
        counts(&reply),
        (json!(0), json!(1), json!({"custom_event": 1})),
        "{reply}"
    );
    // An empty name is no name either.
    let empty =
        json!({"mpid": 7, "events": [{"event_type": "custom_event", "data": {"event_name": " "}}]});
    let reply = accepted(b, "empty name", &empty).await;
    assert_eq!(reply["skipped"], json!({"custom_event": 1}), "{reply}");
    let user = get_user(b, "7346244611012968789").await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    assert!(drain_events(b).await.is_empty());
}

/// An all-zero advertising id (limit ad tracking; mParticle's own sample
/// carries three) names no device: two users who both have one never share
/// a `moengage_device_id`.
async fn all_zero_advertising_ids_never_identify_a_device(b: &Backend) {
    setup(b, |_| {}).await;
    let zeros = "00000000-0000-0000-0000-000000000000";
    for uid in ["u1", "u2"] {
        let mut body = batch(
            uid,
            json!([{"event_type": "custom_event", "data": {"event_id": 1, "event_name": "Opened"}}]),
        );
        body["batch_id"] = json!(format!("zero-{uid}"));
        body["device_info"] = json!({"platform": "iOS", "ios_advertising_id": zeros,
                                     "android_advertising_id": zeros});
        accepted(b, "zero ids", &body).await;
    }
    let events = drain_events(b).await;
    assert_eq!(events.len(), 2);
    for event in &events {
        assert!(
            event["device_attributes"]
                .get("moengage_device_id")
                .is_none(),
            "{event}"
        );
    }
    // mParticle's inbound sample: its zero ids are skipped, its real ones used.
    let path = "mparticle/events-api-inbound-sample-all-event-types.json";
    accepted(b, path, &fixture(path)).await;
    let events = drain_events(b).await;
    assert!(
        events
            .iter()
            .all(|e| e["device_attributes"]["moengage_device_id"].is_string())
    );
}

/// The Firehose SDK's examples: hashed identities are never used as a uid,
/// and the Firehose custom event and purchase map like the Events API's.
async fn published_firehose_requests_are_accepted(b: &Backend) {
    setup(b, |_| {}).await;
    let processing = "mparticle/firehose-event-processing-response.json";
    for (path, answer) in [
        (
            "mparticle/firehose-module-registration-request.json",
            "mparticle/firehose-module-registration-response.json",
        ),
        (
            "mparticle/firehose-event-processing-request-ios.json",
            processing,
        ),
        (
            "mparticle/firehose-event-processing-request-android.json",
            processing,
        ),
        (
            "mparticle/firehose-event-processing-request-2018-all-event-types.json",
            processing,
        ),
        (
            "mparticle/firehose-audience-subscription-request.json",
            "mparticle/firehose-audience-subscription-response.json",
        ),
        (
            "mparticle/firehose-audience-membership-change-request-v2-actions.json",
            "mparticle/firehose-audience-membership-change-response.json",
        ),
    ] {
        let reply = post_firehose(b, &fixture(path), Some(&auth())).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.body["type"], fixture(answer)["type"], "{path}");
    }
    // The md5 customer id of the current samples is no uid.
    let hashed = get_user(b, "4739c5c11d833bb199c16ff95a92b267").await;
    assert_eq!(hashed.status, StatusCode::NOT_FOUND);
    let events = drain_events(b).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Transaction 7") && names.contains(&"purchase"),
        "{names:?}"
    );
    let profile = get_user(b, "123456").await.body;
    assert_eq!(profile["attributes"]["first_name"], "Brian", "{profile}");
}

contract_tests!(
    published_events_api_batches_are_accepted,
    a_nameless_custom_event_is_skipped_and_a_large_mpid_kept,
    all_zero_advertising_ids_never_identify_a_device,
    published_firehose_requests_are_accepted,
);
