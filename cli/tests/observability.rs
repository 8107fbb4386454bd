//! What an operator sees of `serve` (docs/interface/observability.md): a
//! receiver that answers 500 until the batch is dead-lettered shows up in
//! `GET /metrics` (attempts, the dead letter, the depth gauges) and in the
//! JSON log (a WARN per attempt, an ERROR per dead letter, an access line
//! per request with its ids at the top level), and never with a secret;
//! deliveries, drops and skips are counted; with JSON logs every line
//! `serve` writes, on stdout and stderr, is JSON.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, events_send, run, write_config};
use engage_bridge_tests::basic;
use engage_bridge_tests::receiver::{Recorder, wait_for};
use serde_json::Value;

const WORKSPACE_SECRET: &str = "ws-secret-91f0-never-logged";
const TOKEN: &str = "tok-5d3c-never-logged";
const AMPLITUDE_KEY: &str = "amp-key-c41e-never-logged";

/// Workspace acme: stream `warehouse` (a webhook, `Signed Up` only) to
/// `url`, stream `amplitude` (the campaign events) to `amplitude_url`.
fn config(dir: &Path, url: &str, amplitude_url: &str) -> String {
    write_config(
        dir,
        &format!(
            "[logging]\nformat = \"json\"\n\n[retry]\nschedule_seconds = [1, 1, 1]\n\n\
             [[workspaces]]\nid = \"acme\"\nsecret = \"{WORKSPACE_SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout_seconds = 5\n\
             events = [\"Signed Up\"]\n\
             auth = {{ type = \"header\", name = \"authorization\", value = \"Bearer {TOKEN}\" }}\n\n\
             [[workspaces.streams]]\nname = \"amplitude\"\ntype = \"amplitude\"\napi_key = \"{AMPLITUDE_KEY}\"\n\
             endpoint = \"{amplitude_url}/2/httpapi\"\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_owned()
}

/// `events send` of Email Sent events to acme, one per uid (`None`: an
/// event with neither a user nor a device id).
fn send_email_events(dir: &Path, config: &str, name: &str, uids: &[Option<&str>]) {
    let events: Vec<Value> = uids
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            let mut event = serde_json::json!({
                "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
                "event_uuid": format!("{name}-{i}"), "event_time": 1_700_000_000,
                "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
                "event_attributes": {"campaign_id": "c1"}
            });
            if let Some(uid) = uid {
                event["uid"] = Value::from(*uid);
            }
            event
        })
        .collect();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, Value::Array(events).to_string()).unwrap();
    let out = events_send(dir, config, "acme", file.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `name{labels}` in Prometheus text, where every
/// `key="value"` of `labels` is among the sample's labels.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

async fn metrics(base: &str) -> String {
    let response = engage_bridge_tests::http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// Every line of `text` as a JSON record; none holds a secret (nor the
/// workspace's Basic credentials).
fn json_records(text: &str) -> Vec<Value> {
    let credentials = basic("acme", WORKSPACE_SECRET);
    let encoded = credentials.trim_start_matches("Basic ");
    for secret in [WORKSPACE_SECRET, TOKEN, AMPLITUDE_KEY, encoded] {
        assert!(!text.contains(secret), "a secret reached the output");
    }
    text.lines()
        .map(|l| {
            let record: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
            for key in ["timestamp", "level", "message", "target"] {
                assert!(record.get(key).is_some(), "{key} missing: {record}");
            }
            record
        })
        .collect()
}

/// Polls `GET /metrics` until the sample reads `value` (40 s at most).
async fn wait_for_sample(base: &str, name: &str, labels: &[(&str, &str)], value: f64) {
    wait_for(
        async || sample(&metrics(base).await, name, labels) == Some(value),
        Duration::from_secs(40),
    )
    .await;
}

fn json_lines(dir: &Path) -> Vec<Value> {
    json_records(&std::fs::read_to_string(dir.join("serve.log")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_shows_in_metrics_and_json_logs_until_its_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(500);
    let receiver = recorder.serve().await;
    let amplitude = Recorder::new(200);
    let amplitude_server = amplitude.serve().await;
    let config = config(dir.path(), &receiver.uri(), &amplitude_server.uri());
    let mut server = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );

    let body = serde_json::json!({
        "events": [{"data": {"event_name": "Signed Up", "timestamp_unixtime_ms": 1_700_000_000_000_i64},
                    "event_type": "custom_event"},
                   {"data": {}, "event_type": "session_start"}],
        "user_identities": {"customer_id": "u-1"},
        "environment": "production"
    });
    let response = engage_bridge_tests::http_client()
        .post(format!("{}/v1/mparticle/events", server.base))
        .header("authorization", basic("acme", WORKSPACE_SECRET))
        .header("x-request-id", "req-obs-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // 1 attempt + 3 retries a second apart, then the dead letter; the
    // depth gauges refresh every 5 s.
    let depth = "engage_bridge_dead_letter_depth";
    wait_for_sample(&server.base, depth, &[("stream", "warehouse")], 1.0).await;
    let text = metrics(&server.base).await;
    let acme = [("workspace_id", "acme"), ("stream", "warehouse")];
    assert_eq!(
        sample(
            &text,
            "engage_bridge_delivery_attempts_failed_total",
            &[acme[0], acme[1], ("status", "500")]
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "engage_bridge_dead_letters_total", &acme),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "engage_bridge_events_delivered_total", &acme),
        None
    );
    assert_eq!(
        sample(
            &text,
            "engage_bridge_items_skipped_total",
            &[
                ("workspace_id", "acme"),
                ("source", "MPARTICLE"),
                ("reason", "session_start")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "engage_bridge_events_ingested_total",
            &[("workspace_id", "acme"), ("source", "MPARTICLE")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "engage_bridge_http_requests_total",
            &[("route", "/v1/mparticle/events"), ("status", "200")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "engage_bridge_delivery_duration_seconds_count",
            &acme
        ),
        Some(4.0),
        "{text}"
    );
    for queue in ["events", "retry", "cohort"] {
        assert!(
            sample(&text, "engage_bridge_queue_depth", &[("queue", queue)]).is_some(),
            "queue depth of {queue}: {text}"
        );
    }

    let lines = json_lines(dir.path());
    for line in &lines {
        for key in ["timestamp", "level", "message", "target"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
    }
    let access = lines
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "/v1/mparticle/events")
        .expect("an access line");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["request_id"], "req-obs-1");
    assert_eq!(access["workspace_id"], "acme");
    assert_eq!(access["status"], 200);
    assert!(access["ms"].is_number());

    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["stream"] == "warehouse" && l["status"] == "500")
        .collect();
    let warns: Vec<&Value> = lines.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(failed.len(), 4, "one WARN per failed attempt: {warns:?}");
    for (n, line) in failed.iter().enumerate() {
        assert_eq!(line["attempt"], n as u64 + 1, "{line}");
        assert_eq!(line["of"], 4, "{line}");
        assert_eq!(line["workspace_id"], "acme");
    }
    assert_eq!(failed[0]["next_delay_seconds"], 1);
    assert!(failed[3].get("next_delay_seconds").is_none());

    let dead: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["message"], "stream batch dead-lettered");
    assert_eq!(dead[0]["stream"], "warehouse");
    assert_eq!(dead[0]["workspace_id"], "acme");
    assert_eq!(dead[0]["events"], 1);
    assert!(
        dead[0]["moe_request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(dead[0]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("500"),
        "{}",
        dead[0]
    );

    // The dead letter the log names is the one `dlq list` shows.
    let out = run(dir.path(), &["dlq", "list", "--config", &config]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(dead[0]["id"].as_str().unwrap()), "{listed}");

    // Amplitude: an event with neither a user nor a device id is dropped
    // and counted, the others delivered and counted as they grow.
    let amplitude_labels = [("workspace_id", "acme"), ("stream", "amplitude")];
    let dropped_labels = [
        amplitude_labels[0],
        amplitude_labels[1],
        ("reason", "no_user_id_or_device_id"),
    ];
    send_email_events(dir.path(), &config, "first", &[Some("u-1"), None]);
    let delivered = "engage_bridge_events_delivered_total";
    wait_for_sample(&server.base, delivered, &amplitude_labels, 1.0).await;
    let text = metrics(&server.base).await;
    assert_eq!(
        sample(&text, "engage_bridge_events_dropped_total", &dropped_labels),
        Some(1.0),
        "{text}"
    );
    send_email_events(dir.path(), &config, "second", &[Some("u-2"), Some("u-3")]);
    wait_for_sample(&server.base, delivered, &amplitude_labels, 3.0).await;
    let text = metrics(&server.base).await;
    assert_eq!(
        sample(&text, "engage_bridge_events_dropped_total", &dropped_labels),
        Some(1.0),
        "{text}"
    );
    let mut sent: Vec<String> = amplitude
        .bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["insert_id"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    assert_eq!(sent, ["first-0", "second-0", "second-1"]);

    // Ending with an error (here: the address is taken) is a JSON line too.
    let taken = server.base.trim_start_matches("http://").to_owned();
    let out = run(
        dir.path(),
        &["serve", "--config", &config, "--listen", &taken],
    );
    assert_eq!(out.status.code(), Some(1));
    let records = json_records(&String::from_utf8_lossy(&out.stderr));
    let last = records.last().expect("an error line");
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["message"].as_str().unwrap().contains("cannot listen"),
        "{last}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Every line `serve` wrote, on stdout and on stderr, is JSON.
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0));
    let mut stdout = server.first_lines.clone();
    stdout.extend(server.lines.try_iter());
    let announced = json_records(&stdout.join("\n"));
    assert_eq!(announced[0]["url"], server.base.as_str());
    assert_eq!(
        announced[0]["message"],
        format!("engage-bridge listening on {}", server.base)
    );
    let lines = json_lines(dir.path());
    assert_eq!(lines.last().unwrap()["message"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_openapi_need_no_credentials_and_describe_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9");
    let server = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );
    let text = metrics(&server.base).await;
    assert!(text.contains("engage_bridge_queue_depth"), "{text}");

    let openapi: Value = engage_bridge_tests::http_client()
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for route in shared::topology::Route::ALL {
        let path = route.path();
        let method = route.method().as_str().to_ascii_lowercase();
        assert!(
            openapi["paths"][path][&method].is_object(),
            "{method} {path} is described"
        );
    }
}
