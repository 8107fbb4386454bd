use std::time::Duration;

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::{Backend, contract_tests};
use shared::streams::dlq::{self, Filter};
use tokio::sync::watch;

use crate::fixtures::*;

async fn receiver(recorder: Recorder) -> wiremock::MockServer {
    recorder.serve().await
}

/// Runs the retry consumer in the background, as `serve` or Lambda would.
pub fn run_retry_consumer(b: &Backend) -> watch::Sender<bool> {
    engage_bridge_tests::run_retry_consumer(b)
}

async fn retries_follow_the_schedule_then_dead_letter_and_replay(b: &Backend) {
    // The test backends use the schedule [1, 2, 3] s (production: 30, 60, 120).
    let recorder = Recorder::new(503);
    let server = receiver(recorder.clone()).await;
    workspace_with_streams(
        b,
        &webhook_stream(
            "w",
            &server.uri(),
            "auth = { type = \"basic\", username = \"u\", password = \"hunter2\" }",
        ),
    )
    .await;
    let stop = run_retry_consumer(b);
    dispatch(b, vec![email_event(1, "u1"), email_event(2, "u1")]).await;

    wait_for(
        async || recorder.arrivals().len() >= 4,
        Duration::from_secs(20),
    )
    .await;
    let listed = {
        let mut listed = Vec::new();
        wait_for(
            async || {
                listed = dlq::list(b, &Filter::default()).await.unwrap();
                !listed.is_empty()
            },
            Duration::from_secs(10),
        )
        .await;
        listed
    };
    let arrivals = recorder.arrivals();
    assert_eq!(arrivals.len(), 4, "{}: 1 send + 3 retries", b.kind);
    let gaps: Vec<f64> = arrivals
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64())
        .collect();
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 3.0]) {
        assert!(
            *gap >= expected - 0.05 && *gap <= expected + 1.5,
            "{}: retry gaps {gaps:?}, expected about 1, 2, 3 s",
            b.kind
        );
    }
    let request_ids: Vec<&serde_json::Value> = arrivals
        .iter()
        .map(|(_, body)| &body["moe_request_id"])
        .collect();
    assert!(
        request_ids.windows(2).all(|w| w[0] == w[1]),
        "moe_request_id never changes across retries"
    );

    assert_eq!(listed.len(), 1, "{}", b.kind);
    let letter = &listed[0];
    assert_eq!(letter.workspace_id, "ws");
    assert_eq!(letter.stream, "w");
    assert_eq!(serde_json::json!(letter.moe_request_id), *request_ids[0]);
    assert_eq!(letter.event_uuids, vec!["uuid-1", "uuid-2"]);
    assert_eq!(letter.attempts.len(), 4, "every attempt is kept");
    assert!(letter.attempts.iter().all(|a| a.status == Some(503)));
    assert!(
        letter.reason.contains("gave up after 3 retries"),
        "{}",
        letter.reason
    );
    let line = serde_json::to_string(letter).unwrap();
    assert!(!line.contains("hunter2"), "no secrets in dead letters");
    // Listing leaves the dead letter in place; filters select.
    assert_eq!(dlq::list(b, &Filter::default()).await.unwrap().len(), 1);
    let other = Filter {
        stream: Some("other".into()),
        ..Filter::default()
    };
    assert!(dlq::list(b, &other).await.unwrap().is_empty());
    let quiet = |_: usize, _: usize| {};
    assert!(
        dlq::replay(b, &other, false, &quiet)
            .await
            .unwrap()
            .is_empty()
    );
    // A dry run names what it would replay and changes nothing; so does an
    // --id that matches nothing.
    let would = dlq::replay(b, &Filter::default(), true, &quiet)
        .await
        .unwrap();
    assert_eq!(would.len(), 1);
    let unknown = Filter {
        ids: vec!["no-such-id".into()],
        ..Filter::default()
    };
    assert!(
        dlq::replay(b, &unknown, false, &quiet)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(dlq::list(b, &Filter::default()).await.unwrap().len(), 1);

    // The receiver recovers; a replay by id delivers at once with the same request id.
    recorder.set_status(200);
    let by_id = Filter {
        ids: vec![would[0].id.clone()],
        ..Filter::default()
    };
    assert_eq!(
        dlq::replay(b, &by_id, false, &quiet).await.unwrap().len(),
        1
    );
    wait_for(
        async || recorder.arrivals().len() >= 5,
        Duration::from_secs(5),
    )
    .await;
    let replayed = &recorder.arrivals()[4].1;
    assert_eq!(&replayed["moe_request_id"], request_ids[0]);
    assert!(
        dlq::list(b, &Filter::default()).await.unwrap().is_empty(),
        "replayed letters leave the list"
    );
    stop.send(true).unwrap();
}

async fn a_retry_that_succeeds_ends_the_cycle(b: &Backend) {
    let recorder = Recorder::new(500);
    let server = receiver(recorder.clone()).await;
    workspace_with_streams(b, &webhook_stream("w", &server.uri(), "")).await;
    let stop = run_retry_consumer(b);
    dispatch(b, vec![email_event(1, "u1")]).await;
    recorder.set_status(204);
    wait_for(
        async || recorder.arrivals().len() >= 2,
        Duration::from_secs(10),
    )
    .await;
    // Nothing left to retry: the retry message is gone (in flight counts
    // too), so no further attempt can come.
    wait_for(
        async || b.queues.retry.approximate_len().await.unwrap() == 0,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        recorder.arrivals().len(),
        2,
        "{}: delivered once, no further retries",
        b.kind
    );
    assert!(dlq::list(b, &Filter::default()).await.unwrap().is_empty());
    stop.send(true).unwrap();
}

async fn a_longer_retry_after_is_honoured(b: &Backend) {
    let recorder = Recorder::new(429);
    recorder.set_retry_after("3");
    let server = receiver(recorder.clone()).await;
    workspace_with_streams(b, &webhook_stream("w", &server.uri(), "")).await;
    let stop = run_retry_consumer(b);
    dispatch(b, vec![email_event(1, "u1")]).await;
    wait_for(
        async || recorder.arrivals().len() >= 2,
        Duration::from_secs(10),
    )
    .await;
    let arrivals = recorder.arrivals();
    let gap = (arrivals[1].0 - arrivals[0].0).as_secs_f64();
    assert!(
        gap >= 2.95,
        "{}: Retry-After 3 s beats the 1 s schedule step, gap {gap}",
        b.kind
    );
    stop.send(true).unwrap();
}

contract_tests!(
    retries_follow_the_schedule_then_dead_letter_and_replay,
    a_retry_that_succeeds_ends_the_cycle,
    a_longer_retry_after_is_honoured,
);
