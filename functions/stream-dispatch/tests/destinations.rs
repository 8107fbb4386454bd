//! The default a deployed stack runs with: private destinations denied
//! (docs/interface/streams.md "Destinations"; template parameter
//! `PrivateDestinations`, default `deny`). The real `stream-dispatch`
//! binary, with no `ENGAGE_BRIDGE_PRIVATE_DESTINATIONS` set, on moto: a
//! stream to a receiver on 127.0.0.1 gets nothing; the refusal is in the
//! attempt, the log and the metric, and the retries (the `retry`
//! function's consumer, on the same defaults) end in a dead letter that
//! says why.

use std::time::Duration;

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::runtime_api::{
    FunctionProcess, Reported, RuntimeApi, check_lines, emf_records,
};
use engage_bridge_tests::{aws_as_deployed, run_retry_consumer};
use serde_json::{Value, json};
use shared::streams::dlq::{self, Filter};

const BIN: &str = env!("CARGO_BIN_EXE_stream-dispatch");
const REFUSED: &str = "destination refused: 127.0.0.1 is a loopback address; allowed only with [security] private_destinations = \"allow\"";

/// An SQS batch of one events-queue message, as Lambda's event-source
/// mapping delivers it.
fn sqs_batch(message_id: &str, body: &Value) -> Value {
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("{message_id}-receipt"),
        "body": body.to_string(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000000"
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
        "awsRegion": "us-east-1"
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_function_refuses_a_loopback_stream_by_default() {
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let backend = aws_as_deployed().await;
    // Stored as the config table holds it (the CLI would refuse the address
    // literal up front).
    let text = format!(
        "[[workspaces]]\nid = \"acme\"\nsecret = \"s\"\napp_name = \"Acme\"\n\n\
         [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{}/in\"\n",
        receiver.uri()
    );
    let workspace = shared::config::parse(&text).unwrap().workspaces.remove(0);
    backend.workspaces.put_workspace(&workspace).await.unwrap();

    let resources = backend.resources.clone().unwrap();
    let mut env = resources.env_vars().to_vec();
    env.push(("ENGAGE_BRIDGE_RETRY_SCHEDULE", "1,1,1"));
    let api = RuntimeApi::start().await;
    let function = FunctionProcess::start(BIN, "stream-dispatch", &api, &env);
    let event = json!({
        "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
        "event_uuid": "refused-1", "event_time": 1_700_000_000,
        "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE", "uid": "u1"
    });
    let invocation = api.invoke(sqs_batch(
        "m-1",
        &json!({"workspace_id": "acme", "events": [event]}),
    ));
    match api.outcome(&invocation).await {
        // Handled: the failed batch waits on the retry queue.
        Reported::Response { body, .. } => {
            assert_eq!(body, json!({"batchItemFailures": []}))
        }
        other => panic!("the batch is answered: {other:?}"),
    }
    let (stdout, _) = function.stop();
    let lines = check_lines(&stdout);
    let failed = emf_records(&lines, "engage_bridge_delivery_attempts_failed_total");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["status"], "refused_destination");
    assert_eq!(failed[0]["stream"], "warehouse");
    assert_eq!(failed[0]["workspace_id"], "acme");
    assert_eq!(failed[0]["engage_bridge_delivery_attempts_failed_total"], 1);
    let warn = lines
        .iter()
        .find(|l| l["message"] == "destination refused")
        .unwrap_or_else(|| panic!("the refusal is logged: {stdout}"));
    assert_eq!(warn["level"], "WARN", "{warn}");
    assert_eq!(warn["reason"], REFUSED, "{warn}");
    assert_eq!(warn["stream"], "warehouse", "{warn}");

    let stop = run_retry_consumer(&backend);
    let mut listed = Vec::new();
    wait_for(
        async || {
            listed = dlq::list(&backend, &Filter::default()).await.unwrap();
            !listed.is_empty()
        },
        Duration::from_secs(30),
    )
    .await;
    stop.send(true).unwrap();
    assert!(recorder.arrivals().is_empty(), "nothing reached 127.0.0.1");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event_uuids, ["refused-1"]);
    assert_eq!(listed[0].attempts.len(), 4);
    for attempt in &listed[0].attempts {
        assert_eq!(attempt.error, REFUSED);
        assert_eq!(attempt.status, None);
    }
    assert_eq!(
        listed[0].reason,
        format!("gave up after 3 retries: {REFUSED}")
    );
}
