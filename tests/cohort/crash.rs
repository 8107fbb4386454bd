//! Nothing is lost between the ack and the apply: a consumer that dies
//! after receiving, or fails midway, leaves its messages to be delivered
//! again, and the redelivery applies everything and announces every change
//! with the same event uuids.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests};
use serde_json::json;
use shared::config::UnknownCohortUsers;
use shared::domain::EventsMessage;
use shared::ports::{OutgoingMessage, Queue, Received, StoreError, StoreResult};
use shared::queue::TypedQueue;
use shared::runtime::Services;
use shared::topology::QueueName;

use crate::common::*;

const SEGMENT: &str = "amplitude-7khm89cz";
const VISIBILITY: Duration = Duration::from_secs(1);

/// An events queue whose sends fail after recording what they carried: the
/// consumer dies after applying memberships, before announcing them.
struct FailingSends {
    inner: Arc<dyn Queue>,
    attempted: Mutex<Vec<String>>,
}

#[async_trait]
impl Queue for FailingSends {
    async fn send(&self, messages: &[OutgoingMessage]) -> StoreResult<()> {
        let mut attempted = self.attempted.lock().unwrap();
        attempted.extend(messages.iter().map(|m| m.body.clone()));
        Err(StoreError::unavailable(
            shared::ports::Unavailability::Failed,
            "injected: events queue unavailable",
            None,
        ))
    }
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> StoreResult<Vec<Received>> {
        self.inner.receive(max, visibility, wait).await
    }
    async fn delete(&self, receipt_handles: &[String]) -> StoreResult<()> {
        self.inner.delete(receipt_handles).await
    }
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> StoreResult<()> {
        self.inner
            .change_visibility(receipt_handle, visibility)
            .await
    }
    async fn approximate_len(&self) -> StoreResult<u64> {
        self.inner.approximate_len().await
    }
    fn source_arn(&self) -> String {
        self.inner.source_arn()
    }
}

/// One consumer pass with a short visibility timeout: returns (handled, failed).
/// Waits until the `n` cohort messages are visible again (their
/// visibility timeout ran out) and runs the consumer on them once.
async fn consume_when_back(services: &Services, n: usize) -> (usize, usize) {
    let queue = services.queues.cohort.clone();
    let mut batch: Vec<Received> = Vec::new();
    wait_for(
        async || {
            for message in queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap() {
                // Seen again while polling: keep the newest receipt.
                batch.retain(|m| m.message_id != message.message_id);
                batch.push(message);
            }
            batch.len() >= n
        },
        Duration::from_secs(10),
    )
    .await;
    let mut failed = 0;
    for chunk in batch.chunks(10) {
        let response =
            engage_bridge_tests::consume(services, shared::topology::QueueName::Cohort, chunk)
                .await;
        let failures: BTreeSet<&str> = response.redeliver.iter().map(String::as_str).collect();
        failed += failures.len();
        let done: Vec<String> = chunk
            .iter()
            .filter(|m| !failures.contains(m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        queue.delete(&done).await.unwrap();
    }
    (batch.len(), failed)
}

fn uuids(bodies: &[String]) -> BTreeSet<String> {
    bodies
        .iter()
        .flat_map(|b| serde_json::from_str::<EventsMessage>(b).unwrap().events)
        .map(|e| e.event_uuid)
        .collect()
}

async fn a_crash_between_ack_and_apply_loses_nothing(b: &Backend) {
    let ws = workspace_with(|w| w.unknown_cohort_users = UnknownCohortUsers::Create);
    let auth = setup(b, Some(ws)).await;
    // Two syncs (two staged messages) of 60 users each. Kept small: moto's
    // TransactWriteItems copies the whole table per call and is not
    // thread-safe on large tables; the 10 000-user case is the benchmark's.
    let ids: Vec<String> = (0..120).map(|i| format!("user-{i:04}")).collect();
    for (n, half) in ids.chunks(60).enumerate() {
        let refs: Vec<&str> = half.iter().map(String::as_str).collect();
        let body = webhook(
            "7khm89cz",
            true,
            100 + n as i64,
            &format!("m-{n}"),
            users(&refs),
        );
        assert_eq!(send_webhook(b, &auth, &body).await["staged_messages"], 1);
    }

    // 1. The consumer receives the staged messages and dies before applying.
    let received = receive_all(b.queues.cohort.as_ref(), VISIBILITY).await;
    assert_eq!(received.len(), 2);
    drop(received);
    assert_eq!(segment(b, &auth, SEGMENT).await["member_count"], 0);

    // 2. Redelivered, the next consumer creates the profiles and applies
    //    the memberships, then fails to announce them: both messages fail.
    let failing = Arc::new(FailingSends {
        inner: b.queues.events.raw().clone(),
        attempted: Mutex::new(Vec::new()),
    });
    let broken = b
        .services
        .clone()
        .changed(|set| set.queues.events = TypedQueue::new(failing.clone()));
    assert_eq!(consume_when_back(&broken, 2).await, (2, 2));
    assert_eq!(segment(b, &auth, SEGMENT).await["member_count"], 120);
    assert!(drain_events(b).await.is_empty());
    let attempted = uuids(&failing.attempted.lock().unwrap());
    assert_eq!(attempted.len(), 120);

    // 3. Delivered again: everything is announced, with the same uuids.
    assert_eq!(consume_when_back(b, 2).await, (2, 0));
    assert_eq!(
        b.queues.cohort.approximate_len().await.unwrap(),
        0,
        "the messages are gone"
    );
    let events = drain_events(b).await;
    let delivered: BTreeSet<String> = events.iter().map(|e| e.event_uuid.clone()).collect();
    assert_eq!(events.len(), 120);
    assert_eq!(delivered, attempted);
    let (members, _) = all_members(b, &auth, SEGMENT, 1_000).await;
    assert_eq!(member_ids(&members), ids);
    let s = segment(b, &auth, SEGMENT).await;
    assert_eq!(
        (s["member_count"].clone(), s["sync_count"].clone()),
        (json!(120), json!(2))
    );
}

async fn unprocessable_messages_are_dead_lettered_not_retried(b: &Backend) {
    let auth = setup(b, None).await;
    profile_with_uid(b, "u1", None).await;
    let good = webhook("7khm89cz", true, 100, "m-1", users(&["u1"]));
    send_webhook(b, &auth, &good).await;
    let gone_workspace = json!({
        "workspace_id": "deleted-ws", "segment_id": SEGMENT, "cohort_id": "7khm89cz",
        "cohort_name": "Cart Drop off", "action": "Added", "computed_time": 1, "users": [{"user_id": "u1"}]
    });
    b.queues
        .cohort
        .raw()
        .send(&[
            OutgoingMessage::now("{not json".into()),
            OutgoingMessage::now(json!({"hello": "world"}).to_string()),
            OutgoingMessage::now(gone_workspace.to_string()),
        ])
        .await
        .unwrap();
    // All four acknowledged: the good one applied, the others kept as dead
    // letters saying why (never retried forever, never dropped silently).
    assert_eq!(apply_staged(b).await, (4, 0));
    assert_eq!(b.queues.cohort.approximate_len().await.unwrap(), 0);
    assert_eq!(drain_events(b).await.len(), 1);
    let letters = shared::streams::dlq::list(b, &Default::default())
        .await
        .unwrap();
    let mut reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].starts_with("unreadable cohort message"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("unreadable cohort message"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], "workspace \"deleted-ws\" no longer exists");
    assert!(letters.iter().all(|l| l.queue == Some(QueueName::Cohort)));
}

contract_tests!(
    a_crash_between_ack_and_apply_loses_nothing,
    unprocessable_messages_are_dead_lettered_not_retried,
);
