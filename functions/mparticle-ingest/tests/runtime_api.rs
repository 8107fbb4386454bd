//! The real `mparticle-ingest` binary under a Lambda runtime API emulator
//! (docs/interface/observability.md "Lambda"): each kind of failed
//! invocation reports its own `errorType` (what CloudWatch, X-Ray and
//! mParticle see), a missing `ENGAGE_BRIDGE_*` variable is an init error
//! with a clear message, and every stdout line is JSON with `timestamp`,
//! `level` and `message` at the top level, or an EMF metrics record.

use std::time::Duration;

use engage_bridge_tests::runtime_api::{
    FunctionProcess, Reported, RuntimeApi, check_lines, emf_records,
};
use engage_bridge_tests::{aws, repo_root, workspace};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mparticle-ingest");

fn start(api: &RuntimeApi, env: &[(&str, &str)]) -> FunctionProcess {
    FunctionProcess::start(BIN, "mparticle-ingest", api, env)
}

fn firehose(secret: &str) -> Value {
    let text = std::fs::read_to_string(
        repo_root().join("events/mparticle-ingest/firehose-event-processing.json"),
    )
    .unwrap();
    let mut request: Value = serde_json::from_str(&text).unwrap();
    request["account"]["account_settings"] = json!({"workspace_id": "acme", "secret_key": secret});
    request
}

fn error_of(reported: &Reported) -> (Option<String>, Value) {
    match reported {
        Reported::Error { header, body, .. } => (header.clone(), body.clone()),
        other => panic!("expected an invocation error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_invocations_report_an_error_type_per_kind() {
    let backend = aws().await;
    backend
        .workspaces
        .put_workspace(&workspace("acme", "acme-secret"))
        .await
        .unwrap();
    let resources = backend.resources.clone().unwrap();
    let api = RuntimeApi::start().await;
    let function = start(&api, &resources.env_vars());

    let ok = api.invoke(firehose("acme-secret"));
    match api.outcome(&ok).await {
        Reported::Response { body, .. } => {
            assert_eq!(body["type"], "event_processing_response", "{body}")
        }
        other => panic!("a valid request succeeds: {other:?}"),
    }

    let wrong_secret = api.invoke(firehose("not-the-secret"));
    let (header, body) = error_of(&api.outcome(&wrong_secret).await);
    assert_eq!(body["errorType"], "Unauthorized", "{body}");
    assert_eq!(header.as_deref(), Some("unhandled"));
    assert!(
        !body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("acme-secret")
    );

    let mut malformed = firehose("acme-secret");
    malformed["events"] = json!([{"type": "custom_event", "id": "e", "name": ["x"]}]);
    let malformed = api.invoke(malformed);
    let (_, body) = error_of(&api.outcome(&malformed).await);
    assert_eq!(body["errorType"], "InvalidRequest", "{body}");
    assert_eq!(
        body["errorMessage"],
        "invalid request body at events[0].name: expected a string, found an array"
    );

    let sqs = api
        .invoke(json!({"Records": [{"eventSource": "aws:sqs", "body": "{}", "messageId": "m"}]}));
    let (_, body) = error_of(&api.outcome(&sqs).await);
    assert_eq!(body["errorType"], "UnsupportedInvocation", "{body}");

    // An HTTP request through API Gateway: answered, not failed, and counted.
    let text =
        std::fs::read_to_string(repo_root().join("events/mparticle-ingest/events-batch.json"))
            .unwrap();
    let mut http: Value = serde_json::from_str(&text).unwrap();
    http["headers"]["authorization"] = json!(engage_bridge_tests::basic("acme", "acme-secret"));
    let http = api.invoke(http);
    match api.outcome(&http).await {
        Reported::Response { body, .. } => assert_eq!(body["statusCode"], 200, "{body}"),
        other => panic!("an HTTP invocation is answered: {other:?}"),
    }

    let (stdout, _) = function.stop();
    let lines = check_lines(&stdout);
    // The invocation's metrics, as CloudWatch EMF beside its logs.
    let emf = *emf_records(&lines, "engage_bridge_http_requests_total")
        .first()
        .unwrap_or_else(|| panic!("an EMF line counts the request: {stdout}"));
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "EngageBridge"
    );
    assert_eq!(emf["route"], "/v1/mparticle/events");
    assert_eq!(emf["status"], "200");
    assert_eq!(emf["engage_bridge_http_requests_total"], 1);
    assert!(
        emf_records(&lines, "engage_bridge_events_ingested_total")
            .iter()
            .any(|l| l["workspace_id"] == "acme"),
        "{stdout}"
    );
    let access = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("an access line: {stdout}"));
    assert_eq!(
        access["request_id"], "Q1a2b3c4d5e6f7g=",
        "API Gateway's request id"
    );
    assert_eq!(access["status"], 200);

    let failed = lines
        .iter()
        .find(|l| l["message"] == "invocation refused" && l["error_type"] == "Unauthorized")
        .unwrap_or_else(|| panic!("a refused invocation is logged at WARN: {stdout}"));
    assert_eq!(failed["level"], "WARN");
    assert!(
        failed["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("invocation-")),
        "the invocation's request id at the top level: {failed}"
    );
    assert!(!stdout.contains("acme-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_store_unavailable() {
    let backend = aws().await;
    let mut resources = backend.resources.clone().unwrap();
    resources.config_table = "no-such-table".into();
    let api = RuntimeApi::start().await;
    let function = start(&api, &resources.env_vars());
    let id = api.invoke(firehose("acme-secret"));
    let (_, body) = error_of(&api.outcome(&id).await);
    assert_eq!(body["errorType"], "StoreUnavailable", "{body}");
    // The answer names no internals; the log line says what failed, in one line.
    assert_eq!(body["errorMessage"], "internal error");
    let (stdout, _) = function.stop();
    let lines = check_lines(&stdout);
    let failed = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("the failure is logged at ERROR: {stdout}"));
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("DynamoDB refused the request: ResourceNotFoundException"),
        "{error}"
    );
    assert!(!error.contains('\n'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_is_an_init_error_naming_it() {
    let api = RuntimeApi::start().await;
    let mut function = start(&api, &[]);
    let reported = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("the init error is posted to the runtime API");
    let Reported::InitError { header, body } = reported else {
        unreachable!()
    };
    assert_eq!(body["errorType"], "ConfigurationError", "{body}");
    assert_eq!(header.as_deref(), Some("ConfigurationError"));
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ENGAGE_BRIDGE_CONFIG_TABLE"),
        "{body}"
    );
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = function.exited() {
                return (status, function);
            }
            assert!(std::time::Instant::now() < deadline, "the function exits");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let (status, function) = status;
    assert!(!status.success());
    let (stdout, _) = function.stop();
    let lines = check_lines(&stdout);
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["error"]
                .as_str()
                .is_some_and(|e| e.contains("ENGAGE_BRIDGE_CONFIG_TABLE"))),
        "{stdout}"
    );
}
