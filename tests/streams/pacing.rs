//! `max_requests_per_second` (docs/interface/streams.md "Request rate"): a
//! stream's requests are spaced to its rate; a batch whose turn is more than
//! a second off waits on the retry queue without an attempt instead of
//! holding the consumer, and other streams are not held. On both backends.

use std::time::Duration;

use engage_bridge_tests::receiver::Recorder;
use engage_bridge_tests::{Backend, contract_tests};
use futures::future::join_all;
use shared::domain::EventsMessage;
use shared::streams::dispatch::dispatch as dispatch_one;

use crate::fixtures::*;

async fn requests_are_spaced_to_the_rate(b: &Backend) {
    let paced = Recorder::new(200);
    let server = paced.serve().await;
    workspace_with_streams(
        b,
        &webhook_stream(
            "paced",
            &format!("{}/in", server.uri()),
            "batch_size = 1\nmax_requests_per_second = 4",
        ),
    )
    .await;
    // One message of 4 events: 4 requests, 250 ms apart. Measured as lower
    // bounds (a slow machine only spaces them more): the fourth request's
    // slot is 750 ms after the first.
    let started = std::time::Instant::now();
    let report = dispatch_one(
        b,
        &EventsMessage {
            workspace_id: "ws".into(),
            events: (0..4).map(|i| email_event(i, "u1")).collect(),
        },
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report[0].delivered, 4, "{}", b.kind);
    assert_eq!(paced.arrivals().len(), 4);
}

async fn a_batch_whose_turn_is_far_off_waits_on_the_retry_queue(b: &Backend) {
    let paced = Recorder::new(200);
    let paced_server = paced.serve().await;
    let free = Recorder::new(200);
    let free_server = free.serve().await;
    workspace_with_streams(
        b,
        &format!(
            "{}{}",
            // One request every 5 s.
            webhook_stream(
                "paced",
                &format!("{}/in", paced_server.uri()),
                "max_requests_per_second = 0.2"
            ),
            webhook_stream("free", &format!("{}/in", free_server.uri()), "")
        ),
    )
    .await;
    let messages: Vec<EventsMessage> = (0..4).map(message).collect();
    let reports = join_all(messages.iter().map(|m| dispatch_one(b, m))).await;
    let paced_reports: Vec<_> = reports
        .iter()
        .map(|r| {
            r.as_ref()
                .unwrap()
                .iter()
                .find(|r| r.stream == "paced")
                .unwrap()
        })
        .collect();
    assert_eq!(
        paced_reports.iter().map(|r| r.delivered).sum::<usize>(),
        1,
        "{}",
        b.kind
    );
    assert_eq!(paced_reports.iter().map(|r| r.parked).sum::<usize>(), 3);
    assert_eq!(paced.arrivals().len(), 1);
    // The other stream was not held.
    assert_eq!(free.arrivals().len(), 4);
    // The parked batches carry no attempt, and come back later.
    let parked = b.queues.retry.approximate_len().await.unwrap();
    assert_eq!(parked, 3, "{}", b.kind);
    assert!(
        take_all(b.queues.retry.raw().as_ref()).await.is_empty(),
        "not due yet"
    );
}

/// An Amplitude request holding both exported events and `User Deleted`
/// events goes as two parts (the deletions to the User Privacy API); when
/// the rate parks the second part, its events wait on the retry queue like
/// any parked batch (they were once dropped from the outcome, and lost).
async fn a_parked_deletion_part_waits_on_the_retry_queue(b: &Backend) {
    let server = amplitude_ok_server().await;
    amplitude_stream(
        b,
        &server,
        &format!(
            "secret_key = \"amp-secret\"\nforward_deletions = true\nevents = \"all\"\n\
             deletion_endpoint = \"{}/api/2/deletions/users\"\nmax_requests_per_second = 0.2",
            server.uri()
        ),
    )
    .await;
    let mut deleted = event_named(
        1,
        "User Deleted",
        shared::privacy::erasure::USER_DELETED_CODE,
    );
    deleted.event_type = shared::domain::EventType::PrivacyEvent;
    deleted.event_source = shared::domain::EventSource::EngageBridge;
    assert!(shared::privacy::erasure::is_user_deleted(&deleted));
    let message = EventsMessage {
        workspace_id: "ws".into(),
        events: vec![email_event(0, "u1"), deleted],
    };
    let report = dispatch_one(b, &message).await.unwrap();
    assert_eq!(report[0].delivered, 1, "{}: {report:?}", b.kind);
    assert_eq!(report[0].parked, 1, "{}: {report:?}", b.kind);
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1, "{}: one request in the rate", b.kind);
    assert_eq!(requests[0].url.path(), "/2/httpapi");
    assert_eq!(
        b.queues.retry.approximate_len().await.unwrap(),
        1,
        "{}: the deletion waits",
        b.kind
    );
}

contract_tests!(
    requests_are_spaced_to_the_rate,
    a_batch_whose_turn_is_far_off_waits_on_the_retry_queue,
    a_parked_deletion_part_waits_on_the_retry_queue,
);
