//! Customer.io events out: Amplitude streams by seed 004's table
//! (docs/rules/customerio.md "To Amplitude"), webhook streams like any event.

use engage_bridge_tests::sqlite;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200})))
        .mount(&server)
        .await;
    server
}

/// The events of every request the receiver got (each webhook is its own
/// queue message, so its own request, in no set order), ordered by time.
async fn events(server: &MockServer) -> Vec<Value> {
    let mut events: Vec<Value> = bodies(server)
        .await
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .collect();
    let time = |e: &Value| e["time"].as_i64().or(e["event_time"].as_i64());
    events.sort_by_key(time);
    events
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn amplitude_stream(server: &MockServer) -> String {
    format!(
        "[[workspaces.streams]]\nname = \"amp\"\ntype = \"amplitude\"\napi_key = \"amp-key\"\nendpoint = \"{}/2/httpapi\"\n",
        server.uri()
    )
}

const GROUPS: &str = ", account_id = \"1\", workspace_id = \"56354\"";

#[tokio::test]
async fn amplitude_streams_export_customerio_events_by_seed_004s_table() {
    let b = sqlite();
    let server = receiver().await;
    setup(
        &b,
        &format!("{GROUPS}, body_content = true"),
        &amplitude_stream(&server),
    )
    .await;
    for file in ["sms-sent-amplitude-integration-doc.json", "push-sent.json"] {
        assert_eq!(post_signed(&b, &fixture(file)).await.status, 200, "{file}");
    }
    dispatch_queued(&b).await;
    let sent = bodies(&server).await;
    assert!(sent.iter().all(|b| b["api_key"] == "amp-key"));
    let groups = json!({"account_id": "1", "workspace_id": "56354"});
    assert_eq!(
        Value::Array(events(&server).await),
        json!([
            {"user_id": "313803", "event_type": "Sms Sent", "time": 166904535000_i64,
             "insert_id": "033d2c1f-1b31-5c29-a009-8393cd7fcfe6", "groups": groups,
             "event_properties": {
                "trigger_id": 1, "customer_id": "313803",
                "delivery_id": "dgSiuAMBAMeAFMWAFAGEmtrrwMzFAHs6nMGmSG4=",
                "action_id": 1001266, "campaign_id": 1000223,
                "journey_id": "01GJDDNSY0X731SPYZEBKRNZZ1",
                "identifiers": {"email": "cool.person@example.com", "cio_id": "d9c106000001"},
                "content": "Hey jenny! I got your number!", "recipient": "+15558675309",
                "$source": "CUSTOMERIO"}},
            {"user_id": "0200102",
             "device_id": "eeC2XC_NVPo:APA91bEYRSgmu-dAZcOWi7RzKBbT9gdY3WJACOpLQEMAmAOsChJMAZWirvSlSF3EuHxb7qdwlYeOyCWtbsnR14Vyx5nwBmg5J3SyPxfNn-ey1tNgXIj5UOq8IBk2VwzMApk-xzD4JJof",
             "platform": "Android", "event_type": "Push Sent", "time": 1585250350000_i64,
             "insert_id": "578916a8-26e2-58c0-bc27-fa2e6d4ebf9e", "groups": groups,
             "event_properties": {
                "action_id": 37, "broadcast_id": 9, "customer_id": "0200102",
                "delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
                "recipients": [{"device_id": "eeC2XC_NVPo:APA91bEYRSgmu-dAZcOWi7RzKBbT9gdY3WJACOpLQEMAmAOsChJMAZWirvSlSF3EuHxb7qdwlYeOyCWtbsnR14Vyx5nwBmg5J3SyPxfNn-ey1tNgXIj5UOq8IBk2VwzMApk-xzD4JJof", "device_platform": "android"}],
                "$source": "CUSTOMERIO"}}
        ])
    );
}

/// Amplitude refuses a user id of 0: that profile's email is sent instead
/// [004]; content is cut to 1024 characters; a person with neither an id
/// nor a device is not sent (counted as dropped).
#[tokio::test]
async fn uid_0_becomes_the_email_content_is_cut_and_anonymous_events_are_dropped() {
    let b = sqlite();
    let server = receiver().await;
    setup(&b, ", body_content = true", &amplitude_stream(&server)).await;
    let zero = json!({"event_id": "01HZERO", "object_type": "email", "metric": "sent",
        "timestamp": 1700000000, "data": {"identifiers": {"id": "0", "email": "zero@example.com"},
        "content": "x".repeat(3000), "subject": "Welcome"}});
    let nobody = json!({"event_id": "01HNOBODY", "object_type": "email", "metric": "opened",
        "timestamp": 1700000001, "data": {"identifiers": {"id": null}, "recipient": "a@example.com"}});
    for body in [&zero, &nobody] {
        assert_eq!(
            post_signed(&b, body.to_string().as_bytes()).await.status,
            200
        );
    }
    dispatch_queued(&b).await;
    let events = events(&server).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["user_id"], "zero@example.com");
    assert!(
        event.get("groups").is_none(),
        "no account/workspace ids configured"
    );
    let content = event["event_properties"]["content"].as_str().unwrap();
    assert_eq!(content.len(), 1024);
    assert_eq!(event["event_properties"]["subject"], "Welcome");
}

/// A stream's `events` list narrows the default; a webhook stream delivers
/// Customer.io events like any other, in the event shape of
/// docs/interface/events.md.
#[tokio::test]
async fn webhook_streams_deliver_customerio_events_and_lists_select_by_code() {
    let b = sqlite();
    let amplitude = receiver().await;
    let webhook = receiver().await;
    let streams = format!(
        "{}events = [\"CIO_PUSH_SENT\"]\n\n[[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}/in\"\n",
        amplitude_stream(&amplitude),
        webhook.uri()
    );
    setup(&b, "", &streams).await;
    for file in ["email-clicked.json", "push-sent.json"] {
        assert_eq!(post_signed(&b, &fixture(file)).await.status, 200);
    }
    dispatch_queued(&b).await;
    let types: Vec<Value> = events(&amplitude)
        .await
        .iter()
        .map(|e| e["event_type"].clone())
        .collect();
    assert_eq!(types, [json!("Push Sent")]);
    assert!(
        bodies(&webhook)
            .await
            .iter()
            .all(|b| b["app_name"] == "Acme" && b["source"] == "MOENGAGE")
    );
    let hooks = events(&webhook).await;
    let codes: Vec<Value> = hooks.iter().map(|e| e["event_code"].clone()).collect();
    assert_eq!(codes, [json!("CIO_PUSH_SENT"), json!("CIO_EMAIL_CLICKED")]);
    let clicked = &hooks[1];
    assert_eq!(clicked["event_source"], "CUSTOMERIO");
    assert_eq!(clicked["uid"], "0200102");
    assert_eq!(clicked["event_attributes"]["href"], "http://google.com");
    assert!(
        clicked["event_attributes"].get("subject").is_none(),
        "body_content is off"
    );
}
