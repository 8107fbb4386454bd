//! What the fault suite found, each pinned by a test that failed before its
//! fix: one scripted fault at exactly the call where AWS's ambiguity hurts.

use std::time::Duration;

use engage_bridge_tests::faults::cloud::Cloud;
use engage_bridge_tests::faults::logs;
use engage_bridge_tests::faults::{Fault, Plan};
use engage_bridge_tests::receiver::{Recorder, wait_for};
use shared::domain::{
    Attempt, Member, MembershipAction, MembershipChange, PageRequest, ProfileKey, ProfileUpdate,
    RetryMessage, Segment, SegmentSource, Version,
};
use shared::ports::OutgoingMessage;
use shared::queue::batch::Handled;
use shared::topology::{Function, QueueName};

const WS: &str = "ws";

/// Moto behind the proxy, faulting only where a test scripts it.
async fn cloud() -> Cloud {
    Cloud::start(Plan::new(1, 0.0)).await
}

fn failed_attempt() -> Attempt {
    Attempt::answered(503, "HTTP 503")
}

#[tokio::test]
async fn an_attempt_applied_then_answered_with_an_error_counts_once() {
    let cloud = cloud().await;
    let services = cloud.services();
    let attempt = failed_attempt();
    cloud.proxy.inject("UpdateItem", Fault::AppliedThenError, 1);
    assert!(
        services
            .attempts
            .append_attempt(WS, "req-1", 0, &attempt)
            .await
            .unwrap(),
        "the SDK's resend met our own first attempt: it is ours"
    );
    cloud.proxy.inject("UpdateItem", Fault::AppliedThenReset, 1);
    assert!(
        services
            .attempts
            .append_attempt(WS, "req-1", 1, &attempt)
            .await
            .unwrap(),
        "the SDK's resend met our own second attempt: it is ours"
    );
    let logged = cloud.direct.attempts.attempts(WS, "req-1").await.unwrap();
    assert_eq!(logged.len(), 2, "each attempt logged once");
    // Another copy's append still wins over a stale one.
    assert!(
        !services
            .attempts
            .append_attempt(WS, "req-1", 1, &attempt)
            .await
            .unwrap()
    );
}

fn change(i: usize, action: MembershipAction, t: i64) -> MembershipChange {
    MembershipChange {
        member: Member {
            moengage_user_id: format!("m{i}"),
            uid: Some(format!("u{i}")),
            moe_anonymous_id: None,
        },
        action,
        version: Version::new(t, i as i64 + 1),
    }
}

fn adds(n: usize) -> Vec<MembershipChange> {
    (0..n)
        .map(|i| change(i, MembershipAction::Added, 1_000_000))
        .collect()
}

/// Creates the segment (directly on moto); its id.
async fn segment(cloud: &Cloud) -> String {
    cloud
        .direct
        .segments
        .ensure_segment(WS, &Segment::new(SegmentSource::Amplitude, "c1", "C"))
        .await
        .unwrap()
        .id
}

/// The segment's count, as every read shows it, is its number of members.
async fn assert_count(cloud: &Cloud, segment_id: &str, members: usize) {
    let direct = &cloud.direct;
    let listed = direct
        .segments
        .list_members(WS, segment_id, &PageRequest::first(1000))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), members, "members stored");
    let got = direct.segments.get_segment(WS, segment_id).await.unwrap();
    assert_eq!(got.unwrap().member_count, members as i64, "member_count");
    let page = direct
        .segments
        .list_segments(WS, &PageRequest::first(100))
        .await
        .unwrap();
    let listed = page.items.iter().find(|s| s.id == segment_id).unwrap();
    assert_eq!(listed.member_count, members as i64, "member_count listed");
}

/// Adds ten members through the faults (as `script` sets them up); the
/// count must be ten.
async fn ten_adds_count_ten(script: impl FnOnce(&Cloud)) {
    let cloud = cloud().await;
    let id = segment(&cloud).await;
    script(&cloud);
    cloud
        .services()
        .segments
        .apply_membership_changes(WS, &id, &adds(10))
        .await
        .unwrap();
    assert_count(&cloud, &id, 10).await;
}

#[tokio::test]
async fn a_membership_write_applied_then_answered_with_an_error_is_counted() {
    ten_adds_count_ten(|cloud| {
        let proxy = &cloud.proxy;
        proxy.inject("TransactWriteItems", Fault::AppliedThenError, 1);
    })
    .await;
}

#[tokio::test]
async fn a_count_write_applied_then_answered_with_an_error_is_not_doubled() {
    // Whichever call carries the count after the memberships' transaction.
    ten_adds_count_ten(|cloud| {
        let proxy = &cloud.proxy;
        proxy.inject("UpdateItem", Fault::AppliedThenError, 1);
        proxy.inject_after("TransactWriteItems", 1, Fault::AppliedThenError, 1);
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_change_makes_up_a_count_that_failed() {
    let cloud = cloud().await;
    let id = segment(&cloud).await;
    let services = cloud.services();
    // Every write after the memberships' transaction fails, SDK retries too.
    cloud.proxy.inject("UpdateItem", Fault::ServerError, 100);
    cloud
        .proxy
        .inject_after("TransactWriteItems", 1, Fault::ServerError, 100);
    let first = services
        .segments
        .apply_membership_changes(WS, &id, &adds(10))
        .await;
    cloud.proxy.clear();
    if first.is_err() {
        // The consumer's message comes back, and is applied again.
        services
            .segments
            .apply_membership_changes(WS, &id, &adds(10))
            .await
            .unwrap();
    }
    assert_count(&cloud, &id, 10).await;
    // Removals count down the same way.
    cloud.proxy.inject("UpdateItem", Fault::AppliedThenError, 1);
    let removals: Vec<_> = (0..4)
        .map(|i| change(i, MembershipAction::Removed, 2_000_000))
        .collect();
    services
        .segments
        .apply_membership_changes(WS, &id, &removals)
        .await
        .unwrap();
    assert_count(&cloud, &id, 6).await;
}

#[tokio::test]
async fn a_sync_counted_then_answered_with_an_error_is_counted_once() {
    let cloud = cloud().await;
    let id = segment(&cloud).await;
    cloud.proxy.inject("UpdateItem", Fault::AppliedThenError, 1);
    cloud
        .services()
        .segments
        .record_sync(WS, &id, "2026-11-22T10:00:00.000Z")
        .await
        .unwrap();
    let got = cloud.direct.segments.get_segment(WS, &id).await.unwrap();
    assert_eq!(got.unwrap().sync_count, 1);
}

/// A workspace whose stream `w` sends to `url`.
async fn stream_to(cloud: &Cloud, url: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"{WS}\"\nsecret = \"s\"\napp_name = \"A\"\n\
         [[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout_seconds = 5\n"
    );
    cloud.apply_config(&text).await;
}

fn retry_message(request_id: &str, attempts: Vec<Attempt>) -> RetryMessage {
    let event = serde_json::from_value(serde_json::json!({
        "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
        "event_uuid": format!("uuid-{request_id}"), "event_time": 1_580_967_474,
        "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE", "uid": "u1",
    }))
    .unwrap();
    RetryMessage {
        workspace_id: WS.into(),
        stream: "w".into(),
        moe_request_id: request_id.into(),
        events: vec![event],
        attempts,
    }
}

#[tokio::test]
async fn a_failed_dead_letter_write_after_the_last_retry_is_no_fifth_attempt() {
    let cloud = cloud().await;
    let recorder = Recorder::new(503);
    let server = recorder.serve().await;
    stream_to(&cloud, &server.uri()).await;
    // Failed at dispatch (in the message) and on two retries (logged).
    let attempt = failed_attempt();
    for logged in 0..2 {
        cloud
            .direct
            .attempts
            .append_attempt(WS, "req-5", logged, &attempt)
            .await
            .unwrap();
    }
    cloud
        .direct
        .queues
        .retry
        .send(&[retry_message("req-5", vec![attempt])])
        .await
        .unwrap();
    // The last retry fails, and so does keeping its dead letter.
    cloud
        .proxy
        .inject("BatchWriteItem", Fault::ServerError, 100);
    let retry = cloud.instance(Function::Retry);
    let polled = cloud
        .poll(&retry, QueueName::Retry, Duration::from_secs(1))
        .await;
    assert_eq!((polled.received, polled.failed), (1, 1));
    assert_eq!(recorder.arrivals().len(), 1, "the last retry was sent");
    cloud.proxy.clear();
    // Back after its visibility timeout: kept now, without another send.
    let mut kept = Vec::new();
    wait_for(
        async || {
            cloud
                .poll(&retry, QueueName::Retry, Duration::from_secs(1))
                .await;
            kept = shared::streams::dlq::list(&cloud.direct, &Default::default())
                .await
                .unwrap();
            !kept.is_empty()
        },
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(recorder.arrivals().len(), 1, "no fifth attempt");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].attempts.len(), 4, "the send and three retries");
    assert_eq!(cloud.depth(QueueName::Retry).await, 0);
}

#[tokio::test]
async fn a_superseded_retry_copy_is_logged_when_it_is_deleted() {
    let captured = logs::capture();
    let cloud = cloud().await;
    let recorder = Recorder::new(503);
    recorder.set_delay(Duration::from_millis(300));
    let server = recorder.serve().await;
    stream_to(&cloud, &server.uri()).await;
    let services = cloud.services();
    let message = retry_message("req-6", vec![failed_attempt()]);
    // Another copy of the message logs its attempt while this one sends.
    let other_copy = async {
        wait_for(
            async || !recorder.arrivals().is_empty(),
            Duration::from_secs(10),
        )
        .await;
        cloud
            .direct
            .attempts
            .append_attempt(WS, "req-6", 0, &failed_attempt())
            .await
            .unwrap()
    };
    let (handled, appended) = tokio::join!(
        shared::streams::retry::retry(&services, &message),
        other_copy
    );
    assert!(appended);
    assert_eq!(handled.unwrap(), Handled::Done, "the other copy carries on");
    let lines: Vec<_> = captured
        .find("INFO", "superseded")
        .into_iter()
        .filter(|r| r["fields"]["moe_request_id"] == "req-6")
        .collect();
    assert_eq!(lines.len(), 1, "one line says so: {lines:#?}");
}

#[tokio::test]
async fn a_delete_batch_with_failed_entries_deletes_every_message() {
    let cloud = cloud().await;
    let queue = cloud.direct.queues.raw(QueueName::Events);
    let messages: Vec<OutgoingMessage> = (0..10)
        .map(|i| OutgoingMessage::now(format!("{{\"n\":{i}}}")))
        .collect();
    queue.send(&messages).await.unwrap();
    let mut handles = Vec::new();
    while handles.len() < 10 {
        let got = queue
            .receive(10, Duration::from_secs(60), Duration::from_secs(1))
            .await
            .unwrap();
        handles.extend(got.into_iter().map(|m| m.receipt_handle));
    }
    cloud.proxy.inject("DeleteMessageBatch", Fault::Partial, 2);
    let services = cloud.services();
    services
        .queues
        .raw(QueueName::Events)
        .delete(&handles)
        .await
        .unwrap();
    assert_eq!(cloud.depth(QueueName::Events).await, 0, "all deleted");
}

#[tokio::test]
async fn failed_send_entries_are_sent_again_and_only_they() {
    let cloud = cloud().await;
    cloud.proxy.inject("SendMessageBatch", Fault::Partial, 3);
    let messages: Vec<OutgoingMessage> = (0..10)
        .map(|i| OutgoingMessage::now(format!("{{\"n\":{i}}}")))
        .collect();
    cloud
        .services()
        .queues
        .raw(QueueName::Events)
        .send(&messages)
        .await
        .unwrap();
    let queue = cloud.direct.queues.raw(QueueName::Events);
    let mut bodies: Vec<String> = engage_bridge_tests::take_all(queue.as_ref())
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    bodies.sort();
    let mut sent: Vec<String> = messages.into_iter().map(|m| m.body).collect();
    sent.sort();
    assert_eq!(bodies, sent, "each message once");
}

#[tokio::test]
async fn unprocessed_items_and_keys_are_retried_until_done() {
    let cloud = cloud().await;
    let services = cloud.services();
    let anonymous: Vec<String> = (0..30).map(|i| format!("anon-{i}")).collect();
    let updates: Vec<ProfileUpdate> = anonymous
        .iter()
        .map(|a| ProfileUpdate::new(ProfileKey::AnonymousId(a.clone())))
        .collect();
    cloud.proxy.inject("BatchWriteItem", Fault::Partial, 3);
    services
        .profiles
        .update_profiles(WS, &updates)
        .await
        .unwrap();
    cloud.proxy.inject("BatchGetItem", Fault::Partial, 3);
    let found = services
        .profiles
        .find_by_anonymous_ids(WS, &anonymous)
        .await
        .unwrap();
    assert_eq!(found.len(), 30, "every index item written and read");
}

#[tokio::test]
async fn retried_calls_are_counted_and_give_ups_logged_with_the_request_id() {
    let metrics = shared::observability::metrics::prometheus();
    let captured = logs::capture();
    let cloud = cloud().await;
    let services = cloud.services();
    cloud.proxy.inject("GetItem", Fault::Throttled, 1);
    assert!(
        services
            .workspaces
            .get_workspace("none")
            .await
            .unwrap()
            .is_none()
    );
    let rendered = metrics.render();
    let line = rendered
        .lines()
        .find(|l| {
            l.starts_with("engage_bridge_aws_retries_total")
                && l.contains("service=\"dynamodb\"")
                && l.contains("operation=\"GetItem\"")
        })
        .unwrap_or_else(|| panic!("no retry counted:\n{rendered}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{line}");

    cloud.proxy.inject("GetItem", Fault::ServerError, 100);
    assert!(services.workspaces.get_workspace("none").await.is_err());
    // The give-up names the request id AWS (here: the proxy) answered.
    let ids = cloud.proxy.answered_request_ids();
    let gave_up = captured.find("ERROR", "gave up");
    let line = gave_up
        .iter()
        .find(|r| {
            r["fields"]["aws_request_id"]
                .as_str()
                .is_some_and(|id| ids.iter().any(|i| i == id))
        })
        .unwrap_or_else(|| panic!("no give-up logged with one of {ids:?}: {gave_up:#?}"));
    assert_eq!(line["fields"]["operation"], "GetItem");
    assert_eq!(line["fields"]["service"], "dynamodb");
}
