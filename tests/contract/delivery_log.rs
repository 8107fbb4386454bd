//! The delivery log: entries listed newest first with the console's
//! filters, bodies kept once per request, counts summed per stream, each
//! stream's last success and error, waiting requests, a user's entries
//! erased, nothing listed past the retention.

use engage_bridge_tests::{Backend, contract_tests};
use shared::delivery_log::batch::LogBatch;
use shared::delivery_log::model::{
    AttemptOutcome, CountDelta, CountKind, EventSummary, LogEntry, LogQuery, ReceivedResponse,
    SentRequest, StoredBody, WaitingChange, bucket_of, entry_id,
};
use shared::domain::time::now_ms;

const DAY: i64 = 24 * 3600 * 1000;

fn entry(ws: &str, stream: &str, at_ms: i64, outcome: AttemptOutcome, uids: &[&str]) -> LogEntry {
    LogEntry {
        id: entry_id(at_ms),
        workspace_id: ws.into(),
        stream: stream.into(),
        at_ms,
        moe_request_id: format!("req-{at_ms}"),
        outcome,
        attempt: 1,
        status: Some(if outcome == AttemptOutcome::Delivered {
            200
        } else {
            503
        }),
        error: (outcome != AttemptOutcome::Delivered).then(|| "HTTP 503".into()),
        latency_ms: Some(12),
        events: EventSummary {
            count: uids.len(),
            // Uuids as engage-bridge writes them (stored as bytes on
            // SQLite) and, for failures, any other text (kept as written).
            uuids: uids
                .iter()
                .map(|u| match outcome {
                    AttemptOutcome::Delivered => {
                        let name = format!("{u}-{at_ms}");
                        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
                    }
                    _ => format!("uuid-{u}-{at_ms}"),
                })
                .collect(),
            names: vec!["Email Sent".into(), "MOE_EMAIL_SENT".into()],
            uids: uids.iter().map(|u| (*u).to_owned()).collect(),
        },
        request: Some(SentRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:9/hook".into(),
            headers: vec![("webhook-id".into(), format!("req-{at_ms}"))],
            body_bytes: 2,
        }),
        response: Some(ReceivedResponse {
            status: 200,
            headers: vec![],
            body: "{}".into(),
            truncated: false,
        }),
    }
}

async fn record(b: &Backend, entries: &[LogEntry]) {
    let batch = LogBatch {
        entries: entries.to_vec(),
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
}

fn query(limit: usize) -> LogQuery {
    LogQuery {
        limit,
        ..LogQuery::default()
    }
}

async fn all(b: &Backend, ws: &str, mut q: LogQuery) -> Vec<LogEntry> {
    let mut out = Vec::new();
    loop {
        let page = b.delivery_log.list(ws, &q).await.unwrap();
        out.extend(page.entries);
        match page.next_before {
            Some(before) => q.before = Some(before),
            None => return out,
        }
    }
}

async fn entries_are_listed_newest_first_and_paged(b: &Backend) {
    let now = now_ms();
    let entries: Vec<LogEntry> = (0..7)
        .map(|i| {
            entry(
                "ws",
                "s",
                now - 1_000 * (7 - i),
                AttemptOutcome::Delivered,
                &["u1"],
            )
        })
        .collect();
    record(b, &entries).await;
    record(
        b,
        &[entry("other", "s", now, AttemptOutcome::Delivered, &["u1"])],
    )
    .await;
    let listed = all(b, "ws", query(3)).await;
    let mut expected = entries.clone();
    expected.reverse();
    assert_eq!(listed, expected, "{}", b.kind);
    let one = b
        .delivery_log
        .entry_by_id("ws", &entries[2].id)
        .await
        .unwrap();
    assert_eq!(one.as_ref(), Some(&entries[2]));
    assert_eq!(
        b.delivery_log
            .entry_by_id("other", &entries[2].id)
            .await
            .unwrap(),
        None,
        "another workspace's id"
    );
    assert_eq!(
        b.delivery_log
            .entry_by_id("ws", "no-such-id")
            .await
            .unwrap(),
        None
    );
}

async fn filters_select_by_stream_outcome_uid_event_request_and_time(b: &Backend) {
    let now = now_ms();
    let a = entry(
        "ws",
        "warehouse",
        now - 5_000,
        AttemptOutcome::Delivered,
        &["jane"],
    );
    let c = entry(
        "ws",
        "warehouse",
        now - 4_000,
        AttemptOutcome::Failed,
        &["joe"],
    );
    let mut d = entry(
        "ws",
        "amplitude",
        now - 3_000,
        AttemptOutcome::DeadLettered,
        &["jane", "joe"],
    );
    d.events.names = vec!["Signed Up".into()];
    record(b, &[a.clone(), c.clone(), d.clone()]).await;
    let ids = |entries: Vec<LogEntry>| entries.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let stream = LogQuery {
        stream: Some("warehouse".into()),
        ..query(50)
    };
    assert_eq!(
        ids(all(b, "ws", stream).await),
        vec![c.id.clone(), a.id.clone()],
        "{}",
        b.kind
    );
    let failed = LogQuery {
        outcome: Some(AttemptOutcome::Failed),
        ..query(50)
    };
    assert_eq!(ids(all(b, "ws", failed).await), vec![c.id.clone()]);
    let jane = LogQuery {
        uid: Some("jane".into()),
        ..query(50)
    };
    assert_eq!(
        ids(all(b, "ws", jane).await),
        vec![d.id.clone(), a.id.clone()]
    );
    let by_name = LogQuery {
        event: Some("Signed Up".into()),
        ..query(50)
    };
    assert_eq!(ids(all(b, "ws", by_name).await), vec![d.id.clone()]);
    let by_code = LogQuery {
        event: Some("MOE_EMAIL_SENT".into()),
        ..query(50)
    };
    assert_eq!(
        ids(all(b, "ws", by_code).await),
        vec![c.id.clone(), a.id.clone()]
    );
    let partial = LogQuery {
        event: Some("Email".into()),
        ..query(50)
    };
    assert!(all(b, "ws", partial).await.is_empty(), "names match whole");
    let request = LogQuery {
        moe_request_id: Some(c.moe_request_id.clone()),
        ..query(50)
    };
    assert_eq!(ids(all(b, "ws", request).await), vec![c.id.clone()]);
    let window = LogQuery {
        since_ms: Some(now - 4_500),
        until_ms: Some(now - 3_500),
        ..query(50)
    };
    assert_eq!(ids(all(b, "ws", window).await), vec![c.id.clone()]);
    let other = LogQuery {
        uid: Some("jane".into()),
        ..query(50)
    };
    assert!(
        all(b, "nobody", other).await.is_empty(),
        "never another workspace's"
    );
}

/// A body comes with its attempt's entry, as `Pending::seal` makes them;
/// the latest attempt's is the request's, in one write or in two.
async fn a_request_body_is_kept_once_the_latest_wins(b: &Backend) {
    let now = now_ms();
    let attempt = |n: u32, at_ms: i64| LogEntry {
        id: entry_id(at_ms),
        moe_request_id: "req-1".into(),
        attempt: n,
        ..entry("ws", "s", at_ms, AttemptOutcome::Failed, &["u"])
    };
    let body = |text: &str, at_ms| StoredBody {
        moe_request_id: "req-1".into(),
        at_ms,
        body: text.into(),
        truncated: false,
    };
    let batch = LogBatch {
        entries: vec![attempt(1, now)],
        bodies: vec![("ws".into(), body("{\"first\":1}", now).into())],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
    let batch = LogBatch {
        entries: vec![attempt(2, now + 1)],
        bodies: vec![("ws".into(), body("{\"second\":2}", now + 1).into())],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
    let kept = b.delivery_log.store.body("ws", "req-1").await.unwrap();
    assert_eq!(kept, Some(body("{\"second\":2}", now + 1)), "{}", b.kind);
    assert_eq!(
        b.delivery_log.store.body("other", "req-1").await.unwrap(),
        None
    );
    // Two attempts merged into one write keep the later body.
    let mut merged = LogBatch::default();
    for (n, text) in [(3, "{\"third\":3}"), (4, "{\"fourth\":4}")] {
        let at_ms = now + i64::from(n);
        let mut one = LogBatch {
            entries: vec![attempt(n, at_ms)],
            ..LogBatch::default()
        };
        one.add_body("ws", body(text, at_ms).into());
        merged.merge(one);
    }
    b.delivery_log.store.record(merged, 7).await.unwrap();
    let kept = b.delivery_log.store.body("ws", "req-1").await.unwrap();
    assert_eq!(kept, Some(body("{\"fourth\":4}", now + 4)), "{}", b.kind);
}

async fn counts_add_up_per_stream_from_a_time_on(b: &Backend) {
    let now = now_ms();
    let delta = |stream: &str, at: i64, kind, n| CountDelta {
        workspace_id: "ws".into(),
        stream: stream.into(),
        bucket_ms: bucket_of(at),
        kind,
        n,
    };
    let batch = LogBatch {
        counts: vec![
            delta("s", now, CountKind::Delivered, 5),
            delta("s", now, CountKind::FailedAttempts, 1),
            delta("", now, CountKind::Received, 9),
            delta("s", now - 2 * DAY, CountKind::Delivered, 100),
        ],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
    let again = LogBatch {
        counts: vec![delta("s", now, CountKind::Delivered, 2)],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(again.clone(), 7).await.unwrap();
    let day = b.delivery_log.store.counts("ws", now - DAY).await.unwrap();
    let of = |stream: &str, kind| {
        day.iter()
            .find(|c| c.stream == stream)
            .map_or(0, |c| c.get(kind))
    };
    assert_eq!(of("s", CountKind::Delivered), 7, "{}", b.kind);
    assert_eq!(of("s", CountKind::FailedAttempts), 1);
    assert_eq!(of("", CountKind::Received), 9);
    let week = b
        .delivery_log
        .store
        .counts("ws", now - 7 * DAY)
        .await
        .unwrap();
    let s = week.iter().find(|c| c.stream == "s").unwrap();
    assert_eq!(s.get(CountKind::Delivered), 107);
    assert!(
        b.delivery_log
            .store
            .counts("other", now - DAY)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn health_moves_forward_and_counts_waiting_requests(b: &Backend) {
    let now = now_ms();
    let ok = entry("ws", "s", now - 2_000, AttemptOutcome::Delivered, &["u"]);
    let bad = entry("ws", "s", now - 1_000, AttemptOutcome::Failed, &["u"]);
    let older_ok = entry("ws", "s", now - 9_000, AttemptOutcome::Delivered, &["u"]);
    let wait = |request: &str, events| WaitingChange {
        workspace_id: "ws".into(),
        stream: "s".into(),
        moe_request_id: request.into(),
        waiting_events: events,
        at_ms: now,
    };
    let batch = LogBatch {
        entries: vec![ok.clone(), bad.clone()],
        waiting: vec![
            wait("r1", Some(3)),
            wait("r2", Some(4)),
            wait("r3", Some(5)),
            wait("r3", None),
        ],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
    record(b, &[older_ok]).await;
    let health = b.delivery_log.store.health("ws").await.unwrap();
    assert_eq!(health.len(), 1, "{}", b.kind);
    let s = &health[0];
    assert_eq!(
        s.last_success.as_ref().map(|l| l.at_ms),
        Some(ok.at_ms),
        "never moved back"
    );
    let error = s.last_error.as_ref().unwrap();
    assert_eq!(
        (error.at_ms, error.status, error.error.as_deref()),
        (bad.at_ms, Some(503), Some("HTTP 503"))
    );
    assert_eq!((s.waiting_requests, s.waiting_events), (2, 7));
    let done = LogBatch {
        waiting: vec![wait("r1", None)],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(done.clone(), 7).await.unwrap();
    let s = &b.delivery_log.store.health("ws").await.unwrap()[0];
    assert_eq!((s.waiting_requests, s.waiting_events), (1, 4));
    assert!(
        b.delivery_log
            .store
            .health("other")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn erasing_a_user_removes_their_entries_and_bodies(b: &Backend) {
    let now = now_ms();
    let jane = entry(
        "ws",
        "s",
        now - 3_000,
        AttemptOutcome::Delivered,
        &["jane", "joe"],
    );
    let joe = entry("ws", "s", now - 2_000, AttemptOutcome::Delivered, &["joe"]);
    let elsewhere = entry(
        "other",
        "s",
        now - 1_000,
        AttemptOutcome::Delivered,
        &["jane"],
    );
    let body = |e: &LogEntry| {
        (
            e.workspace_id.clone(),
            StoredBody {
                moe_request_id: e.moe_request_id.clone(),
                at_ms: e.at_ms,
                body: "{}".into(),
                truncated: false,
            }
            .into(),
        )
    };
    let batch = LogBatch {
        entries: vec![jane.clone(), joe.clone(), elsewhere.clone()],
        bodies: vec![body(&jane), body(&joe), body(&elsewhere)],
        ..LogBatch::default()
    };
    b.delivery_log.store.record(batch.clone(), 7).await.unwrap();
    assert_eq!(
        b.delivery_log.erase_user("ws", "jane").await.unwrap(),
        1,
        "{}",
        b.kind
    );
    assert_eq!(
        b.delivery_log.erase_user("ws", "jane").await.unwrap(),
        0,
        "{}: a repeated erasure finds nothing more",
        b.kind
    );
    let left: Vec<String> = all(b, "ws", query(50))
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![joe.id.clone()]);
    let jane_q = LogQuery {
        uid: Some("jane".into()),
        ..query(50)
    };
    assert!(all(b, "ws", jane_q).await.is_empty());
    assert_eq!(
        b.delivery_log
            .store
            .body("ws", &jane.moe_request_id)
            .await
            .unwrap(),
        None
    );
    assert!(
        b.delivery_log
            .store
            .body("ws", &joe.moe_request_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        all(b, "other", query(50)).await.len(),
        1,
        "another workspace keeps its own"
    );
}

async fn nothing_is_listed_past_the_retention(b: &Backend) {
    let now = now_ms();
    let old = entry("ws", "s", now - 8 * DAY, AttemptOutcome::Delivered, &["u"]);
    let new = entry("ws", "s", now - 1_000, AttemptOutcome::Delivered, &["u"]);
    record(b, &[old.clone(), new.clone()]).await;
    let listed: Vec<String> = all(b, "ws", query(50))
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, vec![new.id.clone()], "{}", b.kind);
    // SQLite sweeps; DynamoDB's TTL removes the items on its own.
    let swept = b.delivery_log.store.sweep(now - 7 * DAY).await.unwrap();
    assert_eq!(swept, if b.kind == "sqlite" { 1 } else { 0 });
    let everything = LogQuery {
        since_ms: Some(0),
        ..query(50)
    };
    let left = b
        .delivery_log
        .store
        .list("ws", &everything)
        .await
        .unwrap()
        .entries;
    let expected = if b.kind == "sqlite" { 1 } else { 2 };
    assert_eq!(left.len(), expected);
}

contract_tests!(
    entries_are_listed_newest_first_and_paged,
    filters_select_by_stream_outcome_uid_event_request_and_time,
    a_request_body_is_kept_once_the_latest_wins,
    counts_add_up_per_stream_from_a_time_on,
    health_moves_forward_and_counts_waiting_requests,
    erasing_a_user_removes_their_entries_and_bodies,
    nothing_is_listed_past_the_retention,
);
