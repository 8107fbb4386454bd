//! The real `cohort-ingest` binary killed mid-batch (SIGKILL right after a
//! membership transaction was applied and before it saw the answer, as
//! Lambda ends a function that times out or runs out of memory), its batch
//! delivered again after the visibility timeout to a new instance — all
//! under 25 % DynamoDB and SQS faults (docs/architecture.md "Nothing
//! acknowledged is lost"). Every staged member is applied and counted
//! once, every change announced; nothing is dead-lettered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use engage_bridge_tests::faults::cloud::{Cloud, api_request, http, report, sqs_event};
use engage_bridge_tests::faults::{Fault, Plan};
use engage_bridge_tests::runtime_api::{FunctionProcess, Reported, RuntimeApi};
use engage_bridge_tests::{basic, take_all};
use serde_json::{Value, json};
use shared::domain::{EventsMessage, PageRequest};
use shared::lambda::Handler;
use shared::topology::{Function, QueueName};

const BIN: &str = env!("CARGO_BIN_EXE_cohort-ingest");
const WS: &str = "acme";
const SECRET: &str = "acme-secret";
const COHORTS: [&str; 3] = ["k1", "k2", "k3"];
const USERS: usize = 40;
/// The event source's visibility timeout here (template.yaml: 360 s).
const VISIBILITY: Duration = Duration::from_secs(3);

fn uids(cohort: &str) -> Vec<String> {
    (0..USERS)
        .map(|i| format!("{cohort}-user-{i:02}"))
        .collect()
}

/// The three cohorts' webhooks, acknowledged (straight to moto): three
/// staged messages on the cohort queue.
async fn stage(cloud: &Cloud) {
    let ingest = Handler::new(cloud.direct.services.clone(), Function::CohortIngest);
    let auth = basic(WS, SECRET);
    for (n, cohort) in COHORTS.iter().enumerate() {
        let body = json!({
            "cohort_name": format!("Cohort {cohort}"), "cohort_id": cohort, "in_cohort": true,
            "computed_time": (1_795_000_000 + n).to_string(), "message_id": format!("m-{cohort}"),
            "users": uids(cohort).iter().map(|u| json!({"user_id": u})).collect::<Vec<_>>(),
        });
        let request = api_request(
            "POST",
            "/v1/amplitude/cohorts",
            &[("authorization", &auth)],
            &body.to_string(),
        );
        let (status, answer) = http(&ingest, request).await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// Receives `n` messages of the cohort queue, hidden for the visibility
/// timeout, as the event source does.
async fn receive(cloud: &Cloud, n: usize) -> Vec<shared::ports::Received> {
    let queue = cloud.direct.queues.raw(QueueName::Cohort);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batch = Vec::new();
    while batch.len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} messages visible within 30 s"
        );
        let got = queue
            .receive(n - batch.len(), VISIBILITY, Duration::from_secs(1))
            .await
            .unwrap();
        batch.extend(got);
    }
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_killed_mid_batch_loses_nothing_when_its_batch_comes_back() {
    let started = Instant::now();
    // Slow answers cost production's 3 s attempt timeout each: left out.
    let cloud = Cloud::start(Plan::new(29, 0.25).without(Fault::Slow)).await;
    cloud
        .apply_config(&format!(
            "[[workspaces]]\nid = \"{WS}\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\n\
             unknown_cohort_users = \"create\"\n"
        ))
        .await;
    stage(&cloud).await;
    // The functions' AWS calls go through the fault proxy.
    let mut env = cloud.resources.env_vars().to_vec();
    env.push(("AWS_ENDPOINT_URL", cloud.proxy.url()));
    let api = RuntimeApi::start().await;
    let source = cloud.direct.queues.raw(QueueName::Cohort);
    let arn = source.source_arn();

    // The batch goes to an instance that dies right after its second
    // transaction is applied (profiles or memberships), before the answer.
    let first = FunctionProcess::start(BIN, "cohort-ingest", &api, &env);
    let batch = receive(&cloud, COHORTS.len()).await;
    let held = cloud.proxy.hold_after("TransactWriteItems", 2);
    let killed = api.invoke(sqs_event(&batch, &arn));
    tokio::time::timeout(Duration::from_secs(60), held)
        .await
        .expect("the instance reached its second transaction")
        .unwrap();
    first.stop();
    let answered = |id: String| move |r: &Reported| matches!(r, Reported::Response { id: i, .. } | Reported::Error { id: i, .. } if *i == id);
    assert!(
        api.wait_for(answered(killed), Duration::from_millis(200))
            .await
            .is_none(),
        "the killed instance never answered"
    );

    // After the visibility timeout the batch comes back, to a new instance;
    // what it reports failed comes back again, until the queue is empty.
    let second = FunctionProcess::start(BIN, "cohort-ingest", &api, &env);
    let mut invocations = 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    while cloud.depth(QueueName::Cohort).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the cohort queue drained within 120 s"
        );
        let batch = source
            .receive(10, VISIBILITY, Duration::from_secs(1))
            .await
            .unwrap();
        if batch.is_empty() {
            continue;
        }
        invocations += 1;
        let id = api.invoke(sqs_event(&batch, &arn));
        let failed: Vec<String> = match api.outcome(&id).await {
            Reported::Response { body, .. } => body["batchItemFailures"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect(),
            _ => batch.iter().map(|m| m.message_id.clone()).collect(),
        };
        let done: Vec<String> = batch
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .map(|m| m.receipt_handle.clone())
            .collect();
        source.delete(&done).await.unwrap();
    }
    second.stop();

    // Every member applied and counted once.
    let direct = &cloud.direct;
    for cohort in COHORTS {
        let segment_id = format!("amplitude-{cohort}");
        let members = direct
            .segments
            .list_members(WS, &segment_id, &PageRequest::first(1000))
            .await
            .unwrap();
        let stored: BTreeSet<String> = members.items.iter().filter_map(|m| m.uid.clone()).collect();
        assert_eq!(
            stored,
            uids(cohort).into_iter().collect(),
            "members of {cohort}"
        );
        let segment = direct
            .segments
            .get_segment(WS, &segment_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            segment.member_count, USERS as i64,
            "member_count of {cohort}"
        );
    }
    // Every change announced (repeats only with the same uuid).
    let queued: Vec<Value> = take_all(direct.queues.raw(QueueName::Events).as_ref())
        .await
        .iter()
        .flat_map(|m| {
            serde_json::from_str::<EventsMessage>(&m.body)
                .unwrap()
                .events
        })
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let announced: BTreeSet<(String, String)> = queued
        .iter()
        .map(|e| {
            let cohort = e["event_attributes"]["Partner Segment ID"]
                .as_str()
                .unwrap_or_default();
            (
                cohort.to_owned(),
                e["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let uuids: BTreeSet<&str> = queued
        .iter()
        .filter_map(|e| e["event_uuid"].as_str())
        .collect();
    let expected: BTreeSet<(String, String)> = COHORTS
        .iter()
        .flat_map(|c| uids(c).into_iter().map(|u| (c.to_string(), u)))
        .collect();
    let lost: Vec<_> = expected.difference(&announced).collect();
    let kept = shared::streams::dlq::list(direct, &Default::default())
        .await
        .unwrap();
    report(&format!(
        "faults/killed (seed {}): {} members staged in {} messages; instance killed mid-batch, \
         {invocations} invocations in all; lost {}, announcements {} ({} distinct); dead letters {}; {}; {:.1} s",
        cloud.proxy.seed(),
        expected.len(),
        COHORTS.len(),
        lost.len(),
        queued.len(),
        uuids.len(),
        kept.len(),
        cloud.proxy.figures(),
        started.elapsed().as_secs_f64(),
    ));
    assert!(lost.is_empty(), "changes never announced: {lost:?}");
    assert_eq!(
        uuids.len(),
        expected.len(),
        "one uuid per change: repeats only"
    );
    assert!(kept.is_empty(), "nothing dead-lettered: {kept:#?}");
}
