//! Benchmark: streams. Run with `cargo bench -p engage-bridge-tests --bench streams`.
//!
//! 1. End-to-end events/s on the embedded store: mParticle Events-API
//!    requests → the events queue → the stream-dispatch consumer `serve`
//!    runs → a local webhook receiver.
//! 2. SQS and DynamoDB requests per 1 000 events dispatched, against moto
//!    (when ENGAGE_BRIDGE_TEST_MOTO_URL is set; scripts/test sets it), and
//!    what the delivery log writes for them: requests, items and write
//!    units by DynamoDB's item-size rules (BENCHMARKS.md "Cost per million
//!    streamed events on AWS").

use std::time::{Duration, Instant};

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::{Backend, aws, sqlite};
use serde_json::json;
use shared::config;
use shared::domain::Event;
use shared::domain::EventsMessage;
use shared::queue::consumer::{self, ConsumerOptions};
use shared::topology::QueueName;
use tokio::sync::watch;

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            serde_json::from_value(json!({
                "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
                "event_uuid": format!("bench-{i}"), "event_time": 1_700_000_000,
                "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
                "uid": format!("user-{}", i % 500), "email_id": "a@example.com",
                "event_attributes": {"campaign_id": "c1", "campaign_name": "Bench", "campaign_type": "General", "campaign_channel": "Email"}
            }))
            .unwrap()
        })
        .collect()
}

async fn setup(b: &Backend, url: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"ws\"\nsecret = \"s\"\napp_name = \"Bench\"\n\
         [[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"{url}\"\n"
    );
    b.workspaces
        .apply(&config::parse(&text).unwrap().workspaces)
        .await
        .unwrap();
}

async fn enqueue(b: &Backend, events: &[Event]) {
    let messages = EventsMessage::pack("ws", events).unwrap();
    b.queues.events.send_encoded(messages).await.unwrap();
}

fn delivered(recorder: &Recorder) -> usize {
    recorder
        .bodies()
        .iter()
        .map(|b| b["events"].as_array().map_or(0, Vec::len))
        .sum()
}

/// One mParticle Events-API batch: one user, 100 custom events.
fn mparticle_batch(batch: usize) -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            json!({"event_type": "custom_event", "data": {
                "event_name": "Song Played", "custom_event_type": "other",
                "event_id": format!("{batch}-{i}"), "timestamp_unixtime_ms": 1_700_000_000_000i64 + i,
                "custom_attributes": {"song": "Bench", "position": i}
            }})
        })
        .collect();
    serde_json::to_vec(&json!({
        "user_identities": [{"identity_type": "customer_id", "identity": format!("user-{batch}")}],
        "user_attributes": {"$FirstName": "Ada", "plan": "gold"},
        "events": events
    }))
    .unwrap()
}

async fn embedded_throughput(n: usize) {
    let b = sqlite();
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    setup(&b, &server.uri()).await;
    let requests: Vec<Vec<u8>> = (0..n / 100).map(mparticle_batch).collect();
    let (stop, stopped) = watch::channel(false);
    let services = b.services.clone();
    let queue = services.queues.events.raw().clone();
    let started = Instant::now();
    let worker = tokio::spawn(async move {
        consumer::run(
            "stream-dispatch",
            queue,
            ConsumerOptions::default(),
            stopped,
            engage_bridge_tests::consumer_handler(&services, QueueName::Events),
        )
        .await
    });
    for body in requests {
        let request = http::Request::builder()
            .method("POST")
            .uri("/v1/mparticle/events")
            .header("authorization", engage_bridge_tests::basic("ws", "s"))
            .body(body)
            .unwrap();
        let response = engage_bridge_tests::call(&b, request).await;
        assert_eq!(
            response.status(),
            200,
            "{}",
            String::from_utf8_lossy(response.body())
        );
    }
    let ingested = started.elapsed();
    wait_for(async || delivered(&recorder) >= n, Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    stop.send(true).unwrap();
    worker.await.unwrap();
    println!(
        "embedded: {n} events via {} mParticle requests (ingested in {:.2} s) → queue → dispatch → received in {:.2} s = {:.0} events/s end to end ({} webhook requests)",
        n / 100,
        ingested.as_secs_f64(),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        recorder.bodies().len()
    );
}

async fn aws_requests_per_1000() {
    if std::env::var(engage_bridge_tests::MOTO_ENV).is_err() {
        println!(
            "aws: skipped ({} not set; run via scripts/test)",
            engage_bridge_tests::MOTO_ENV
        );
        return;
    }
    let b = aws().await;
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    setup(&b, &server.uri()).await;
    let (dynamo0, sqs0) = b.aws_request_counts().unwrap();
    enqueue(&b, &events(1000)).await;
    let (dynamo1, sqs1) = b.aws_request_counts().unwrap();
    loop {
        let received = b
            .queues
            .events
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        if received.is_empty() {
            break;
        }
        let outcome = engage_bridge_tests::consume(&b, QueueName::Events, &received).await;
        assert!(outcome.redeliver.is_empty());
        let handles: Vec<String> = received.into_iter().map(|m| m.receipt_handle).collect();
        b.queues.events.delete(&handles).await.unwrap();
    }
    let (dynamo2, sqs2) = b.aws_request_counts().unwrap();
    assert_eq!(delivered(&recorder), 1000);
    println!(
        "aws (moto): 1000 events: enqueue {} SQS requests; dispatch {} SQS + {} DynamoDB requests \
         (receive/delete per 10 messages of 100 events; one BatchGetItem-backed profile lookup per message)",
        sqs1 - sqs0,
        sqs2 - sqs1,
        dynamo2 - dynamo1
    );
    let _ = dynamo0;

    // The delivery log's writer flushes in the background (every 200 ms).
    let table = &b.resources.as_ref().unwrap().state_table;
    let client = aws_sdk_dynamodb::Client::new(&engage_bridge_tests::moto_sdk_config().await);
    let log_items = async || -> Vec<Item> {
        let out = client.scan().table_name(table).send().await.unwrap();
        let items = out.items().iter().cloned();
        items.filter(|i| pk_has(i, "#DL")).collect()
    };
    let entries = |items: &[Item]| items.iter().filter(|i| pk_has(i, "#DL#")).count();
    wait_for(
        async || entries(&log_items().await) >= 10,
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (dynamo3, _) = b.aws_request_counts().unwrap();
    let items = log_items().await;
    let bytes: Vec<usize> = items.iter().map(item_bytes).collect();
    let units: usize = bytes.iter().map(|b| b.div_ceil(1024)).sum();
    println!(
        "aws (moto): delivery log for those 1000 events (10 attempts): {} DynamoDB requests, {} items, \
         {:.1} KB, {} write units (item sizes by DynamoDB's rules; largest item {} bytes)",
        dynamo3 - dynamo2,
        items.len(),
        bytes.iter().sum::<usize>() as f64 / 1024.0,
        units,
        bytes.iter().max().copied().unwrap_or(0)
    );
}

type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

fn pk_has(item: &Item, part: &str) -> bool {
    let pk = item.get("pk").and_then(|v| v.as_s().ok());
    pk.is_some_and(|pk| pk.contains(part))
}

/// An item's size as DynamoDB bills it: names plus values (a number is
/// about one byte per two digits, plus one).
fn item_bytes(item: &Item) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    fn value(v: &V) -> usize {
        match v {
            V::S(s) => s.len(),
            V::N(n) => n.len().div_ceil(2) + 1,
            V::B(b) => b.as_ref().len(),
            V::Ss(v) => v.iter().map(String::len).sum(),
            V::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
            V::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            V::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>(),
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    embedded_throughput(20_000).await;
    aws_requests_per_1000().await;
}
