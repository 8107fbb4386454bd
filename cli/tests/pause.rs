//! Pausing and resuming streams through the real binary
//! (docs/interface/streams.md "Pause, resume and 410 Gone"): an operator's
//! pause holds a stream's batches across restarts and `workspaces apply`
//! without an attempt counted, and a resume (from another process, on the
//! same store) has them sent within seconds — not at the next look, a
//! minute later. Likewise a stream enabled in the config while `serve` runs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, send_one_event, write_config};
use engage_bridge_tests::receiver::{Recorder, wait_for};

/// Well below the 60 s a held batch waits between looks: a batch sent
/// within it was woken by the resume.
const PROMPTLY: Duration = Duration::from_secs(30);

fn config(dir: &Path, url: &str, enabled: bool) -> String {
    write_config(
        dir,
        &format!(
            "[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{url}\"\nenabled = {enabled}\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `streams pause|resume` of acme's warehouse stream: its JSON status line.
fn control(dir: &Path, config: &str, what: &str) -> serde_json::Value {
    let out = run(
        dir,
        &[
            "streams",
            what,
            "--config",
            config,
            "--workspace",
            "acme",
            "--stream",
            "warehouse",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many times serve's log says a batch waits with this message.
fn held_lines(dir: &Path, message: &str) -> usize {
    std::fs::read_to_string(dir.join("serve.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(message))
        .count()
}

fn delivered(recorder: &Recorder) -> Vec<String> {
    let mut uuids: Vec<String> = recorder
        .bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["event_uuid"].as_str().unwrap().to_owned())
        .collect();
    uuids.sort();
    uuids
}

const BY_OPERATOR: &str = "batch waits: the stream is paused by an operator";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_holds_across_restart_and_apply_and_a_resume_sends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = config(dir.path(), &receiver.uri(), true);
    let listen = ["--config", config.as_str(), "--listen", "127.0.0.1:0"];
    let serve = Server::start(dir.path(), &listen);

    let paused = control(dir.path(), &config, "pause");
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["enabled"], true);
    assert!(paused["paused_at"].is_string());
    send_one_event(dir.path(), &config, "e-1", &[]);
    wait_for(async || held_lines(dir.path(), BY_OPERATOR) == 1, PROMPTLY).await;

    // The pause is the store's, not the config's: it outlives a restart
    // (which applies the config file) and `workspaces apply`.
    drop(serve);
    let _serve = Server::start(dir.path(), &listen);
    let out = run(dir.path(), &["workspaces", "apply", "--config", &config]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    send_one_event(dir.path(), &config, "e-2", &[]);
    // At least: the restarted serve may log e-1's hold again when it sees
    // that batch come back.
    wait_for(async || held_lines(dir.path(), BY_OPERATOR) >= 2, PROMPTLY).await;
    assert!(recorder.arrivals().is_empty(), "nothing sent while paused");
    let out = run(dir.path(), &["dlq", "list", "--config", &config]);
    assert!(out.stdout.is_empty(), "held batches are no dead letters");
    assert!(
        stderr(&out)
            .contains("stream \"warehouse\" of workspace \"acme\" is paused by an operator"),
        "{}",
        stderr(&out)
    );

    let resumed = control(dir.path(), &config, "resume");
    assert_eq!(resumed["status"], "active");
    assert!(resumed.get("paused_at").is_none());
    wait_for(async || delivered(&recorder) == ["e-1", "e-2"], PROMPTLY).await;
    // Both went out on their first attempt: the pause counted none.
    let attempts_failed = engage_bridge_tests::http_client()
        .get(format!("{}/metrics", _serve.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .any(|l| l.starts_with("engage_bridge_delivery_attempts_failed_total"));
    assert!(!attempts_failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_enabled_in_the_config_while_serving_sends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = config(dir.path(), &receiver.uri(), false);
    let _serve = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );
    send_one_event(dir.path(), &config, "e-1", &[]);
    wait_for(
        async || held_lines(dir.path(), "the stream is paused (enabled = false)") == 1,
        PROMPTLY,
    )
    .await;
    // The operator's resume does not override the config's pause.
    let still = control(dir.path(), &config, "resume");
    assert_eq!(still["status"], "paused");
    assert_eq!(still["enabled"], false);

    let config = self::config(dir.path(), &receiver.uri(), true);
    let out = run(dir.path(), &["workspaces", "apply", "--config", &config]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(async || delivered(&recorder) == ["e-1"], PROMPTLY).await;
}

#[test]
fn pause_and_resume_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/in", true);
    let args = |stream: &str| {
        vec![
            "streams".to_owned(),
            "pause".into(),
            "--config".into(),
            config.clone(),
            "--workspace".into(),
            "acme".into(),
            "--stream".into(),
            stream.into(),
        ]
    };
    let run_args = |stream: &str| {
        let args = args(stream);
        run(
            dir.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    // No store yet: a clear error, and none is created.
    let out = run_args("warehouse");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no engage-bridge store at"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("store.db").exists());

    let out = run(dir.path(), &["workspaces", "apply", "--config", &config]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_args("nope");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("workspace \"acme\" has no stream \"nope\""),
        "{}",
        stderr(&out)
    );
}
