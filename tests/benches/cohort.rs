//! Benchmark: one 10 000-user Amplitude cohort sync, acknowledged and then
//! applied by the cohort-queue consumer, on the embedded SQLite store and
//! (when `ENGAGE_BRIDGE_TEST_MOTO_URL` is set) on DynamoDB/SQS in moto.
//!
//! Run with `cargo bench -p engage-bridge-tests --bench cohort`. Reports the
//! ack latency, the time until every change is applied and announced, and
//! on moto the DynamoDB and SQS requests engage-bridge made (the emulated
//! SQS trigger uses its own client, uncounted: on AWS, Lambda polls).
//! `ENGAGE_BRIDGE_BENCH_USERS` changes the request size (default 10 000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use engage_bridge_tests::{basic, moto_sdk_config, unique, workspace};
use http::StatusCode;
use serde_json::{Value, json};
use shared::config::UnknownCohortUsers;
use shared::domain::{ProfileKey, ProfileUpdate};
use shared::ports::Queue;
use shared::runtime::Services;
use shared::store::aws::{SqsQueue, provision};

const WS: &str = "bench";
const SECRET: &str = "bench-secret";
const SEGMENT: &str = "amplitude-bench01";

#[derive(Clone, Copy)]
enum Scenario {
    /// Every user has a profile: 90 % matched by user_id, 10 % device-only
    /// users matched by anonymous id.
    Known,
    /// No user has a profile; `unknown_cohort_users = "create"`.
    Create,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Self::Known => "all users known (9 000 by user_id, 1 000 by device id)",
            Self::Create => "all users unknown, `create`",
        }
    }
}

fn is_device_only(i: usize) -> bool {
    i % 10 == 9
}

fn body(n: usize) -> Value {
    let users: Vec<Value> = (0..n)
        .map(|i| {
            if is_device_only(i) {
                json!({"user_id": null, "device_id": format!("device-{i:05}")})
            } else {
                json!({"user_id": format!("user-{i:05}@example.com"), "user_properties": {"country": "US"}})
            }
        })
        .collect();
    json!({
        "cohort_name": "Benchmark cohort", "cohort_id": "bench01", "in_cohort": true,
        "computed_time": "1692206763", "message_id": "bench::enter::0", "users": users
    })
}

async fn create_profiles(services: &Services, n: usize) {
    let updates: Vec<ProfileUpdate> = (0..n)
        .map(|i| {
            ProfileUpdate::new(if is_device_only(i) {
                ProfileKey::AnonymousId(format!("device-{i:05}"))
            } else {
                ProfileKey::Uid(format!("user-{i:05}@example.com"))
            })
        })
        .collect();
    for chunk in updates.chunks(1_000) {
        services
            .profiles
            .update_profiles(WS, chunk)
            .await
            .expect("profiles");
    }
}

struct Figures {
    ack: Duration,
    staged_messages: u64,
    applied_after: Duration,
    handler_calls: usize,
    /// (during the ack, during the apply)
    dynamodb: Option<(u64, u64)>,
    sqs: Option<(u64, u64)>,
}

/// Sends the request, then drains the cohort queue through the consumer
/// like the SQS trigger (batches of 10, successes deleted).
async fn ingest_and_apply(
    services: &Services,
    trigger: Arc<dyn Queue>,
    counts: Option<&Services>,
    n: usize,
) -> Figures {
    let payload = body(n).to_string().into_bytes();
    let request = http::Request::builder()
        .method("POST")
        .uri("/v1/amplitude/cohorts")
        .header("authorization", basic(WS, SECRET))
        .header("content-type", "application/json")
        .body(payload)
        .expect("request");
    let snapshot = || counts.and_then(Services::aws_request_counts);
    let before = snapshot();
    let start = Instant::now();
    let response = engage_bridge_tests::call(services, request).await;
    let ack = start.elapsed();
    let acked = snapshot();
    let ack_body: Value = serde_json::from_slice(response.body()).expect("json ack");
    assert_eq!(response.status(), StatusCode::OK, "{ack_body}");

    let mut handler_calls = 0;
    loop {
        let batch = trigger
            .receive(10, Duration::from_secs(300), Duration::ZERO)
            .await
            .expect("receive");
        if batch.is_empty() {
            break;
        }
        let result =
            engage_bridge_tests::consume(services, shared::topology::QueueName::Cohort, &batch)
                .await;
        assert!(result.redeliver.is_empty(), "a staged message failed");
        let handles: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        trigger.delete(&handles).await.expect("delete");
        handler_calls += 1;
    }
    let applied_after = start.elapsed();
    let applied = snapshot();
    let delta = |i: usize| {
        Some((
            pick(acked?, i) - pick(before?, i),
            pick(applied?, i) - pick(acked?, i),
        ))
    };
    Figures {
        ack,
        staged_messages: ack_body["staged_messages"].as_u64().unwrap_or(0),
        applied_after,
        handler_calls,
        dynamodb: delta(0),
        sqs: delta(1),
    }
}

fn pick(pair: (u64, u64), i: usize) -> u64 {
    if i == 0 { pair.0 } else { pair.1 }
}

async fn check(services: &Services, events: &dyn Queue, n: usize) {
    let segment = services
        .segments
        .get_segment(WS, SEGMENT)
        .await
        .expect("segment")
        .expect("segment exists");
    assert_eq!(segment.member_count, n as i64, "every user applied");
    // Partner Sync events are packed 100 per events-queue message.
    let messages = events.approximate_len().await.expect("events queue length");
    assert_eq!(messages, n.div_ceil(100) as u64, "one event per change");
}

fn report(backend: &str, scenario: Scenario, n: usize, f: &Figures) {
    println!("{backend}, {}:", scenario.label());
    println!("  users per request          {n}");
    println!(
        "  ack latency                {:.0} ms",
        f.ack.as_secs_f64() * 1e3
    );
    println!("  staged messages            {}", f.staged_messages);
    println!("  consumer invocations       {}", f.handler_calls);
    println!(
        "  applied + announced after  {:.2} s",
        f.applied_after.as_secs_f64()
    );
    if let (Some((d_ack, d_apply)), Some((s_ack, s_apply))) = (f.dynamodb, f.sqs) {
        println!(
            "  DynamoDB requests          {} (ack {d_ack}, apply {d_apply})",
            d_ack + d_apply
        );
        println!(
            "  SQS requests               {} (ack {s_ack}, apply {s_apply})",
            s_ack + s_apply
        );
    }
}

async fn sqlite(scenario: Scenario, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let services =
        Services::sqlite(&dir.path().join("bench.db"), Default::default()).expect("sqlite");
    let mut ws = workspace(WS, SECRET);
    if let Scenario::Create = scenario {
        ws.unknown_cohort_users = UnknownCohortUsers::Create;
    }
    services.workspaces.apply(&[ws]).await.expect("workspace");
    if let Scenario::Known = scenario {
        create_profiles(&services, n).await;
    }
    let figures = ingest_and_apply(&services, services.queues.cohort.raw().clone(), None, n).await;
    check(&services, services.queues.events.as_ref(), n).await;
    report("SQLite (embedded)", scenario, n, &figures);
}

async fn moto(scenario: Scenario, n: usize) {
    let sdk = moto_sdk_config().await;
    let resources = provision::create_resources(&sdk, &unique("bench"))
        .await
        .expect("moto resources");
    let services = Services::aws(&sdk, &resources, Default::default());
    let mut ws = workspace(WS, SECRET);
    if let Scenario::Create = scenario {
        ws.unknown_cohort_users = UnknownCohortUsers::Create;
    }
    services.workspaces.apply(&[ws]).await.expect("workspace");
    if let Scenario::Known = scenario {
        create_profiles(&services, n).await;
    }
    // The emulated trigger and the checks use their own, uncounted client.
    let client = shared::store::aws::Clients::new(&sdk).sqs;
    let trigger = Arc::new(SqsQueue::new(client.clone(), &resources.cohort_queue_url));
    let events = SqsQueue::new(client, &resources.events_queue_url);
    let figures = ingest_and_apply(&services, trigger, Some(&services), n).await;
    check(&services, &events, n).await;
    report("DynamoDB + SQS (moto)", scenario, n, &figures);
}

fn main() {
    let n: usize = std::env::var("ENGAGE_BRIDGE_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for scenario in [Scenario::Known, Scenario::Create] {
            sqlite(scenario, n).await;
        }
        if std::env::var(engage_bridge_tests::MOTO_ENV).is_ok() {
            for scenario in [Scenario::Known, Scenario::Create] {
                moto(scenario, n).await;
            }
        } else {
            println!(
                "(set {} to also run against moto)",
                engage_bridge_tests::MOTO_ENV
            );
        }
    });
}
