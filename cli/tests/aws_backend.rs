//! The operator commands on `storage.backend = "aws"` (moto), configured by
//! the same environment variables the Lambda functions get.

mod common;

use std::process::Command;

use engage_bridge_tests::{aws, moto_url};
use shared::store::aws::AwsResources;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_apply_and_events_send_work_on_aws() {
    let backend = aws().await;
    let resources = backend.resources.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.toml");
    std::fs::write(
        &config,
        "[storage]\nbackend = \"aws\"\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n",
    )
    .unwrap();
    let events = dir.path().join("events.json");
    std::fs::write(
        &events,
        r#"[{"event_name":"Email Sent","event_code":"MOE_EMAIL_SENT","event_uuid":"a-1","event_time":1700000000,"event_type":"CAMPAIGN_EVENT","event_source":"MOENGAGE"}]"#,
    )
    .unwrap();
    let values = [
        &resources.config_table,
        &resources.state_table,
        &resources.events_queue_url,
        &resources.retry_queue_url,
        &resources.dead_letter_queue_url,
        &resources.cohort_queue_url,
    ];
    let cli = |args: &[&str]| {
        let mut command = Command::new(common::BIN);
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", moto_url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
        for (name, value) in AwsResources::ENV.iter().zip(values) {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let config = config.to_str().unwrap();
    let out = cli(&["workspaces", "apply", "--config", config]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = backend
        .workspaces
        .get_workspace("acme")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret.is_none(), "only the hash is stored");

    let out = cli(&[
        "events",
        "send",
        "--config",
        config,
        "--workspace",
        "acme",
        events.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(backend.queues.events.approximate_len().await.unwrap(), 1);

    // Without the resource variables the aws backend is a configuration error.
    let out = Command::new(common::BIN)
        .args(["workspaces", "apply", "--config", config])
        .env_remove("ENGAGE_BRIDGE_CONFIG_TABLE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ENGAGE_BRIDGE_CONFIG_TABLE"));
}
