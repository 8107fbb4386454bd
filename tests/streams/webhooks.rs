use std::time::{Duration, Instant};

use engage_bridge_tests::receiver::{CLOCK_GRAIN, wait_for, wait_until_seen};
use engage_bridge_tests::{Backend, contract_tests};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::*;

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

async fn sends_seed_003s_exact_body(b: &Backend) {
    let server = receiver(200).await;
    workspace_with_streams(
        b,
        &webhook_stream(
            "warehouse",
            &format!("{}/events", server.uri()),
            "user_attributes = [\"city\"]",
        ),
    )
    .await;
    let id = profile(b, "u1", json!({"city": "Pune", "plan": "gold"})).await;
    let response = dispatch(b, vec![email_event(1, "u1")]).await;
    assert!(response.redeliver.is_empty());

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{}", b.kind);
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    // (workspace, stream, the events' uuids joined by ","): docs/rules/ids.md.
    let request_id = "d123eb82-09ba-5fcd-9da1-7f080425dcf0";
    assert_eq!(
        body,
        json!({
            "app_name": "Demo App",
            "source": "MOENGAGE",
            "moe_request_id": request_id,
            "events": [{
                "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
                "event_uuid": "uuid-1", "event_time": 1_580_967_475,
                "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
                "uid": "u1", "email_id": "jane@example.com",
                // email_subject is never exported (docs/rules/webhook-payload.md).
                "event_attributes": {
                    "campaign_id": "353df897hkbh67658", "campaign_name": "Welcome",
                    "campaign_type": "General", "campaign_channel": "Email"
                },
                "user_attributes": {"moengage_user_id": id, "city": "Pune"},
                "device_attributes": {}
            }]
        })
    );
}

async fn batches_hold_at_most_batch_size_events(b: &Backend) {
    let server = receiver(200).await;
    workspace_with_streams(
        b,
        &webhook_stream("w", &format!("{}/events", server.uri()), "batch_size = 40"),
    )
    .await;
    dispatch(b, (0..250).map(|i| email_event(i, "u1")).collect()).await;
    let bodies = request_bodies(&server).await;
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["events"].as_array().unwrap().len())
        .collect();
    assert!(sizes.iter().all(|n| *n <= 40), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 250, "{}", b.kind);
    let mut uuids: Vec<String> = bodies
        .iter()
        .flat_map(|b| {
            b["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_uuid"].as_str().unwrap().to_owned())
        })
        .collect();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 250, "every event exactly once");
    let ids: std::collections::HashSet<&str> = bodies
        .iter()
        .map(|b| b["moe_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        bodies.len(),
        "moe_request_id is unique per request"
    );
}

async fn event_filters_accept_codes_names_and_aliases(b: &Backend) {
    let server = receiver(200).await;
    workspace_with_streams(
        b,
        &webhook_stream(
            "w",
            &format!("{}/events", server.uri()),
            r#"events = ["MOE_EMAIL_SENT", "Email Clicked", "n_c_s"]"#,
        ),
    )
    .await;
    dispatch(
        b,
        vec![
            email_event(1, "u1"),
            event_named(2, "Email Clicked", "MOE_EMAIL_CLICK"),
            event_named(3, "Card Sent", "MOE_CARD_SENT"),
            event_named(4, "Email Opened", "MOE_EMAIL_OPEN"),
            event_named(5, "purchase", "purchase"),
        ],
    )
    .await;
    let bodies = request_bodies(&server).await;
    let mut codes: Vec<&str> = bodies
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap())
        .map(|e| e["event_code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec!["MOE_CARD_SENT", "MOE_EMAIL_CLICK", "MOE_EMAIL_SENT"],
        "{}",
        b.kind
    );
}

async fn attribute_allowlists_select_profile_and_device_attributes(b: &Backend) {
    let server = receiver(200).await;
    let url = format!("{}/events", server.uri());
    workspace_with_streams(
        b,
        &[
            webhook_stream("none", &format!("{url}?s=none"), ""),
            webhook_stream(
                "all",
                &format!("{url}?s=all"),
                "user_attributes = \"all\"\ndevice_attributes = \"all\"",
            ),
            webhook_stream(
                "some",
                &format!("{url}?s=some"),
                "user_attributes = [\"plan\"]\ndevice_attributes = [\"os\"]",
            ),
        ]
        .concat(),
    )
    .await;
    let id = profile(b, "u1", json!({"city": "Pune", "plan": "gold"})).await;
    let mut event = email_event(1, "u1");
    event.device_attributes =
        json!({"moengage_device_id": "d1", "os": "android", "model": "Pixel"})
            .as_object()
            .unwrap()
            .clone()
            .into();
    dispatch(b, vec![event]).await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "{}", b.kind);
    for r in requests {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let e = &body["events"][0];
        match r.url.query().unwrap() {
            "s=none" => {
                assert_eq!(e["user_attributes"], json!({"moengage_user_id": id}));
                assert_eq!(e["device_attributes"], json!({"moengage_device_id": "d1"}));
            }
            "s=all" => {
                assert_eq!(
                    e["user_attributes"],
                    json!({"moengage_user_id": id, "city": "Pune", "plan": "gold"})
                );
                assert_eq!(
                    e["device_attributes"],
                    json!({"moengage_device_id": "d1", "os": "android", "model": "Pixel"})
                );
            }
            "s=some" => {
                assert_eq!(
                    e["user_attributes"],
                    json!({"moengage_user_id": id, "plan": "gold"})
                );
                assert_eq!(
                    e["device_attributes"],
                    json!({"moengage_device_id": "d1", "os": "android"})
                );
            }
            other => panic!("unexpected stream {other}"),
        }
    }
}

async fn each_auth_type_and_configured_headers_are_sent(b: &Backend) {
    let server = MockServer::start().await;
    // Only requests carrying the right credentials get a 200.
    Mock::given(path("/basic"))
        .and(header("authorization", "Basic dTpwQHNz"))
        .and(header("x-env", "prod"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/header"))
        .and(header("x-api-key", "k3y"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/none"))
        .and(body_partial_json(json!({"source": "MOENGAGE"})))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let base = server.uri();
    workspace_with_streams(
        b,
        &[
            webhook_stream("basic", &format!("{base}/basic"), "auth = { type = \"basic\", username = \"u\", password = \"p@ss\" }\nheaders = { \"X-Env\" = \"prod\" }"),
            webhook_stream("header", &format!("{base}/header"), "auth = { type = \"header\", name = \"X-Api-Key\", value = \"k3y\" }"),
            webhook_stream("none", &format!("{base}/none"), ""),
        ]
        .concat(),
    )
    .await;
    dispatch(b, vec![email_event(1, "u1")]).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    // All three accepted: nothing waits for a retry.
    assert!(take_all(&*b.queues.retry).await.is_empty(), "{}", b.kind);
    let without_auth = server.received_requests().await.unwrap();
    let none = without_auth
        .iter()
        .find(|r| r.url.path() == "/none")
        .unwrap();
    assert!(none.headers.get("authorization").is_none());
}

async fn a_failing_stream_never_delays_or_resends_another(b: &Backend) {
    let good = receiver(200).await;
    let bad = receiver(503).await;
    workspace_with_streams(
        b,
        &[
            webhook_stream("good", &format!("{}/events", good.uri()), ""),
            webhook_stream(
                "bad",
                &format!("{}/events", bad.uri()),
                "auth = { type = \"basic\", username = \"u\", password = \"hunter2\" }",
            ),
        ]
        .concat(),
    )
    .await;
    let started = Instant::now();
    let response = dispatch(b, vec![email_event(1, "u1"), email_event(2, "u1")]).await;
    assert!(
        response.redeliver.is_empty(),
        "the queue message succeeds: the failure is the retry queue's now"
    );
    assert_eq!(good.received_requests().await.unwrap().len(), 1);
    assert_eq!(bad.received_requests().await.unwrap().len(), 1);
    // The failed batch waits on the retry queue for schedule[0] = 1 s: it
    // shows up, and not before then.
    let mut retries = Vec::new();
    let seen = wait_until_seen(
        async || {
            retries.extend(take_all(&*b.queues.retry).await);
            !retries.is_empty()
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(
        seen - started >= Duration::from_secs(1) - CLOCK_GRAIN,
        "{}: visible after {:?}",
        b.kind,
        seen - started
    );
    assert_eq!(retries.len(), 1, "{}", b.kind);
    let message: serde_json::Value = serde_json::from_str(&retries[0].body).unwrap();
    let sent: serde_json::Value =
        serde_json::from_slice(&bad.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(message["workspace_id"], "ws");
    assert_eq!(message["stream"], "bad");
    assert_eq!(message["moe_request_id"], sent["moe_request_id"]);
    // The retry carries the events as queued (each attempt fills them in for
    // the stream again), so it is never larger than the events message.
    let uuids = |events: &serde_json::Value| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_uuid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(uuids(&message["events"]), uuids(&sent["events"]));
    assert_eq!(
        message["events"][0],
        serde_json::to_value(email_event(1, "u1")).unwrap()
    );
    assert_eq!(message["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(message["attempts"][0]["status"], 503);
    assert_eq!(message["attempts"][0]["error"], "HTTP 503");
    assert!(
        message["attempts"][0]["at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        !retries[0].body.contains("hunter2"),
        "no secrets in retry messages"
    );
    // The good stream was not sent again.
    assert_eq!(good.received_requests().await.unwrap().len(), 1);
}

async fn connection_errors_and_timeouts_fail_the_batch(b: &Backend) {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)))
        .mount(&slow)
        .await;
    workspace_with_streams(
        b,
        &[
            // Nothing listens on port 9 (discard) here: connection refused.
            webhook_stream("down", "http://127.0.0.1:9/events", ""),
            format!("[[workspaces.streams]]\nname = \"slow\"\ntype = \"webhook\"\nurl = \"{}/events\"\ntimeout_seconds = 1\n", slow.uri()),
        ]
        .concat(),
    )
    .await;
    dispatch(b, vec![email_event(1, "u1")]).await;
    // Both failed batches wait on the retry queue (for 1 s).
    let mut retries = Vec::new();
    wait_for(
        async || {
            retries.extend(take_all(&*b.queues.retry).await);
            retries.len() >= 2
        },
        Duration::from_secs(10),
    )
    .await;
    let mut errors: Vec<(String, serde_json::Value)> = retries
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            (
                v["stream"].as_str().unwrap().to_owned(),
                v["attempts"][0].clone(),
            )
        })
        .collect();
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(errors.len(), 2, "{}", b.kind);
    assert_eq!(errors[0].0, "down");
    assert_eq!(errors[0].1["status"], serde_json::Value::Null);
    assert_eq!(errors[0].1["error"], "connection failed");
    assert_eq!(errors[1].0, "slow");
    assert_eq!(errors[1].1["error"], "timed out");
}

contract_tests!(
    sends_seed_003s_exact_body,
    batches_hold_at_most_batch_size_events,
    event_filters_accept_codes_names_and_aliases,
    attribute_allowlists_select_profile_and_device_attributes,
    each_auth_type_and_configured_headers_are_sent,
    a_failing_stream_never_delays_or_resends_another,
    connection_errors_and_timeouts_fail_the_batch,
);

/// A credentialed request never follows a redirect to another host.
#[tokio::test]
async fn redirects_to_other_hosts_are_not_followed() {
    let b = engage_bridge_tests::sqlite();
    let elsewhere = receiver(200).await;
    let redirecting = MockServer::start().await;
    // Same port, other host name: 127.0.0.1 → localhost.
    let target = elsewhere.uri().replace("127.0.0.1", "localhost");
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{target}/events")),
        )
        .mount(&redirecting)
        .await;
    workspace_with_streams(
        &b,
        &webhook_stream(
            "w",
            &format!("{}/events", redirecting.uri()),
            "auth = { type = \"basic\", username = \"u\", password = \"p\" }",
        ),
    )
    .await;
    dispatch(&b, vec![email_event(1, "u1")]).await;
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    assert_eq!(
        b.queues.retry.approximate_len().await.unwrap(),
        1,
        "the batch failed and waits for a retry"
    );
}

/// Unreadable queue messages are kept as dead letters, not retried forever
/// or dropped.
#[tokio::test]
async fn unreadable_messages_become_dead_letters() {
    use shared::ports::OutgoingMessage;
    use shared::topology::QueueName;
    let b = engage_bridge_tests::sqlite();
    for name in [QueueName::Events, QueueName::Retry] {
        let queue = b.queues.raw(name);
        queue
            .send(&[OutgoingMessage::now("{not json".into())])
            .await
            .unwrap();
        let received = queue
            .receive(
                10,
                std::time::Duration::from_secs(30),
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
        let response = run_handler(&b, name, received).await;
        assert!(response.redeliver.is_empty(), "handled, not retried");
    }
    let letters = shared::streams::dlq::list(&b, &Default::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 2);
    for (letter, queue) in letters.iter().zip([QueueName::Events, QueueName::Retry]) {
        assert_eq!(letter.queue, Some(queue));
        assert!(
            letter
                .reason
                .starts_with(&format!("unreadable {queue} message")),
            "{}",
            letter.reason
        );
    }
}
