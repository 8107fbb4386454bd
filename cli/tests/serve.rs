//! `engage-bridge serve` and the operator commands, as a user runs them.

mod common;

use std::time::Duration;

use common::{Server, events_send, run, send_one_event, write_config};
use engage_bridge_tests::basic;
use engage_bridge_tests::receiver::{Recorder, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_keeps_its_demo_secret_across_restarts_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );
    // Not on a terminal, the output is JSON (`logging.format = "auto"`):
    // it names the secret's file and never prints the secret.
    let file = dir.path().join(".engage-bridge/demo-secret");
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(secret.len() >= 32);
    let demo = server
        .demo_record()
        .expect("a JSON line for the demo workspace");
    assert_eq!(demo["secret_file"], ".engage-bridge/demo-secret", "{demo}");
    assert_eq!(demo["level"], "INFO");
    assert_eq!(server.demo_secret(), None);
    assert!(dir.path().join(".engage-bridge/engage-bridge.db").exists());

    let http = engage_bridge_tests::http_client();
    let health = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);

    let ok = http
        .get(format!("{}/v1/segments", server.base))
        .header("authorization", basic("demo", &secret))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let denied = http
        .get(format!("{}/v1/segments", server.base))
        .header("authorization", basic("demo", "guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);

    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));
    let mut stdout = server.first_lines.clone();
    stdout.extend(server.lines.try_iter());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    for line in stdout.iter().map(String::as_str).chain(log.lines()) {
        assert!(!line.contains(&secret), "the secret was written: {line}");
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(record["message"].is_string(), "{record}");
    }

    let again = Server::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        secret,
        "the demo secret is kept across restarts"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }
    let still = http
        .get(format!("{}/v1/segments", again.base))
        .header("authorization", basic("demo", &secret))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}

/// On a terminal (text output) the demo secret is printed, as the README's
/// first steps rely on. `script` gives `serve` a terminal.
#[test]
fn on_a_terminal_serve_prints_the_demo_secret() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!("exec {} serve --listen 127.0.0.1:0", common::BIN);
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs serve on a terminal");
    let rx = common::lines_of(&mut child);
    let mut seen = Vec::new();
    let printed = loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("no demo secret line within 20 s: {seen:?}");
        };
        let line = line.trim_end().to_owned();
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("demo workspace: id=demo secret=") {
            break rest.to_owned();
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let secret = std::fs::read_to_string(dir.path().join(".engage-bridge/demo-secret")).unwrap();
    assert_eq!(
        printed,
        format!("{} (kept in .engage-bridge/demo-secret)", secret.trim())
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("engage-bridge listening on http://127.0.0.1:")),
        "{seen:?}"
    );
}

/// The options serve gives jemalloc are the ones it runs with (jemalloc
/// prints them at exit when asked to by `_RJEM_MALLOC_CONF`, which adds to
/// them).
#[cfg(not(target_env = "msvc"))]
#[test]
fn serve_runs_jemalloc_with_its_larger_thread_caches() {
    let out = std::process::Command::new(common::BIN)
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        stats.contains("opt.tcache_nslots_small_max: 1024"),
        "{stats}"
    );
    assert!(stats.contains("opt.lg_tcache_nslots_mul: 2"), "{stats}");
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n\n[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://example.com\"\nbatch_size = 500\n",
    );
    let out = run(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("workspaces[0].streams[0].batch_size"),
        "{stderr}"
    );

    let unknown = write_config(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 4\n",
    );
    let out = run(
        dir.path(),
        &["workspaces", "apply", "--config", unknown.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("threads"));

    let out = run(dir.path(), &["serve", "--bogus-flag"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_workspaces_are_the_source_of_truth() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n",
    );
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(
        server.demo_record(),
        None,
        "no demo workspace with --config"
    );
    let http = engage_bridge_tests::http_client();
    let status = |auth: String| {
        let http = http.clone();
        let url = format!("{}/v1/segments", server.base);
        async move {
            http.get(url)
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(basic("acme", "acme-secret")).await, 200);
    assert_eq!(status(basic("demo", "change-me")).await, 401);
}

#[test]
fn events_send_queues_events_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n",
    );
    let config = config.to_str().unwrap();
    let events: Vec<serde_json::Value> = (0..150)
        .map(|i| {
            serde_json::json!({
                "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
                "event_uuid": format!("e-{i}"), "event_time": 1_700_000_000,
                "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
                "uid": format!("u{i}"), "email_id": "a@example.com",
                "event_attributes": {"campaign_id": "c1"}
            })
        })
        .collect();
    let file = dir.path().join("events.json");
    std::fs::write(&file, serde_json::json!({"events": events}).to_string()).unwrap();

    // The workspace must exist in the backend first.
    let out = events_send(dir.path(), config, "acme", file.to_str().unwrap());
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("workspaces apply"));

    let out = run(dir.path(), &["workspaces", "apply", "--config", config]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = events_send(dir.path(), config, "acme", file.to_str().unwrap());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"status": "success", "events": 150, "messages": 2})
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"event_name": "x"}]"#).unwrap();
    let out = events_send(dir.path(), config, "acme", bad.to_str().unwrap());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("events[0]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A delivery's record still in the delivery log's buffer when SIGTERM
/// comes is written before serve exits: the log is flushed while the
/// runtime its writer runs on (the consumers') still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_recorded_just_before_sigterm_is_in_the_delivery_log() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = write_config(
        dir.path(),
        &format!(
            "[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            receiver.uri()
        ),
    );
    let config = config.to_str().unwrap();
    let mut server = Server::start(dir.path(), &["--config", config, "--listen", "127.0.0.1:0"]);
    send_one_event(dir.path(), config, "e-1", &[]);
    // The log writes what it holds every 200 ms: SIGTERM comes before that.
    wait_for(
        async || !recorder.arrivals().is_empty(),
        Duration::from_secs(30),
    )
    .await;
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));

    let log = rusqlite::Connection::open(dir.path().join("store-delivery-log.db")).unwrap();
    let entries: i64 = log
        .query_row(
            "SELECT COUNT(*) FROM log_entries WHERE workspace = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(entries, 1);
}
