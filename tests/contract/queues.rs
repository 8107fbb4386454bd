use std::time::{Duration, Instant};

use engage_bridge_tests::receiver::{CLOCK_GRAIN, wait_until_seen};
use engage_bridge_tests::{Backend, contract_tests};
use shared::ports::{MAX_MESSAGE_BODY_BYTES, OutgoingMessage, Queue, Received, StoreError};

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

/// The adapters store bodies their own way (SQLite packs them): what is
/// received is what was sent, byte for byte, up to an events message's
/// 200 KiB; a body over the queue maximum is refused on both backends.
async fn bodies_arrive_as_sent_and_oversized_ones_are_refused(b: &Backend) {
    let q = b.queues.events.raw();
    let json = format!(
        r#"{{"events":[{}]}}"#,
        r#"{"uid":"ü-7","n":1},"#.repeat(9_000)
    );
    // Text that does not compress: a generator's digits.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: String = (0..150_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let sent = [json, noise, String::new()];
    q.send(&sent.clone().map(OutgoingMessage::now))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let received = q
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(
            !received.is_empty(),
            "{}: {} of 3 received",
            b.kind,
            got.len()
        );
        got.extend(received);
    }
    let mut bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_by_key(|body| body.len());
    assert!(bodies == [&sent[2], &sent[1], &sent[0]], "{}", b.kind);
    let handles: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
    q.delete(&handles).await.unwrap();

    let oversized = "x".repeat(MAX_MESSAGE_BODY_BYTES + 1);
    let refused = q
        .send(&[
            OutgoingMessage::now("fits".into()),
            OutgoingMessage::now(oversized),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{}: {refused:?}",
        b.kind
    );
    assert_eq!(
        q.approximate_len().await.unwrap(),
        0,
        "{}: nothing sent",
        b.kind
    );
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
        after >= Duration::from_secs(1) - CLOCK_GRAIN,
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
        after >= Duration::from_secs(2) - CLOCK_GRAIN,
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
        after >= Duration::from_secs(2) - CLOCK_GRAIN,
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

/// Held messages (a paused stream's batches) wait for their delay; where
/// the queue can be woken (the embedded one), a wake makes those of one
/// key due at once, but never one in flight, nor another key's.
async fn held_messages_wait_until_woken(b: &Backend) {
    let q = b.queues.retry.raw();
    let later = |body: &str| OutgoingMessage {
        body: body.into(),
        delay: Duration::from_secs(60),
    };
    q.send_held("a", &[later("a1"), later("a2")]).await.unwrap();
    q.send_held("b", &[later("b1")]).await.unwrap();
    q.send_held("a", &[OutgoingMessage::now("a3".into())])
        .await
        .unwrap();
    let in_flight = q
        .receive(10, Duration::from_secs(60), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(in_flight.len(), 1, "{}", b.kind);
    assert_eq!(in_flight[0].body, "a3");
    let woken = q.wake("a").await.unwrap();
    if !q.can_wake() {
        // SQS: the held messages come back after their delay.
        assert_eq!(woken, 0);
        assert_eq!(q.approximate_len().await.unwrap(), 4, "{}", b.kind);
        return;
    }
    assert_eq!(woken, 2, "{}", b.kind);
    let mut bodies: Vec<String> = q
        .receive(10, Duration::from_secs(60), Duration::from_secs(1))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["a1", "a2"], "{}", b.kind);
    assert!(
        q.receive(10, Duration::from_secs(60), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
}

contract_tests!(
    bodies_arrive_as_sent_and_oversized_ones_are_refused,
    held_messages_wait_until_woken,
    delivers_and_deletes,
    undeleted_messages_reappear_after_visibility_timeout,
    visibility_can_be_changed,
    delayed_messages_wait,
    queues_are_independent,
);
