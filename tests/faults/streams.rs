//! stream-dispatch and retry under 25 % faults (throttling, 500s, dropped
//! connections, slow answers, partial SendMessageBatch / BatchWriteItem
//! results, writes applied and then failed): retry-queue sends, attempt
//! logs and the dead-letter store all misbehave. Then `dlq replay` (the
//! CLI's path) under the same faults. Nothing acknowledged is lost, nothing
//! a retry would have delivered is dead-lettered, and a dead letter holds
//! exactly the send and its three retries.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use engage_bridge_tests::faults::Plan;
use engage_bridge_tests::faults::cloud::{Cloud, report};
use shared::domain::ids::request_id;
use shared::domain::{Event, EventsMessage};
use shared::streams::dlq::{self, Filter};
use shared::topology::{Function, QueueName};

use crate::receiver::Receiver;

const WS: &str = "ws";
const MESSAGES: usize = 24;
/// Streams whose receiver refuses each batch once; streams that are down.
const FLAKY: usize = 8;
const DOWN: usize = 4;
/// The event sources' visibility timeout here (template.yaml: 360 s).
const VISIBILITY: Duration = Duration::from_secs(4);
const SETTLE: Duration = Duration::from_secs(150);

fn config(url: &str) -> String {
    let stream = |name: &str, path: &str, code: &str| {
        format!(
            "[[workspaces.streams]]\nname = \"{name}\"\ntype = \"webhook\"\n\
             url = \"{url}/{path}\"\nevents = [\"{code}\"]\ntimeout_seconds = 5\n"
        )
    };
    let mut text = format!("[[workspaces]]\nid = \"{WS}\"\nsecret = \"s\"\napp_name = \"A\"\n");
    text += &stream("ok", "ok/ok", "STEADY");
    for i in 0..FLAKY {
        text += &stream(
            &format!("flaky-{i}"),
            &format!("flaky/{i}"),
            &format!("FLAKY_{i}"),
        );
    }
    for i in 0..DOWN {
        text += &stream(
            &format!("down-{i}"),
            &format!("down/{i}"),
            &format!("DOWN_{i}"),
        );
    }
    text
}

fn event(uuid: String, code: String) -> Event {
    serde_json::from_value(serde_json::json!({
        "event_name": code, "event_code": code, "event_uuid": uuid,
        "event_time": 1_580_967_474, "event_type": "CAMPAIGN_EVENT",
        "event_source": "MOENGAGE", "uid": "u1",
    }))
    .unwrap()
}

/// The events messages, and the `moe_request_id` of each down stream's batch.
fn workload() -> (Vec<EventsMessage>, BTreeSet<String>) {
    let mut messages = Vec::new();
    let mut down = BTreeSet::new();
    for m in 0..MESSAGES {
        let mut events: Vec<Event> = (0..3)
            .map(|k| event(format!("steady-{m}-{k}"), "STEADY".into()))
            .collect();
        events.push(event(format!("flaky-{m}"), format!("FLAKY_{}", m % FLAKY)));
        if m < DOWN {
            let failing = event(format!("down-{m}"), format!("DOWN_{m}"));
            let stream = format!("down-{m}");
            down.insert(request_id(WS, &stream, std::slice::from_ref(&failing)));
            events.push(failing);
        }
        messages.push(EventsMessage {
            workspace_id: WS.into(),
            events,
        });
    }
    (messages, down)
}

/// Events every accepted request carried, against those sent: (lost, duplicates).
fn lost_and_duplicates(
    sent: &[String],
    accepted: &BTreeMap<String, usize>,
) -> (Vec<String>, usize) {
    let lost = sent
        .iter()
        .filter(|uuid| !accepted.contains_key(*uuid))
        .cloned()
        .collect();
    let duplicates = sent
        .iter()
        .filter_map(|uuid| accepted.get(uuid))
        .map(|n| n - 1)
        .sum();
    (lost, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_and_retries_lose_nothing_under_sqs_and_dead_letter_faults() {
    let started = Instant::now();
    let cloud = Cloud::start(Plan::new(18, 0.25)).await;
    let receiver = Receiver::start().await;
    cloud.apply_config(&config(&receiver.url)).await;
    let (messages, down) = workload();
    let delivered_by_rule: Vec<String> = messages
        .iter()
        .flat_map(|m| &m.events)
        .filter(|e| !e.event_code.starts_with("DOWN"))
        .map(|e| e.event_uuid.clone())
        .collect();
    cloud.direct.queues.events.send(&messages).await.unwrap();

    let dispatch = cloud.instance(Function::StreamDispatch);
    let retry = cloud.instance(Function::Retry);
    let consumers = [(QueueName::Events, &dispatch), (QueueName::Retry, &retry)];
    cloud.settle(&consumers, VISIBILITY, SETTLE).await;

    let (lost, duplicates) = lost_and_duplicates(&delivered_by_rule, &receiver.accepted());
    let kept = dlq::list(&cloud.direct, &Filter::default()).await.unwrap();
    let poison: Vec<_> = kept.iter().filter(|k| k.queue.is_some()).collect();
    let dead: BTreeSet<String> = kept.iter().map(|k| k.moe_request_id.clone()).collect();
    let attempts: BTreeSet<usize> = kept.iter().map(|k| k.attempts.len()).collect();
    let figures = cloud.proxy.figures();
    let to_down: Vec<_> = receiver
        .arrivals()
        .into_iter()
        .filter(|a| a.path.starts_with("/down/"))
        .collect();
    let down_requests = to_down.len();
    report(&format!(
        "faults/streams (seed {}): {MESSAGES} events messages, {} events to deliver: \
         lost {}, duplicates {duplicates}; {} dead letters for {} down batches, attempts {attempts:?}, \
         {down_requests} requests to the down streams; {figures}",
        cloud.proxy.seed(),
        delivered_by_rule.len(),
        lost.len(),
        kept.len(),
        down.len(),
    ));
    assert!(lost.is_empty(), "events never delivered: {lost:?}");
    assert!(poison.is_empty(), "messages dead-lettered: {poison:#?}");
    assert_eq!(
        dead, down,
        "only the down streams' batches are dead letters"
    );
    assert!(
        to_down.iter().all(|a| down.contains(&a.moe_request_id)),
        "every attempt carries its batch's moe_request_id"
    );
    assert_eq!(
        attempts,
        BTreeSet::from([4]),
        "each dead letter holds the send and its three retries"
    );
    assert!(figures.share() >= 0.2, "20–30 % faults: {figures}");

    // The receiver comes back; an operator replays (the CLI's `dlq replay`,
    // through the same faults, run again until it completes).
    receiver.bring_up();
    let cli = cloud.services();
    let mut runs = 1;
    while let Err(e) = dlq::replay(&cli, &Filter::default(), false, &|_, _| {}).await {
        assert!(runs < 20, "dlq replay kept failing: {e}");
        runs += 1;
    }
    let retry = cloud.instance(Function::Retry);
    cloud
        .settle(&[(QueueName::Retry, &retry)], VISIBILITY, SETTLE)
        .await;
    let down_events: Vec<String> = (0..DOWN).map(|m| format!("down-{m}")).collect();
    let (lost, duplicates) = lost_and_duplicates(&down_events, &receiver.accepted());
    let left = dlq::list(&cloud.direct, &Filter::default()).await.unwrap();
    report(&format!(
        "faults/streams: dlq replay in {runs} run(s): {} replayed events lost {}, duplicates {duplicates}, \
         dead letters left {}; {} in all",
        down_events.len(),
        lost.len(),
        left.len(),
        cloud.proxy.figures(),
    ));
    assert!(lost.is_empty(), "replayed events never delivered: {lost:?}");
    assert!(left.is_empty(), "dead letters left after replay: {left:#?}");
    report(&format!(
        "faults/streams: {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}
