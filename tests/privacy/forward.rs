//! `forward_deletions` (docs/interface/privacy.md "Amplitude"): an erasure
//! calls Amplitude's User Privacy API from each Amplitude stream that asks
//! for it, retried like any delivery; the erasure does not wait for it, and
//! no Amplitude stream ever gets the `User Deleted` event itself.

use std::time::Duration;

use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests, run_queued};
use http::StatusCode;
use serde_json::{Value, json};
use shared::topology::QueueName;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

async fn requests_to(server: &MockServer, at: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

async fn an_erasure_is_forwarded_and_retried(b: &Backend) {
    let amplitude = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2/deletions/users"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&amplitude)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200})))
        .with_priority(2)
        .mount(&amplitude)
        .await;
    let ws = workspace_id();
    let stream = |name: &str, forward: &str| {
        format!(
            "[[workspaces.streams]]\nname = \"{name}\"\ntype = \"amplitude\"\napi_key = \"{name}-key\"\n\
             endpoint = \"{0}/2/httpapi\"\ndeletion_endpoint = \"{0}/api/2/deletions/users\"\n\
             events = \"all\"\n{forward}\n",
            amplitude.uri()
        )
    };
    let streams = stream(
        "forwarding",
        "secret_key = \"amp-secret\"\nforward_deletions = true",
    ) + &stream("plain", "");
    setup(b, &ws, &streams).await;
    let reply = as_ws(
        b,
        &ws,
        "POST",
        "/v1/mparticle/events",
        Some(&mparticle_batch(
            "amp-user",
            "amp@example.com",
            "anon-amp",
            "Played",
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    settle(b).await;

    let erased = as_ws(b, &ws, "DELETE", "/v1/users/amp-user", None).await;
    assert_eq!(erased.status, StatusCode::ACCEPTED);
    run_queued(b, QueueName::Privacy).await;
    // Completed before Amplitude was even called: the erasure does not wait.
    let id = erased.body["request_id"].as_str().unwrap();
    let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
    assert_eq!(status.body["request_status"], "completed", "{}", b.kind);
    assert!(
        requests_to(&amplitude, "/api/2/deletions/users")
            .await
            .is_empty()
    );

    // Refused once (500), then retried on the schedule and accepted.
    wait_for(
        async || {
            run_queued(b, QueueName::Events).await;
            run_queued(b, QueueName::Retry).await;
            requests_to(&amplitude, "/api/2/deletions/users")
                .await
                .len()
                >= 2
        },
        Duration::from_secs(20),
    )
    .await;
    let deletions = requests_to(&amplitude, "/api/2/deletions/users").await;
    assert_eq!(
        deletions.len(),
        2,
        "{}: only the forwarding stream calls",
        b.kind
    );
    for request in &deletions {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"user_ids": ["amp-user"], "requester": "engage-bridge"})
        );
        assert_eq!(
            request.headers["authorization"],
            engage_bridge_tests::basic("forwarding-key", "amp-secret").as_str()
        );
    }
    for request in requests_to(&amplitude, "/2/httpapi").await {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        assert!(
            !text.contains("User Deleted"),
            "{}: never exported as an event",
            b.kind
        );
    }
}

contract_tests!(an_erasure_is_forwarded_and_retried);
