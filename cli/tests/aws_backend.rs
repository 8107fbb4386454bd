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
    let cli = |args: &[&str]| {
        let mut command = Command::new(common::BIN);
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", moto_url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
        command.envs(resources.env_vars());
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

/// The aws backend's commands, with `env` replacing the caller's AWS
/// environment (no profile file, no instance metadata).
fn cli_without_aws_env(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut command = Command::new(common::BIN);
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "off");
    for (name, value) in AwsResources::ENV
        .iter()
        .zip(["cfg", "state", "q1", "q2", "q3", "q4", "q5"])
    {
        command.env(name, value);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn missing_credentials_and_unreachable_endpoints_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.toml");
    std::fs::write(
        &config,
        "[storage]\nbackend = \"aws\"\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n",
    )
    .unwrap();
    let apply = ["workspaces", "apply", "--config", config.to_str().unwrap()];

    let moto = moto_url();
    let out = cli_without_aws_env(dir.path(), &[("AWS_ENDPOINT_URL", &moto)], &apply);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("no usable AWS credentials for DynamoDB"),
        "{stderr}"
    );
    assert!(stderr.contains("AWS_PROFILE"), "says what to set: {stderr}");

    let out = cli_without_aws_env(
        dir.path(),
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret-never-shown"),
        ],
        &apply,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("cannot reach DynamoDB at http://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(!stderr.contains("testing-secret-never-shown"));
}
