//! The Lambda edges: the sample invocations in events/ go through the same
//! dispatch the deployed functions run.

use engage_bridge_tests::{repo_root, sqlite, workspace};
use serde_json::Value;
use shared::lambda::{Function, Invocation, classify, invoke};

fn sample(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("events").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn samples_are_classified_by_shape() {
    assert!(matches!(
        classify(sample("cohort-ingest/segments-list.json")).unwrap(),
        Invocation::Http(_)
    ));
    assert!(matches!(
        classify(sample("stream-dispatch/sqs-events.json")).unwrap(),
        Invocation::Sqs(_)
    ));
    assert!(matches!(
        classify(sample("retry/sqs-retry.json")).unwrap(),
        Invocation::Sqs(_)
    ));
    assert!(matches!(
        classify(sample("mparticle-ingest/firehose-module-registration.json")).unwrap(),
        Invocation::Direct(_)
    ));
}

#[tokio::test]
async fn api_gateway_requests_reach_the_router() {
    let b = sqlite();
    b.apply_workspaces(&[workspace("demo", "change-me")])
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

    // A wrong secret in the same envelope is a 401.
    let mut bad = sample("cohort-ingest/segments-list.json");
    bad["headers"]["authorization"] = "Basic ZGVtbzp3cm9uZw==".into();
    let out = invoke(&b, Function::CohortIngest, bad).await.unwrap();
    assert_eq!(out["statusCode"], 401);
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
}
