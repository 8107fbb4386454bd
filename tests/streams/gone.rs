//! `410 Gone` disables a webhook stream (docs/interface/streams.md "Pause,
//! resume and 410 Gone"): no more requests, its batches — the one answered
//! 410 included — wait on the retry queue without an attempt and are never
//! dead-lettered, the state is kept in the store, and a resume sends them.
//! On both backends (on SQS a waiting batch comes back at its next look).

use engage_bridge_tests::receiver::Recorder;
use engage_bridge_tests::{Backend, contract_tests};
use shared::streams::control::{self, Status};
use shared::streams::dispatch::dispatch as dispatch_one;
use shared::topology::QueueName;

use crate::fixtures::*;

async fn a_410_disables_the_stream_until_resumed(b: &Backend) {
    let gone = Recorder::new(410);
    let gone_server = gone.serve().await;
    let other = Recorder::new(200);
    let other_server = other.serve().await;
    workspace_with_streams(
        b,
        &format!(
            "{}{}",
            webhook_stream("gone", &format!("{}/in", gone_server.uri()), ""),
            webhook_stream("other", &format!("{}/in", other_server.uri()), "")
        ),
    )
    .await;
    let reports = dispatch_one(b, &message(1)).await.unwrap();
    let gone_report = reports.iter().find(|r| r.stream == "gone").unwrap();
    assert_eq!(
        (gone_report.parked, gone_report.retried, gone_report.dead),
        (1, 0, 0),
        "{}",
        b.kind
    );

    let status = control::state(b, "ws", "gone").await.unwrap();
    assert_eq!(status.status, Status::Disabled);
    assert_eq!(
        status.disabled_reason.as_deref(),
        Some(format!("{}/in answered 410 Gone", gone_server.uri()).as_str())
    );
    // No more requests; the other stream goes on.
    dispatch_one(b, &message(2)).await.unwrap();
    assert_eq!(gone.arrivals().len(), 1, "{}", b.kind);
    assert_eq!(other.arrivals().len(), 2);

    // Both batches wait on the retry queue, with no attempt; nothing is dead.
    assert_eq!(b.queues.retry.approximate_len().await.unwrap(), 2);
    let dead = b
        .dead_letters
        .list_dead_letters(&shared::domain::PageRequest::first(10))
        .await
        .unwrap();
    assert!(dead.items.is_empty(), "{}", b.kind);

    // Resumed: the waiting batches are due at once where the queue can be
    // woken; on SQS at their next look (60 s).
    gone.set_status(200);
    let resumed = control::resume(b, "ws", "gone").await.unwrap();
    assert_eq!(resumed.status, Status::Active);
    if !b.queues.retry.can_wake() {
        return;
    }
    let waiting = take_all(b.queues.retry.raw().as_ref()).await;
    assert_eq!(waiting.len(), 2);
    for m in &waiting {
        let retry: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(
            retry["attempts"],
            serde_json::json!([]),
            "the 410 is no attempt"
        );
    }
    run_handler(b, QueueName::Retry, waiting).await;
    assert_eq!(gone.arrivals().len(), 3);
    assert_eq!(b.queues.retry.approximate_len().await.unwrap(), 0);
}

contract_tests!(a_410_disables_the_stream_until_resumed);
