//! The Lambda edge: the sample invocations in events/ go through the same
//! handler the deployed functions run (HTTP through the shared router, SQS
//! through the shared batch loop, Firehose direct invocations).

use engage_bridge_tests::receiver::Recorder;
use engage_bridge_tests::{invoke, repo_root, sqlite, workspace};
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use shared::topology::Function;

fn sample(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("events").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn api_gateway_requests_reach_the_router() {
    let b = sqlite();
    b.workspaces
        .apply(&[workspace("demo", "change-me")])
        .await
        .unwrap();
    let out = invoke(
        &b,
        Function::CohortIngest,
        sample("cohort-ingest/segments-list.json"),
    )
    .await
    .unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["segments"], serde_json::json!([]));
    // The request id of API Gateway's context is the one answered.
    let context_id =
        sample("cohort-ingest/segments-list.json")["requestContext"]["requestId"].clone();
    assert_eq!(out["headers"]["x-request-id"], context_id, "{out}");

    // A wrong secret in the same envelope is a 401.
    let mut bad = sample("cohort-ingest/segments-list.json");
    bad["headers"]["authorization"] = "Basic ZGVtbzp3cm9uZw==".into();
    let out = invoke(&b, Function::CohortIngest, bad).await.unwrap();
    assert_eq!(out["statusCode"], 401);
}

#[tokio::test]
async fn each_function_mounts_only_its_own_routes() {
    let b = sqlite();
    b.workspaces
        .apply(&[workspace("demo", "change-me")])
        .await
        .unwrap();
    // The segments route belongs to cohort-ingest, not to mparticle-ingest.
    let out = invoke(
        &b,
        Function::MparticleIngest,
        sample("cohort-ingest/segments-list.json"),
    )
    .await
    .unwrap();
    assert_eq!(out["statusCode"], 404, "{out}");
}

/// The workspace `demo` of the samples with a stream `warehouse` to `url`.
async fn demo_with_warehouse(b: &engage_bridge_tests::Backend, url: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"demo\"\nsecret = \"change-me\"\napp_name = \"Demo App\"\n\n\
         [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{url}\"\n"
    );
    let config = shared::config::parse(&text).unwrap();
    b.workspaces.apply(&config.workspaces).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batches_and_direct_invocations_reach_their_handlers() {
    let b = sqlite();
    let recorder = Recorder::new(503);
    let receiver = recorder.serve().await;
    demo_with_warehouse(&b, &receiver.uri()).await;

    // A retry that fails with retries left stays on the queue: its id is
    // the one failure the answer names.
    let retry = sample("retry/sqs-retry.json");
    let id = retry["Records"][0]["messageId"].clone();
    let out = invoke(&b, Function::Retry, retry.clone()).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": [{"itemIdentifier": id}]}));
    // Delivered: nothing left to retry.
    recorder.set_status(200);
    let out = invoke(&b, Function::Retry, retry).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));

    // Dispatch: delivered (or parked on the retry queue), so no failures.
    let out = invoke(
        &b,
        Function::StreamDispatch,
        sample("stream-dispatch/sqs-events.json"),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    let uuids: Vec<Value> = recorder
        .bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .map(|e| e["event_uuid"].clone())
        .collect();
    let sample_uuids = |path: &str| -> Vec<Value> {
        let body = sample(path)["Records"][0]["body"]
            .as_str()
            .unwrap()
            .to_owned();
        let message: Value = serde_json::from_str(&body).unwrap();
        let events = message["events"].as_array().unwrap().clone();
        events.iter().map(|e| e["event_uuid"].clone()).collect()
    };
    let retried = sample_uuids("retry/sqs-retry.json");
    let expected: Vec<Value> = [retried.clone(), retried]
        .concat()
        .into_iter()
        .chain(sample_uuids("stream-dispatch/sqs-events.json"))
        .collect();
    assert_eq!(uuids, expected, "2 retries, then the dispatch");
    let out = invoke(
        &b,
        Function::MparticleIngest,
        sample("mparticle-ingest/firehose-module-registration.json"),
    )
    .await
    .unwrap();
    assert_eq!(out["type"], "module_registration_response", "{out}");
}

#[tokio::test]
async fn functions_refuse_invocations_they_are_not_wired_for() {
    let b = sqlite();
    let err = invoke(
        &b,
        Function::StreamDispatch,
        sample("cohort-ingest/segments-list.json"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("HTTP"), "{err}");
    let err = invoke(&b, Function::Retry, serde_json::json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("direct"), "{err}");
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "UnsupportedInvocation");
}
