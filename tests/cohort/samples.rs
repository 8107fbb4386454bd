//! The sample invocations in events/cohort-ingest go through the function's
//! dispatch (`shared::lambda::invoke`) exactly as Lambda delivers them.

use engage_bridge_tests::invoke;
use engage_bridge_tests::{Backend, contract_tests, workspace};
use serde_json::{Value, json};
use shared::config::UnknownCohortUsers;
use shared::topology::Function;

use crate::common::receive_all;

fn sample(name: &str) -> Value {
    let path = engage_bridge_tests::repo_root()
        .join("events/cohort-ingest")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn http(b: &Backend, name: &str) -> Value {
    let out = invoke(b, Function::CohortIngest, sample(name))
        .await
        .unwrap();
    assert_eq!(out["statusCode"], 200, "{name}: {out}");
    serde_json::from_str(out["body"].as_str().unwrap()).unwrap()
}

async fn samples_run_through_the_cohort_ingest_function(b: &Backend) {
    let mut demo = workspace("demo", "change-me");
    demo.unknown_cohort_users = UnknownCohortUsers::Create;
    b.workspaces.apply(&[demo]).await.unwrap();

    let created = http(b, "amplitude-list-create.json").await;
    assert_eq!(created["listId"], "amplitude-7khm89cz");
    let added = http(b, "amplitude-list-add.json").await;
    assert_eq!(
        (added["action"].clone(), added["staged_users"].clone()),
        (json!("Added"), json!(2))
    );
    let webhook = http(b, "amplitude-cohort-webhook.json").await;
    assert_eq!(webhook["staged_users"], 2, "{webhook}");
    let segments = http(b, "segments-list.json").await;
    assert_eq!(segments["segments"][0]["sync_count"], 2);

    // The SQS sample is one staged message as the consumer receives it.
    let out = invoke(b, Function::CohortIngest, sample("sqs-cohort-changes.json"))
        .await
        .unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    let messages = receive_all(b.queues.events.as_ref(), std::time::Duration::from_secs(30)).await;
    let events = engage_bridge_tests::queued_events(&messages);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.event_name == "Partner Sync"
        && e.event_time == 1_692_206_763
        && e.event_attributes["Partner Segment Name"] == "My Test Cohort"));
}

contract_tests!(samples_run_through_the_cohort_ingest_function);
