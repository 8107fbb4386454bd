//! Streams end to end through the real binary: `serve` dispatching and
//! retrying, `kill -9` with work pending, the dead-letter commands and
//! `streams test`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, write_config};
use engage_bridge_tests::receiver::{Recorder, wait_for};

const SECRET_PASSWORD: &str = "pw-7c1e9f-never-logged";
const WORKSPACE_SECRET: &str = "ws-secret-3b2a-never-logged";

fn config(dir: &Path, url: &str, schedule: &str) -> String {
    write_config(
        dir,
        &format!(
            "[retry]\nschedule_seconds = {schedule}\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"{WORKSPACE_SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout_seconds = 5\n\
             auth = {{ type = \"basic\", username = \"u\", password = \"{SECRET_PASSWORD}\" }}\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_owned()
}

fn events_file(dir: &Path, name: &str, uuids: &[&str]) -> String {
    let events: Vec<serde_json::Value> = uuids
        .iter()
        .map(|uuid| {
            serde_json::json!({
                "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
                "event_uuid": uuid, "event_time": 1_700_000_000,
                "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
                "uid": "u1", "email_id": "a@example.com",
                "event_attributes": {"campaign_id": "c1"}
            })
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::Value::Array(events).to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `engage-bridge events send` of `file` to workspace acme.
fn send_events(dir: &Path, config: &str, file: &str) -> std::process::Output {
    common::events_send(dir, config, "acme", file)
}

fn delivered_uuids(recorder: &Recorder) -> Vec<String> {
    let mut uuids: Vec<String> = recorder
        .bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["event_uuid"].as_str().unwrap().to_owned())
        .collect();
    uuids.sort();
    uuids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_retries_pending_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(503);
    let server = recorder.serve().await;
    let config = config(dir.path(), &server.uri(), "[2, 2, 2]");
    let listen = ["--config", config.as_str(), "--listen", "127.0.0.1:0"];
    let mut serve = Server::start(dir.path(), &listen);

    let file = events_file(dir.path(), "first.json", &["e-1", "e-2"]);
    let out = send_events(dir.path(), &config, &file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Dispatched within 0.5 s-ish and failed: a retry is now pending.
    wait_for(
        async || recorder.arrivals().len() == 1,
        Duration::from_secs(5),
    )
    .await;
    serve.child.kill().unwrap(); // SIGKILL
    serve.child.wait().unwrap();

    // Events queued while serve is down wait for it too.
    let file = events_file(dir.path(), "second.json", &["e-3"]);
    let out = send_events(dir.path(), &config, &file);
    assert_eq!(out.status.code(), Some(0));

    recorder.set_status(200);
    let _serve = Server::start(dir.path(), &listen);
    // If the kill came between the failed attempt and the retry being
    // queued, the batch is still on the events queue, in flight: it comes
    // back after the embedded queue's 30 s visibility timeout.
    wait_for(
        async || delivered_uuids(&recorder).len() >= 5,
        Duration::from_secs(40),
    )
    .await;
    let bodies = recorder.bodies();
    // The first batch was retried whole, with the same moe_request_id.
    let first_id = &bodies[0]["moe_request_id"];
    assert!(bodies[1..].iter().any(|b| &b["moe_request_id"] == first_id));
    assert_eq!(
        delivered_uuids(&recorder),
        vec!["e-1", "e-1", "e-2", "e-2", "e-3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_flight_at_kill_9_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    // Slow enough that serve is killed while the dispatch is in flight.
    recorder.set_delay(Duration::from_secs(3));
    let server = recorder.serve().await;
    let config = config(dir.path(), &server.uri(), "[1, 1, 1]");
    let listen = ["--config", config.as_str(), "--listen", "127.0.0.1:0"];
    let mut serve = Server::start(dir.path(), &listen);
    let file = events_file(dir.path(), "events.json", &["in-flight"]);
    send_events(dir.path(), &config, &file);
    wait_for(
        async || recorder.arrivals().len() == 1,
        Duration::from_secs(5),
    )
    .await;
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();

    recorder.set_delay(Duration::ZERO);
    let started = std::time::Instant::now();
    let _serve = Server::start(dir.path(), &listen);
    // The embedded queue's visibility timeout is 30 s: it comes back within it.
    wait_for(
        async || recorder.arrivals().len() >= 2,
        Duration::from_secs(40),
    )
    .await;
    assert!(
        started.elapsed() <= Duration::from_secs(32),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(recorder.bodies()[1]["events"][0]["event_uuid"], "in-flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cuts_a_slow_delivery_at_the_deadline_and_it_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    // Far longer than the grace period: the delivery is still in flight at the deadline.
    recorder.set_delay(Duration::from_secs(20));
    let server = recorder.serve().await;
    let config = config(dir.path(), &server.uri(), "[1, 1, 1]");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[server]\nshutdown_grace_seconds = 2\n\n{text}"),
    )
    .unwrap();
    let listen = ["--config", config.as_str(), "--listen", "127.0.0.1:0"];
    let mut serve = Server::start(dir.path(), &listen);
    let file = events_file(dir.path(), "events.json", &["cut-short"]);
    let sent = send_events(dir.path(), &config, &file);
    assert!(sent.status.success());
    wait_for(
        async || recorder.arrivals().len() == 1,
        Duration::from_secs(5),
    )
    .await;

    let signalled = std::time::Instant::now();
    serve.signal("TERM");
    assert_eq!(serve.wait_exit(Duration::from_secs(10)), Some(0));
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "exits at the 2 s deadline, not before the work nor long after: {took:?}"
    );
    let logs = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(logs.contains("unfinished messages stay queued"), "{logs}");

    // Released at the deadline: delivered at once after the restart, not
    // after the 30 s visibility timeout.
    recorder.set_delay(Duration::ZERO);
    let restarted = std::time::Instant::now();
    let _serve = Server::start(dir.path(), &listen);
    wait_for(
        async || recorder.arrivals().len() >= 2,
        Duration::from_secs(15),
    )
    .await;
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "{:?}",
        restarted.elapsed()
    );
    assert_eq!(recorder.bodies()[1]["events"][0]["event_uuid"], "cut-short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(500);
    let server = recorder.serve().await;
    let config = config(dir.path(), &server.uri(), "[1, 1, 1]");
    let serve = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );
    let file = events_file(dir.path(), "events.json", &["d-1"]);
    send_events(dir.path(), &config, &file);

    let mut lines = Vec::new();
    wait_for(
        async || {
            let out = run(dir.path(), &["dlq", "list", "--config", &config]);
            assert_eq!(out.status.code(), Some(0));
            lines = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            !lines.is_empty()
        },
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(lines.len(), 1);
    let letter: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    // Exactly the fields of docs/interface/cli.md "dlq list", in its order.
    let fields = [
        "id",
        "workspace_id",
        "stream",
        "moe_request_id",
        "event_uuids",
        "attempts",
        "reason",
    ];
    assert_eq!(letter.as_object().unwrap().len(), fields.len());
    let positions: Vec<usize> = fields
        .iter()
        .map(|f| {
            lines[0]
                .find(&format!("\"{f}\":"))
                .unwrap_or_else(|| panic!("{f} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", lines[0]);
    assert_eq!(letter["workspace_id"], "acme");
    assert_eq!(letter["stream"], "warehouse");
    assert_eq!(letter["event_uuids"], serde_json::json!(["d-1"]));
    assert_eq!(letter["attempts"].as_array().unwrap().len(), 4);
    let filtered = run(
        dir.path(),
        &["dlq", "list", "--config", &config, "--workspace", "other"],
    );
    assert!(filtered.stdout.is_empty());

    // `dlq show` prints it in full: the events themselves.
    let id = letter["id"].as_str().unwrap();
    let shown = dlq_show(dir.path(), &config, id);
    let full: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(full["id"], id);
    assert!(full["at"].as_str().unwrap().ends_with('Z'), "{full}");
    for field in [
        "workspace_id",
        "stream",
        "moe_request_id",
        "attempts",
        "reason",
    ] {
        assert_eq!(full[field], letter[field], "{field}");
    }
    let events = full["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{full}");
    assert_eq!(events[0]["event_uuid"], "d-1");
    assert_eq!(events[0]["event_name"], "Email Sent");
    assert_eq!(events[0]["uid"], "u1");
    assert_eq!(events[0]["event_attributes"]["campaign_id"], "c1");

    recorder.set_status(200);
    let out = run(
        dir.path(),
        &[
            "dlq",
            "replay",
            "--config",
            &config,
            "--stream",
            "warehouse",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"replayed":1,"status":"success"}"#
    );
    wait_for(
        async || recorder.arrivals().len() >= 5,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        recorder.bodies()[4]["moe_request_id"],
        letter["moe_request_id"]
    );
    let out = run(dir.path(), &["dlq", "list", "--config", &config]);
    assert!(out.stdout.is_empty(), "replayed letters leave the list");
    drop(serve);

    // Secrets never reach logs or dead letters.
    let logs = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(logs.contains("dispatched"), "the log was captured");
    for secret in [SECRET_PASSWORD, WORKSPACE_SECRET] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!lines[0].contains(secret));
    }
}

/// `engage-bridge dlq show ID`'s output (it must succeed).
fn dlq_show(dir: &Path, config: &str, id: &str) -> String {
    let out = run(dir, &["dlq", "show", "--config", config, id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    text
}

/// An unreadable queue message is kept as it was; `dlq list` names it and
/// `dlq show` gives its raw body back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_show_gives_the_raw_body_of_an_unreadable_message() {
    use shared::ports::OutgoingMessage;
    use shared::topology::QueueName;

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9", "[1, 1, 1]");
    let out = run(dir.path(), &["workspaces", "apply", "--config", &config]);
    assert!(out.status.success());
    let raw = r#"{"workspace_id":"acme","events":"not a list \u00e9 ü"}"#;
    let store = shared::runtime::Services::sqlite(
        &dir.path().join("store.db"),
        engage_bridge_tests::fast_schedule(),
    )
    .unwrap();
    store
        .queues
        .raw(QueueName::Events)
        .send(&[OutgoingMessage::now(raw.to_owned())])
        .await
        .unwrap();
    let _serve = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );

    let mut listed = serde_json::Value::Null;
    wait_for(
        async || {
            let out = run(dir.path(), &["dlq", "list", "--config", &config]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            listed = text.lines().next().map_or(serde_json::Value::Null, |l| {
                serde_json::from_str(l).unwrap()
            });
            !listed.is_null()
        },
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(listed["queue"], "events", "{listed}");
    assert_eq!(listed["workspace_id"], "acme", "{listed}");
    assert!(listed.get("body").is_none(), "{listed}");

    let id = listed["id"].as_str().unwrap();
    let full: serde_json::Value = serde_json::from_str(&dlq_show(dir.path(), &config, id)).unwrap();
    assert_eq!(full["body"], raw, "{full}");
    assert_eq!(full["queue"], "events");
    assert_eq!(full["id"], id);
    assert_eq!(full["receive_count"], 1);
    assert!(
        full["reason"]
            .as_str()
            .unwrap()
            .starts_with("unreadable events message"),
        "{full}"
    );

    let out = run(
        dir.path(),
        &["dlq", "show", "--config", &config, "no-such-id"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"no-such-id\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_test_sends_one_email_sent_event() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    let config = config(dir.path(), &server.uri(), "[30, 60, 120]");
    let out = run(
        dir.path(),
        &[
            "streams",
            "test",
            "--config",
            &config,
            "--workspace",
            "acme",
            "--stream",
            "warehouse",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bodies = recorder.bodies();
    assert_eq!(bodies.len(), 1);
    let event = &bodies[0]["events"][0];
    assert_eq!(event["event_name"], "Email Sent");
    assert_eq!(event["uid"], "engage-bridge-test-user");
    assert_eq!(bodies[0]["app_name"], "Acme");

    recorder.set_status(403);
    let out = run(
        dir.path(),
        &[
            "streams",
            "test",
            "--config",
            &config,
            "--workspace",
            "acme",
            "--stream",
            "warehouse",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(!stderr.contains(SECRET_PASSWORD));
    // A fresh event_uuid each time.
    assert_ne!(
        recorder.bodies()[1]["events"][0]["event_uuid"],
        event["event_uuid"]
    );

    let out = run(
        dir.path(),
        &[
            "streams",
            "test",
            "--config",
            &config,
            "--workspace",
            "acme",
            "--stream",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
