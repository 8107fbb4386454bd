//! The operator commands on `storage.backend = "aws"` (moto), configured by
//! the same environment variables the Lambda functions get.

mod common;

use std::process::Command;

use engage_bridge_tests::aws;

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
    let env = common::aws_env(&resources);
    let cli = |args: &[&str]| {
        Command::new(common::BIN)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
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
