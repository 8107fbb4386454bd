use std::time::{Duration, Instant};

use engage_bridge_tests::receiver::wait_until_seen;
use engage_bridge_tests::{Backend, contract_tests};
use shared::ports::{OutgoingMessage, Queue, Received};

const NO_WAIT: Duration = Duration::ZERO;

async fn delivers_and_deletes(b: &Backend) {
    let q = b.queues.events.raw();
    let messages: Vec<OutgoingMessage> = (0..25)
        .map(|i| OutgoingMessage::now(format!("m{i}")))
        .collect();
    q.send(&messages).await.unwrap();
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = q
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(got.len() <= 10);
        assert!(got.iter().all(|m| m.receive_count == 1));
        q.delete(
            &got.iter()
                .map(|m| m.receipt_handle.clone())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        bodies.extend(got.into_iter().map(|m| m.body));
        if bodies.len() == 25 {
            break;
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected, "{}", b.kind);
    assert!(
        q.receive(10, Duration::from_secs(30), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(q.approximate_len().await.unwrap(), 0);
}

/// Polls `q` until it hands out a message; returns it and how long after
/// `since` it was seen (never before it was visible: a lower bound that a
/// slow machine cannot break).
async fn next_message(q: &dyn Queue, since: Instant) -> (Received, Duration) {
    let mut got = Vec::new();
    let seen = wait_until_seen(
        async || {
            got = q
                .receive(1, Duration::from_secs(30), NO_WAIT)
                .await
                .unwrap();
            !got.is_empty()
        },
        Duration::from_secs(15),
    )
    .await;
    (got.remove(0), seen - since)
}

async fn undeleted_messages_reappear_after_visibility_timeout(b: &Backend) {
    let q = b.queues.retry.raw();
    q.send(&[OutgoingMessage::now("once".into())])
        .await
        .unwrap();
    let received = Instant::now();
    let first = q
        .receive(1, Duration::from_secs(1), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Hidden while in flight, and back, counted, after the timeout:
    // nothing is lost.
    let (again, after) = next_message(q.as_ref(), received).await;
    assert!(
        after >= Duration::from_secs(1),
        "{}: back after {after:?}",
        b.kind
    );
    assert_eq!(again.body, "once");
    assert_eq!(again.message_id, first[0].message_id);
    assert_eq!(again.receive_count, 2);
}

async fn visibility_can_be_changed(b: &Backend) {
    let q = &b.queues.redriven;
    q.send(&[OutgoingMessage::now("later".into())])
        .await
        .unwrap();
    let got = q
        .receive(1, Duration::from_secs(60), Duration::from_secs(1))
        .await
        .unwrap();
    q.change_visibility(&got[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let again = q
        .receive(1, Duration::from_secs(60), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{}", b.kind);
    let changed = Instant::now();
    q.change_visibility(&again[0].receipt_handle, Duration::from_secs(2))
        .await
        .unwrap();
    let (back, after) = next_message(q.as_ref(), changed).await;
    assert!(
        after >= Duration::from_secs(2),
        "{}: back after {after:?}",
        b.kind
    );
    assert_eq!(back.body, "later");
}

async fn delayed_messages_wait(b: &Backend) {
    let q = b.queues.cohort.raw();
    let sent = Instant::now();
    q.send(&[OutgoingMessage {
        body: "delayed".into(),
        delay: Duration::from_secs(2),
    }])
    .await
    .unwrap();
    assert_eq!(q.approximate_len().await.unwrap(), 1);
    let (got, after) = next_message(q.as_ref(), sent).await;
    assert!(
        after >= Duration::from_secs(2),
        "{}: seen after {after:?}",
        b.kind
    );
    assert_eq!(got.body, "delayed");
    assert!(
        q.send(&[OutgoingMessage {
            body: "x".into(),
            delay: Duration::from_secs(901)
        }])
        .await
        .is_err(),
        "delays over 900 s are refused"
    );
}

async fn queues_are_independent(b: &Backend) {
    b.queues
        .events
        .raw()
        .send(&[OutgoingMessage::now("e".into())])
        .await
        .unwrap();
    assert!(
        b.queues
            .retry
            .receive(10, Duration::from_secs(30), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.queues
            .events
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

contract_tests!(
    delivers_and_deletes,
    undeleted_messages_reappear_after_visibility_timeout,
    visibility_can_be_changed,
    delayed_messages_wait,
    queues_are_independent,
);
