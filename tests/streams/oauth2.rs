//! OAuth 2.0 client credentials (docs/interface/streams.md
//! "Authentication"): one token fetch serves concurrent batches, the token
//! is kept until 60 s before it expires, a `401` gets one new token, and a
//! failing token endpoint fails the batch (a retried attempt) with a reason
//! naming the endpoint, never a secret. Against a real local token endpoint
//! and receiver, on both backends.

use std::time::Duration;

use base64::Engine;
use engage_bridge_tests::oauth2::OAuth2Peers;
use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests};
use futures::future::join_all;
use shared::streams::dispatch::dispatch as dispatch_one;

use crate::fixtures::*;

const CLIENT_SECRET: &str = "client-secret-5e1f-never-logged";

async fn oauth2_stream(
    b: &Backend,
    tokens: &wiremock::MockServer,
    receiver: &wiremock::MockServer,
) {
    let auth = format!(
        "auth = {{ type = \"oauth2\", token_url = \"{}/oauth/token\", client_id = \"engage bridge\", \
         client_secret = \"{CLIENT_SECRET}\", scope = \"events:write\", audience = \"https://api.example.com\" }}",
        tokens.uri()
    );
    workspace_with_streams(
        b,
        &webhook_stream("hook", &format!("{}/in", receiver.uri()), &auth),
    )
    .await;
}

/// The `n` retry-queue bodies a dispatch left (visible after the first
/// delay), for secret checks and attempts.
async fn retry_bodies(b: &Backend, n: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    wait_for(
        async || {
            bodies.extend(
                take_all(b.queues.retry.raw().as_ref())
                    .await
                    .into_iter()
                    .map(|m| m.body),
            );
            bodies.len() >= n
        },
        Duration::from_secs(10),
    )
    .await;
    bodies
}

async fn one_token_fetch_serves_concurrent_batches(b: &Backend) {
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    // A slow token endpoint: every batch asks while the first fetch runs.
    peers.set_token_delay(Duration::from_millis(400));
    oauth2_stream(b, &tokens, &receiver).await;
    let messages: Vec<_> = (0..8).map(message).collect();
    let reports = join_all(messages.iter().map(|m| dispatch_one(b, m))).await;
    assert!(
        reports
            .iter()
            .all(|r| r.as_ref().unwrap()[0].delivered == 1),
        "{reports:?}"
    );

    let requests = peers.token_requests();
    assert_eq!(requests.len(), 1, "one fetch for 8 batches ({})", b.kind);
    let (authorization, form) = &requests[0];
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("engage+bridge:{CLIENT_SECRET}"));
    assert_eq!(authorization, &format!("Basic {basic}"), "RFC 6749 §2.3.1");
    assert_eq!(
        form,
        "grant_type=client_credentials&scope=events%3Awrite&audience=https%3A%2F%2Fapi.example.com"
    );
    let deliveries = peers.deliveries();
    assert_eq!(deliveries.len(), 8);
    assert!(
        deliveries
            .iter()
            .all(|(token, status)| token == &peers.issued()[0] && *status == 200)
    );
}

async fn a_token_is_kept_until_60_s_before_it_expires(b: &Backend) {
    // 3600 s: one token for every send.
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    oauth2_stream(b, &tokens, &receiver).await;
    for i in 0..3 {
        dispatch_one(b, &message(i)).await.unwrap();
    }
    assert_eq!(peers.token_requests().len(), 1, "{}", b.kind);

    // 60 s: due for renewal as soon as it is had, so every send fetches.
    let (peers, tokens, receiver) = OAuth2Peers::start(60).await;
    oauth2_stream(b, &tokens, &receiver).await;
    for i in 0..3 {
        dispatch_one(b, &message(i)).await.unwrap();
    }
    assert_eq!(peers.token_requests().len(), 3, "{}", b.kind);
    assert!(peers.deliveries().iter().all(|(_, status)| *status == 200));
}

async fn a_401_gets_one_new_token(b: &Backend) {
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    oauth2_stream(b, &tokens, &receiver).await;
    dispatch_one(b, &message(1)).await.unwrap();
    // The receiver revokes the token before it expires: the next send is
    // answered 401, a new token is fetched and the batch resent at once.
    peers.revoke_all();
    let report = dispatch_one(b, &message(2)).await.unwrap();
    assert_eq!(report[0].delivered, 1, "{}", b.kind);
    assert_eq!(peers.token_requests().len(), 2);
    let statuses: Vec<u16> = peers.deliveries().iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [200, 401, 200]);
    assert_eq!(b.queues.retry.approximate_len().await.unwrap(), 0);

    // A receiver that refuses every token: one new token, then the batch
    // fails (HTTP 401) and is retried on the schedule.
    peers.refuse_all();
    let report = dispatch_one(b, &message(3)).await.unwrap();
    assert_eq!(report[0].retried, 1, "{}", b.kind);
    assert_eq!(peers.token_requests().len(), 3, "fetched again once");
    assert_eq!(peers.deliveries().len(), 5);
    let bodies = retry_bodies(b, 1).await;
    let retry: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(retry["attempts"][0]["status"], 401);
    assert_eq!(retry["attempts"][0]["error"], "HTTP 401");
}

async fn a_failing_token_endpoint_fails_the_batch_naming_it(b: &Backend) {
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    peers.set_token_status(503);
    oauth2_stream(b, &tokens, &receiver).await;
    let reports = join_all(
        (0..4)
            .map(message)
            .collect::<Vec<_>>()
            .iter()
            .map(|m| dispatch_one(b, m)),
    )
    .await;
    assert!(
        reports.iter().all(|r| r.as_ref().unwrap()[0].retried == 1),
        "{}",
        b.kind
    );
    assert!(peers.deliveries().is_empty(), "no request without a token");
    let bodies = retry_bodies(b, 4).await;
    assert_eq!(bodies.len(), 4);
    for body in &bodies {
        let retry: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            retry["attempts"][0]["error"],
            format!(
                "token endpoint {}/oauth/token: answered HTTP 503",
                tokens.uri()
            )
        );
        assert!(retry["attempts"][0]["status"].is_null());
        assert!(!body.contains(CLIENT_SECRET));
    }
    // The endpoint recovers: the next send gets a token, and no token or
    // secret was ever queued.
    peers.set_token_status(200);
    dispatch_one(b, &message(9)).await.unwrap();
    assert_eq!(peers.deliveries().len(), 1);
    let token = &peers.issued()[0];
    for body in bodies {
        assert!(!body.contains(token.as_str()));
    }
}

/// The token endpoint passes the destination guard: under `deny` a
/// loopback token endpoint is refused, and the reason says it was the
/// token endpoint.
async fn the_token_endpoint_passes_the_destination_guard(b: &Backend) {
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    oauth2_stream(b, &tokens, &receiver).await;
    let denying = b
        .services
        .clone()
        .with_private_destinations(shared::config::PrivateDestinations::Deny);
    let report = dispatch_one(&denying, &message(1)).await.unwrap();
    assert_eq!(report[0].retried, 1, "{}", b.kind);
    assert!(peers.token_requests().is_empty(), "nothing connected to");
    let retry: serde_json::Value = serde_json::from_str(&retry_bodies(b, 1).await[0]).unwrap();
    let error = retry["attempts"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "token endpoint {}/oauth/token: destination refused: 127.0.0.1 is a loopback address",
            tokens.uri()
        )),
        "{error}"
    );
}

contract_tests!(
    one_token_fetch_serves_concurrent_batches,
    a_token_is_kept_until_60_s_before_it_expires,
    a_401_gets_one_new_token,
    a_failing_token_endpoint_fails_the_batch_naming_it,
    the_token_endpoint_passes_the_destination_guard,
);
