//! The operator's side (issue 10 item 6): config errors never show a
//! secret, and concurrent `dlq list` runs never hide dead letters from
//! each other.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{BIN, run, write_config};
use crate::receiver::{Receiver, Reply};
use crate::support::{
    Bridge, campaign_event, eventually, fast_retries, stderr, webhook, workspace,
};

/// Config errors, each with the secret that must not appear in the message.
const BAD_CONFIGS: [(&str, &str, &str); 6] = [
    (
        "an integer workspace secret",
        "987654321",
        "secret = 987654321",
    ),
    (
        "an integer basic-auth password",
        "44332211",
        "secret = \"s\"\n[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\n\
         url = \"https://example.com/hook\"\n\
         auth = { type = \"basic\", username = \"u\", password = 44332211 }",
    ),
    (
        "an integer auth header value",
        "77889900",
        "secret = \"s\"\n[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\n\
         url = \"https://example.com/hook\"\n\
         auth = { type = \"header\", name = \"X-Key\", value = 77889900 }",
    ),
    (
        "an integer Amplitude api_key",
        "99887766",
        "secret = \"s\"\n[[workspaces.streams]]\nname = \"x\"\ntype = \"amplitude\"\napi_key = 99887766",
    ),
    (
        "an invalid URL with credentials",
        "pa55w0rd-url",
        "secret = \"s\"\n[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\n\
         url = \"https://user:pa55w0rd-url@exa mple.com/hook\"",
    ),
    (
        "a URL with credentials and an invalid batch_size",
        "pa55w0rd-batch",
        "secret = \"s\"\n[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\n\
         url = \"https://user:pa55w0rd-batch@example.com/hook\"\nbatch_size = 500",
    ),
];

#[test]
fn config_errors_never_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut leaks = Vec::new();
    for (what, secret, keys) in BAD_CONFIGS {
        let config = write_config(
            dir.path(),
            &format!("[[workspaces]]\nid = \"acme\"\napp_name = \"Acme\"\n{keys}\n"),
        );
        let config = config.to_str().unwrap();
        for command in [
            &["workspaces", "apply", "--config"][..],
            &["serve", "--config"],
        ] {
            let out = run(dir.path(), &[command, &[config]].concat());
            let message = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{what}: {message}");
            assert!(
                message.contains("workspaces[0]"),
                "{what}: names the key: {message}"
            );
            if message.contains(secret) {
                leaks.push(format!("{what} ({}): {}", command[0], message.trim()));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets echoed: {leaks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dlq_list_runs_each_show_every_dead_letter() {
    const LETTERS: usize = 20;
    let receiver = Receiver::start(|_| Reply::Status(500)).await;
    let bridge = Bridge::start(&fast_retries(&workspace(
        "acme",
        &webhook("down", &receiver.url, "batch_size = 1"),
    )));
    let events: Vec<Value> = (0..LETTERS)
        .map(|i| campaign_event(&format!("dead-{i}"), "u1"))
        .collect();
    bridge.send_events("acme", &events);
    let lines = |stdout: &[u8]| String::from_utf8_lossy(stdout).lines().count();
    eventually(Duration::from_secs(30), async || {
        match lines(&bridge.cli(&["dlq", "list"]).stdout) {
            LETTERS => Ok(()),
            n => Err(format!("{n} of {LETTERS} dead letters so far")),
        }
    })
    .await;

    let mut shown = HashSet::new();
    for _round in 0..3 {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                Command::new(BIN)
                    .args(["dlq", "list", "--config", &bridge.config])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let out = crate::support::blocking(|| run.wait_with_output().unwrap());
            shown.insert(lines(&out.stdout));
        }
    }
    assert_eq!(
        shown,
        HashSet::from([LETTERS]),
        "dead letters shown by concurrent dlq list runs (of {LETTERS})"
    );
}
