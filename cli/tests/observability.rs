//! What an operator sees of `serve` (docs/interface/observability.md): a
//! receiver that answers 500 until the batch is dead-lettered shows up in
//! `GET /metrics` (attempts, the dead letter, the depth gauges) and in the
//! JSON log (a WARN per attempt, an ERROR per dead letter, an access line
//! per request with its ids at the top level), and never with a secret.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, write_config};
use engage_bridge_tests::basic;
use engage_bridge_tests::receiver::{Recorder, wait_for};
use serde_json::Value;

const WORKSPACE_SECRET: &str = "ws-secret-91f0-never-logged";
const TOKEN: &str = "tok-5d3c-never-logged";

fn config(dir: &Path, url: &str) -> String {
    write_config(
        dir,
        &format!(
            "[logging]\nformat = \"json\"\n\n[retry]\nschedule_seconds = [1, 1, 1]\n\n\
             [[workspaces]]\nid = \"acme\"\nsecret = \"{WORKSPACE_SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"warehouse\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout_seconds = 5\n\
             auth = {{ type = \"header\", name = \"authorization\", value = \"Bearer {TOKEN}\" }}\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_owned()
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
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

fn json_lines(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    for secret in [WORKSPACE_SECRET, TOKEN] {
        assert!(!text.contains(secret), "a secret reached the logs");
    }
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_shows_in_metrics_and_json_logs_until_its_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(500);
    let receiver = recorder.serve().await;
    let config = config(dir.path(), &receiver.uri());
    let server = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );

    let body = serde_json::json!({
        "events": [{"data": {"event_name": "Signed Up", "timestamp_unixtime_ms": 1_700_000_000_000_i64},
                    "event_type": "custom_event"}],
        "user_identities": {"customer_id": "u-1"},
        "environment": "production"
    });
    let response = reqwest::Client::new()
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
    let base = server.base.clone();
    wait_for(
        async || {
            let text = metrics(&base).await;
            sample(
                &text,
                "engage_bridge_dead_letter_depth",
                &[("stream", "warehouse")],
            ) == Some(1.0)
        },
        Duration::from_secs(40),
    )
    .await;
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
    assert!(
        sample(
            &text,
            "engage_bridge_delivery_duration_seconds_count",
            &acme
        ) >= Some(4.0),
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_openapi_need_no_credentials_and_describe_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9");
    let server = Server::start(
        dir.path(),
        &["--config", &config, "--listen", "127.0.0.1:0"],
    );
    let text = metrics(&server.base).await;
    assert!(text.contains("engage_bridge_queue_depth"), "{text}");

    let openapi: Value = reqwest::get(format!("{}/openapi.json", server.base))
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
