//! `POST /v1/customerio/{workspace_id}/reporting` (docs/interface/http.md
//! "Customer.io", docs/rules/customerio.md): Customer.io's documented
//! payloads in, one event each on the events queue, queued once per
//! `event_id`, on both backends.

use engage_bridge_tests::ids::derived;
use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// (fixture, event_name, event_code, uid, email_id) for every documented
/// payload (tests/fixtures/SOURCES.md names their sources).
#[rustfmt::skip]
const DOCUMENTED: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("email-drafted.json", "Email Drafted", "CIO_EMAIL_DRAFTED", "0200102", None),
    ("email-sent.json", "Email Sent", "CIO_EMAIL_SENT", "user-123", None),
    ("email-delivered.json", "Email Delivered", "CIO_EMAIL_DELIVERED", "user-123", None),
    ("email-clicked.json", "Email Clicked", "CIO_EMAIL_CLICKED", "0200102", None),
    ("email-bounced.json", "Email Bounced", "CIO_EMAIL_BOUNCED", "0200102", None),
    ("push-attempted.json", "Push Attempted", "CIO_PUSH_ATTEMPTED", "0200102", None),
    ("push-sent.json", "Push Sent", "CIO_PUSH_SENT", "0200102", None),
    ("push-delivered.json", "Push Delivered", "CIO_PUSH_DELIVERED", "0200102", None),
    ("push-clicked.json", "Push Clicked", "CIO_PUSH_CLICKED", "0200102", None),
    ("sms-attempted.json", "Sms Attempted", "CIO_SMS_ATTEMPTED", "0200102", None),
    ("sms-sent-amplitude-integration-doc.json", "Sms Sent", "CIO_SMS_SENT", "313803", Some("cool.person@example.com")),
    ("sms-clicked.json", "Sms Clicked", "CIO_SMS_CLICKED", "0200102", None),
    ("slack-sent.json", "Slack Sent", "CIO_SLACK_SENT", "0200102", None),
    ("slack-clicked.json", "Slack Clicked", "CIO_SLACK_CLICKED", "0200102", None),
    ("slack-failed.json", "Slack Failed", "CIO_SLACK_FAILED", "0200102", None),
    ("webhook-drafted.json", "Webhook Drafted", "CIO_WEBHOOK_DRAFTED", "0200102", None),
    ("webhook-attempted.json", "Webhook Attempted", "CIO_WEBHOOK_ATTEMPTED", "0200102", None),
    ("webhook-sent.json", "Webhook Sent", "CIO_WEBHOOK_SENT", "0200102", None),
    ("webhook-clicked.json", "Webhook Clicked", "CIO_WEBHOOK_CLICKED", "0200102", None),
    ("webhook-failed.json", "Webhook Failed", "CIO_WEBHOOK_FAILED", "0200102", None),
    ("customer-subscribed.json", "Customer Subscribed", "CIO_CUSTOMER_SUBSCRIBED", "0200102", Some("test@example.com")),
    ("customer-unsubscribed.json", "Customer Unsubscribed", "CIO_CUSTOMER_UNSUBSCRIBED", "0200102", Some("test@example.com")),
];

/// Not published in stored material (SOURCES.md Findings 45): an in-app
/// click shaped like the other channels' payloads, with Customer.io's
/// in-app action fields. Invented, and said so.
fn in_app_clicked() -> Vec<u8> {
    json!({"data": {"action_id": 51, "campaign_id": 7, "customer_id": "0200102",
        "delivery_id": "RAECAAGJnRsAAAAAAAAAAAAAAAAA", "identifiers": {"id": "0200102"},
        "action_name": "Shop now", "action_value": "shop://sale"},
        "event_id": "01HINVENTEDINAPPCLICK00001", "object_type": "in_app", "metric": "clicked",
        "timestamp": 1700000000})
    .to_string()
    .into_bytes()
}

async fn every_documented_payload_becomes_one_event(b: &Backend) {
    setup(b, "", "").await;
    for (file, name, code, _, _) in DOCUMENTED {
        let reply = post_signed(b, &fixture(file)).await;
        assert_eq!(reply.status, StatusCode::OK, "{file}: {}", reply.body);
        assert_eq!(reply.body["status"], "success");
        assert_eq!(reply.body["duplicate"], false, "{file}");
        assert_eq!(
            (&reply.body["event_name"], &reply.body["event_code"]),
            (&json!(name), &json!(code))
        );
    }
    assert_eq!(
        post_signed(b, &in_app_clicked()).await.status,
        StatusCode::OK
    );

    let events = drain_events(b).await;
    assert_eq!(events.len(), DOCUMENTED.len() + 1, "{}", b.kind);
    let by_code = |code: &str| -> &Value {
        let found: Vec<&Value> = events.iter().filter(|e| e["event_code"] == code).collect();
        assert_eq!(found.len(), 1, "one {code} event, {}", b.kind);
        found[0]
    };
    for (file, name, code, uid, email) in DOCUMENTED {
        let event = by_code(code);
        let sent: Value = serde_json::from_slice(&fixture(file)).unwrap();
        assert_eq!(event["event_name"], *name, "{file}");
        assert_eq!(event["event_code"], *code, "{file}");
        assert_eq!(event["event_type"], "CAMPAIGN_EVENT");
        assert_eq!(event["event_source"], "CUSTOMERIO");
        assert_eq!(event["event_time"], sent["timestamp"], "{file}");
        assert_eq!(event["uid"], *uid, "{file}");
        assert_eq!(event["email_id"].as_str(), *email, "{file}");
        let uuid = derived(&["customerio", WS, sent["event_id"].as_str().unwrap()]);
        assert_eq!(event["event_uuid"], uuid, "{file}");
        // Message content stays out without body_content.
        for field in ["content", "subject", "body", "headers"] {
            assert!(
                event["event_attributes"].get(field).is_none(),
                "{file}: {field}"
            );
        }
    }
    let in_app = by_code("CIO_IN_APP_CLICKED");
    assert_eq!(in_app["event_name"], "In App Clicked");
    assert_eq!(in_app["event_code"], "CIO_IN_APP_CLICKED");
    assert_eq!(in_app["event_attributes"]["action_name"], "Shop now");
}

/// Seed 004's own sample, field by field (its 9-digit timestamp is taken as
/// sent: SOURCES.md Findings 36).
async fn seed_004s_sms_sent_maps_exactly(b: &Backend) {
    setup(b, ", body_content = true", "").await;
    let reply = post_signed(b, &fixture("sms-sent-amplitude-integration-doc.json")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let events = drain_events(b).await;
    assert_eq!(
        events,
        vec![json!({
            "event_name": "Sms Sent", "event_code": "CIO_SMS_SENT",
            // ("customerio", acme, event_id), by hand: docs/rules/ids.md.
            "event_uuid": "033d2c1f-1b31-5c29-a009-8393cd7fcfe6",
            "event_time": 166904535, "event_type": "CAMPAIGN_EVENT", "event_source": "CUSTOMERIO",
            "uid": "313803", "email_id": "cool.person@example.com",
            "event_attributes": {
                "trigger_id": 1, "customer_id": "313803",
                "delivery_id": "dgSiuAMBAMeAFMWAFAGEmtrrwMzFAHs6nMGmSG4=",
                "action_id": 1001266, "campaign_id": 1000223,
                "journey_id": "01GJDDNSY0X731SPYZEBKRNZZ1",
                "identifiers": {"email": "cool.person@example.com", "cio_id": "d9c106000001"},
                "content": "Hey jenny! I got your number!", "recipient": "+15558675309"
            },
            "user_attributes": {}, "device_attributes": {}
        })]
    );
}

/// Customer.io retries what it thinks failed: the same `event_id` is
/// acknowledged every time and queued once, with the same uuid. (The
/// published samples even reuse one id across two payloads.)
async fn a_repeated_event_id_is_acknowledged_and_queued_once(b: &Backend) {
    setup(b, "", "").await;
    let body = fixture("email-sent.json");
    let first = post_signed(b, &body).await;
    let again = post_signed(b, &body).await;
    assert_eq!(
        (first.status, again.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["event_uuid"], first.body["event_uuid"]);
    let reused = post_signed(b, &fixture("customer-unsubscribed.json")).await;
    let same_id = post_signed(b, &fixture("email-subscribed.json")).await;
    assert_eq!(
        (
            reused.body["duplicate"].clone(),
            same_id.body["duplicate"].clone()
        ),
        (json!(false), json!(true))
    );
    let events = drain_events(b).await;
    let mut codes: Vec<&str> = events
        .iter()
        .map(|e| e["event_code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["CIO_CUSTOMER_UNSUBSCRIBED", "CIO_EMAIL_SENT"],
        "{}",
        b.kind
    );
}

contract_tests!(
    every_documented_payload_becomes_one_event,
    seed_004s_sms_sent_maps_exactly,
    a_repeated_event_id_is_acknowledged_and_queued_once,
);
