//! Misbehaving stream receivers (issue 10 item 2, and the at-least-once
//! regression guard): a hanging receiver must not stall anyone else, and
//! failing receivers must not lose anything.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use engage_bridge_tests::oauth2::OAuth2Peers;

use crate::receiver::{Receiver, Reply};
use crate::support::{Bridge, campaign_event, eventually, fast_retries, webhook, workspace};

/// Queues `count` events `<prefix>-<i>` for `ws`; returns their uuids.
fn queue_events(bridge: &Bridge, ws: &str, prefix: &str, count: usize) -> HashSet<String> {
    let uuids: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let events: Vec<Value> = uuids.iter().map(|u| campaign_event(u, "u1")).collect();
    bridge.send_events(ws, &events);
    uuids.into_iter().collect()
}

/// Passes once `receiver` acknowledged every one of `expected`.
fn all_delivered(receiver: &Receiver, expected: &HashSet<String>) -> Result<(), String> {
    let missing = expected.difference(&receiver.delivered_uuids()).count();
    match missing {
        0 => Ok(()),
        _ => Err(format!(
            "{missing} of {} events not delivered ({} requests seen)",
            expected.len(),
            receiver.arrivals().len()
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_never_delays_another_workspace() {
    let hanging = Receiver::start(|_| Reply::Hang).await;
    let healthy = Receiver::ok().await;
    // Beside the hanging stream, in its workspace: an OAuth 2.0 stream
    // (its token endpoint slow to answer) and a rate-limited one.
    let (tokens, token_endpoint, _) = OAuth2Peers::start(3600).await;
    tokens.set_token_delay(Duration::from_millis(300));
    let with_token = Receiver::ok().await;
    let paced = Receiver::ok().await;
    let oauth2 = format!(
        "auth = {{ type = \"oauth2\", token_url = \"{}/token\", client_id = \"c\", client_secret = \"chaos-secret\" }}",
        token_endpoint.uri()
    );
    let bridge = Bridge::start(&format!(
        "{}{}{}{}",
        workspace(
            "stalled",
            &webhook("slow", &hanging.url, "timeout_seconds = 30")
        ),
        webhook("oauth2", &with_token.url, &oauth2),
        webhook("paced", &paced.url, "max_requests_per_second = 2"),
        workspace("healthy", &webhook("fast", &healthy.url, "")),
    ));
    // The stalled workspace's events are queued first each time.
    let mut expected = HashSet::new();
    let mut stalled = HashSet::new();
    for round in 0..4 {
        stalled.extend(queue_events(
            &bridge,
            "stalled",
            &format!("stalled-{round}"),
            1,
        ));
        expected.extend(queue_events(
            &bridge,
            "healthy",
            &format!("healthy-{round}"),
            25,
        ));
    }
    // Liveness, not speed: the neighbour's receiver never answers (it
    // would time out after 30 s), the healthy one gets everything, and so
    // do the hanging stream's siblings.
    eventually(Duration::from_secs(8), async || {
        all_delivered(&healthy, &expected)?;
        all_delivered(&with_token, &stalled)
    })
    .await;
    // Its parked batches come back within seconds, not after the hanging
    // sibling's 30 s timeout.
    eventually(Duration::from_secs(15), async || {
        all_delivered(&paced, &stalled)
    })
    .await;
    assert!(
        !hanging.arrivals().is_empty(),
        "the hanging receiver was called"
    );
    assert_eq!(
        tokens.token_requests().len(),
        1,
        "one token for every batch"
    );
}

/// How the faulty receiver fails a request, in turn.
const FAULTS: [Reply; 6] = [
    Reply::Status(500),
    Reply::Status(503),
    Reply::TooManyRequests(1),
    Reply::Status(429),
    Reply::Hang,
    Reply::Reset,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_receivers_lose_no_event() {
    // 3 requests in 10 fail, each batch at most twice (it has three
    // retries), cycling through FAULTS; deterministic, so never flaky.
    #[derive(Default)]
    struct Faults {
        requests: usize,
        failed: usize,
        per_batch: HashMap<String, usize>,
    }
    let state = Mutex::new(Faults::default());
    let receiver = Receiver::start(move |body| {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        let unlucky = [1, 4, 7].contains(&(state.requests % 10));
        let id = body["moe_request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let failures = state.per_batch.entry(id).or_default();
        if !unlucky || *failures == 2 {
            return Reply::Status(200);
        }
        *failures += 1;
        state.failed += 1;
        FAULTS[(state.failed - 1) % FAULTS.len()]
    })
    .await;
    let bridge = Bridge::start(&fast_retries(&workspace(
        "acme",
        &webhook(
            "flaky",
            &receiver.url,
            "timeout_seconds = 2\nbatch_size = 10",
        ),
    )));
    let expected = queue_events(&bridge, "acme", "flaky", 300);

    eventually(Duration::from_secs(60), async || {
        all_delivered(&receiver, &expected)
    })
    .await;
    let failed: Vec<String> = receiver
        .arrivals()
        .iter()
        .filter(|a| a.answered != Some(200))
        .map(|a| format!("{:?}", a.answered))
        .collect();
    assert!(
        failed.len() >= FAULTS.len(),
        "every fault was tried: {failed:?}"
    );
    let letters = bridge.cli(&["dlq", "list"]);
    assert!(letters.stdout.is_empty(), "no dead letters");
}
