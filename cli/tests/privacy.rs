//! Privacy with the real binary (docs/interface/privacy.md, docs/interface/cli.md):
//! `serve` erases a user and leaves no trace of the uid in its SQLite files
//! or its logs; an erasure killed with `kill -9` mid-way resumes after a
//! restart; `users`, `suppressions` and `dlq purge` on the command line.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, write_config};
use engage_bridge_tests::basic;
use engage_bridge_tests::receiver::{Recorder, wait_for};
use serde_json::{Value, json};

const SECRET: &str = "privacy-cli-secret";
const UID: &str = "cli-erase-5b7e19";

fn config(dir: &Path, receiver: &str) -> String {
    write_config(
        dir,
        &format!(
            "[logging]\nformat = \"json\"\nlevel = \"info\"\n\n\
             [[workspaces]]\nid = \"acme\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{receiver}\"\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_owned()
}

fn batch(uid: &str) -> Value {
    json!({"user_identities": {"customer_id": uid, "email": format!("{uid}@example.com")},
           "user_attributes": {"plan": "gold"},
           "events": [{"event_type": "custom_event", "data": {"event_name": "Opened",
               "custom_event_type": "other", "timestamp_unixtime_ms": 1_795_341_605_000u64,
               "source_message_id": format!("{uid}-1")}}]})
}

async fn send(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let client = engage_bridge_tests::http_client();
    let mut request = client
        .request(method, format!("{base}{path}"))
        .header("authorization", basic("acme", SECRET));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn request_status(base: &str, id: &str) -> String {
    let (_, body) = send(
        base,
        reqwest::Method::GET,
        &format!("/v1/privacy/requests/{id}"),
        None,
    )
    .await;
    body["request_status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The bytes of the store's files: the database and its WAL.
fn store_bytes(dir: &Path) -> String {
    let mut bytes = std::fs::read(dir.join("store.db")).unwrap();
    bytes.extend(std::fs::read(dir.join("store.db-wal")).unwrap_or_default());
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_erases_without_a_trace_and_resumes_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = config(dir.path(), &receiver.uri());
    let args = ["--config", config.as_str(), "--listen", "127.0.0.1:0"];
    let env = [("RUST_LOG", "info".to_owned())];
    let mut server = Server::start_with_env(dir.path(), &args, &env);
    let base = server.base.clone();
    for uid in [UID, "stays-1"] {
        let (status, body) = send(
            &base,
            reqwest::Method::POST,
            "/v1/mparticle/events",
            Some(&batch(uid)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    wait_for(
        async || recorder.bodies().len() >= 2,
        Duration::from_secs(20),
    )
    .await;

    // Erase, and kill -9 while the erasure runs (it waits for the
    // suppression to reach every process before it deletes).
    let (status, body) = send(
        &base,
        reqwest::Method::DELETE,
        &format!("/v1/users/{UID}"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["request_id"].as_str().unwrap().to_owned();
    wait_for(
        async || request_status(&base, &id).await == "in_progress",
        Duration::from_secs(20),
    )
    .await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));

    // It resumes after the restart (when the job's visibility timeout ends).
    let server = Server::start_with_env(dir.path(), &args, &env);
    let base = server.base.clone();
    wait_for(
        async || request_status(&base, &id).await == "completed",
        Duration::from_secs(60),
    )
    .await;
    let (status, _) = send(
        &base,
        reqwest::Method::GET,
        &format!("/v1/users/{UID}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(&base, reqwest::Method::GET, "/v1/users/stays-1", None).await;
    assert_eq!(status, 200);
    wait_for(
        async || {
            recorder
                .bodies()
                .iter()
                .any(|b| b.to_string().contains("EB_USER_DELETED"))
        },
        Duration::from_secs(20),
    )
    .await;

    // No trace left in the files once the sweeper has compacted after the
    // erasure (the User Deleted event, delivered, included).
    wait_for(
        async || !store_bytes(dir.path()).contains(UID),
        Duration::from_secs(40),
    )
    .await;
    assert!(store_bytes(dir.path()).contains("stays-1"));
    // Nor in the logs; the request is counted.
    let logs = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!logs.contains(UID), "the uid reached the logs");
    assert!(logs.contains(&id), "the request id is logged");
    let metrics = engage_bridge_tests::http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("engage_bridge_privacy_requests_total")
                && l.contains("kind=\"erasure\"")
                && l.contains("status=\"completed\"")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_suppressions_and_dlq_purge_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = config(dir.path(), &receiver.uri());
    let missing = run(
        dir.path(),
        &[
            "users",
            "export",
            "--config",
            &config,
            "--workspace",
            "acme",
            UID,
        ],
    );
    assert_eq!(
        missing.status.code(),
        Some(2),
        "no store yet: a usage error"
    );
    {
        let server = Server::start(
            dir.path(),
            &["--config", &config, "--listen", "127.0.0.1:0"],
        );
        let (status, _) = send(
            &server.base,
            reqwest::Method::POST,
            "/v1/mparticle/events",
            Some(&batch(UID)),
        )
        .await;
        assert_eq!(status, 200);
    }
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", config.as_str()]);
        run(dir.path(), &all)
    };
    let export = cli(&["users", "export", "--workspace", "acme", UID]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let document: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(document["status"], "success");
    assert_eq!(document["uid"], UID);
    assert_eq!(document["profile"]["attributes"]["plan"], "gold");

    // Without serve running, `users delete` carries the erasure out itself.
    let deleted = cli(&["users", "delete", "--workspace", "acme", UID]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let answer: Value = serde_json::from_slice(&deleted.stdout).unwrap();
    assert_eq!(answer["request_status"], "completed");
    let gone = cli(&["users", "export", "--workspace", "acme", UID]);
    assert_eq!(gone.status.code(), Some(1));
    let listed = cli(&["suppressions", "list", "--workspace", "acme"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["hash"].as_str().unwrap().len(),
        64,
        "a keyed hash, never the uid"
    );
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(UID));
    assert!(
        cli(&["suppressions", "lift", "--workspace", "acme", UID])
            .status
            .success()
    );
    assert_eq!(
        cli(&["suppressions", "lift", "--workspace", "acme", UID])
            .status
            .code(),
        Some(1)
    );
    let unknown = cli(&["users", "delete", "--workspace", "nope", UID]);
    assert_eq!(unknown.status.code(), Some(2));

    // dlq purge: a dead letter younger than a day stays; --older-than 0 takes it.
    let letter = json!([{"event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT", "event_uuid": "dl-1",
        "event_time": 1, "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE", "uid": "x"}]);
    std::fs::write(dir.path().join("events.json"), letter.to_string()).unwrap();
    let stream_down = write_config(
        dir.path(),
        &format!(
            "[retry]\nschedule_seconds = [1]\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"{SECRET}\"\n\
             app_name = \"Acme\"\n\n[[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\n\
             url = \"http://127.0.0.1:9/\"\ntimeout_seconds = 1\n"
        ),
    );
    let stream_down = stream_down.to_str().unwrap();
    {
        let _server = Server::start(
            dir.path(),
            &["--config", stream_down, "--listen", "127.0.0.1:0"],
        );
        assert!(
            run(
                dir.path(),
                &[
                    "events",
                    "send",
                    "--config",
                    stream_down,
                    "--workspace",
                    "acme",
                    "events.json"
                ]
            )
            .status
            .success()
        );
        wait_for(
            async || {
                !run(dir.path(), &["dlq", "list", "--config", stream_down])
                    .stdout
                    .is_empty()
            },
            Duration::from_secs(30),
        )
        .await;
    }
    let kept = run(
        dir.path(),
        &["dlq", "purge", "--config", stream_down, "--older-than", "1"],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&kept.stdout).unwrap()["purged"],
        0
    );
    let dry = run(
        dir.path(),
        &[
            "dlq",
            "purge",
            "--config",
            stream_down,
            "--older-than",
            "0",
            "--dry-run",
        ],
    );
    let dry_text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry_text.contains("\"would_purge\":1"), "{dry_text}");
    let purged = run(
        dir.path(),
        &[
            "dlq",
            "purge",
            "--config",
            stream_down,
            "--older-than",
            "0",
            "--workspace",
            "acme",
        ],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&purged.stdout).unwrap()["purged"],
        1
    );
    assert!(
        run(dir.path(), &["dlq", "list", "--config", stream_down])
            .stdout
            .is_empty()
    );
}
