//! The console in headless Chromium on both backends: `engage-bridge serve`
//! on SQLite, and `engage-bridge console` against DynamoDB/SQS (moto). This
//! test seeds one scenario (two workspaces, a stream that accepts and one
//! that answers 503, a cohort, dead letters) and runs the Playwright suite
//! `tests/browser/console_suite.py` against it; the suite's failures fail
//! the test. Python with Playwright and Debian's chromium are installed by
//! `scripts/test` (`ENGAGE_BRIDGE_TEST_PYTHON` / `ENGAGE_BRIDGE_TEST_CHROMIUM`
//! point elsewhere); without them the test fails saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use engage_bridge_tests::receiver::Recorder;
use engage_bridge_tests::{aws, basic, call, dispatch_queued, repo_root, run_handler};
use serde_json::json;
use shared::delivery_log::model::LogQuery;
use shared::runtime::Services;
use shared::streams::dlq::{self, Filter};
use shared::topology::QueueName;

const TENANT_SECRET: &str = "acme-secret-value-1";
const OTHER_SECRET: &str = "other-secret-value-1";
const OPERATOR_TOKEN: &str = "operator-token-0123456789";
const PASSWORD: &str = "warehouse-password-1";
const HEADER_SECRET: &str = "header-secret-value-1";
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn scenario(ok: &str, bad: &str) -> String {
    format!(
        r#"
[console]
operator_token = "{OPERATOR_TOKEN}"

[retry]
schedule_seconds = [1]

[security]
private_destinations = "allow"

[[workspaces]]
id = "acme"
secret = "{TENANT_SECRET}"
app_name = "Acme"
unknown_cohort_users = "create"

[[workspaces.streams]]
name = "warehouse"
type = "webhook"
url = "{ok}/events"
auth = {{ type = "basic", username = "bridge", password = "{PASSWORD}" }}
headers = {{ "X-Api-Key" = "{HEADER_SECRET}" }}
signing_secrets = ["{SIGNING}"]

[[workspaces.streams]]
name = "broken"
type = "webhook"
url = "{bad}/events"

[[workspaces]]
id = "other"
secret = "{OTHER_SECRET}"
app_name = "Other"

[[workspaces.streams]]
name = "other-broken"
type = "webhook"
url = "{bad}/events"
"#
    )
}

/// The seeding requests: (workspace, secret, path, body).
fn requests() -> Vec<(&'static str, &'static str, &'static str, serde_json::Value)> {
    let events = |uid: &str, names: &[&str], n: i64| {
        json!({
            "user_identities": [{"identity_type": "customer_id", "identity": uid}],
            "user_attributes": {"$FirstName": "Jane", "plan": "premium"},
            "events": names.iter().enumerate().map(|(i, name)| json!({
                "event_type": "custom_event",
                "data": {"event_id": n * 10 + i as i64, "event_name": name,
                         "timestamp_unixtime_ms": 1_795_341_605_000_i64 + n}
            })).collect::<Vec<_>>()
        })
    };
    let mut out = Vec::new();
    for n in 0..3 {
        out.push((
            "acme",
            TENANT_SECRET,
            "/v1/mparticle/events",
            events("jane", &["Signed Up", "Plan Chosen"], n),
        ));
    }
    out.push((
        "other",
        OTHER_SECRET,
        "/v1/mparticle/events",
        events("olga", &["Other Event"], 9),
    ));
    out.push((
        "acme",
        TENANT_SECRET,
        "/v1/amplitude/cohorts",
        json!({"cohort_name": "Cart Drop off", "cohort_id": "7khm89cz", "in_cohort": true,
               "computed_time": "1692206763", "message_id": "cohort-message-1",
               "users": [{"user_id": "jane"}, {"user_id": "new-user@example.com"}]}),
    ));
    out
}

fn python() -> PathBuf {
    let python = std::env::var_os("ENGAGE_BRIDGE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let has_playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_playwright,
        "{} has no Playwright: run scripts/test (it installs Playwright and chromium), \
         or set ENGAGE_BRIDGE_TEST_PYTHON",
        python.display()
    );
    python
}

/// Ids of the other workspace's delivery attempt and dead letter.
async fn other_ids(services: &Services) -> (String, String) {
    let query = LogQuery {
        limit: 10,
        ..LogQuery::default()
    };
    let entry = services
        .delivery_log
        .list("other", &query)
        .await
        .unwrap()
        .entries;
    let filter = Filter {
        workspace: Some("other".into()),
        ..Filter::default()
    };
    let dead = dlq::list(services, &filter).await.unwrap();
    (entry[0].id.clone(), dead[0].id.clone())
}

async fn dead_letters(services: &Services, workspace: &str) -> usize {
    let filter = Filter {
        workspace: Some(workspace.into()),
        ..Filter::default()
    };
    dlq::list(services, &filter).await.unwrap().len()
}

fn run_suite(mode: &str, base: &str, ids: &(String, String)) {
    let shots = repo_root().join("target/console-screenshots");
    let secrets = json!([
        TENANT_SECRET,
        OTHER_SECRET,
        OPERATOR_TOKEN,
        PASSWORD,
        HEADER_SECRET,
        SIGNING
    ]);
    let status = Command::new(python())
        .arg(repo_root().join("tests/browser/console_suite.py"))
        .env("EB_BASE", base)
        .env("EB_MODE", mode)
        .env("EB_TENANT", "acme")
        .env("EB_TENANT_SECRET", TENANT_SECRET)
        .env("EB_OTHER", "other")
        .env("EB_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("EB_SECRETS", secrets.to_string())
        .env("EB_OTHER_DELIVERY_ID", &ids.0)
        .env("EB_OTHER_DEAD_LETTER_ID", &ids.1)
        .env("EB_SHOTS", &shots)
        .env(
            "EB_CHROMIUM",
            std::env::var("ENGAGE_BRIDGE_TEST_CHROMIUM")
                .unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .status()
        .expect("run the browser suite");
    assert!(
        status.success(),
        "the browser suite failed in {mode} mode (its output above)"
    );
}

async fn wait_until(mut check: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_chromium_on_serve() {
    drop(python());
    let (ok, bad) = (Recorder::new(200), Recorder::new(503));
    let (ok_server, bad_server) = (ok.serve().await, bad.serve().await);
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), &scenario(&ok_server.uri(), &bad_server.uri()));
    let server = common::Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let client = engage_bridge_tests::http_client();
    for (workspace, secret, path, body) in requests() {
        let answer = client
            .post(format!("{}{path}", server.base))
            .header("authorization", basic(workspace, secret))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            200,
            "{path}: {}",
            answer.text().await.unwrap()
        );
    }
    // The same store, read beside serve (SQLite is shared between processes).
    let services = Services::sqlite(&dir.path().join("store.db"), Default::default()).unwrap();
    wait_until(
        async || dead_letters(&services, "acme").await >= 3,
        "acme's dead letters",
    )
    .await;
    wait_until(
        async || dead_letters(&services, "other").await >= 1,
        "other's dead letter",
    )
    .await;
    let ids = other_ids(&services).await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || run_suite("serve", &base, &ids))
        .await
        .unwrap();
    assert!(!ok.bodies().is_empty(), "the receiver got the deliveries");
}

/// What the AWS functions would do: answer the requests, apply the cohort,
/// dispatch, retry once (then dead letters), record the log.
async fn seed_aws(services: &Services) {
    for (workspace, secret, path, body) in requests() {
        let request = http::Request::post(path)
            .header("authorization", basic(workspace, secret))
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .unwrap();
        let answer = call(services, request).await;
        assert_eq!(
            answer.status(),
            200,
            "{path}: {}",
            String::from_utf8_lossy(answer.body())
        );
    }
    let cohort = services
        .queues
        .raw(QueueName::Cohort)
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    run_handler(services, QueueName::Cohort, cohort).await;
    dispatch_queued(services).await;
    // The schedule's one retry, 1 s later, fails too: dead letters.
    wait_until(
        async || {
            let due = services
                .queues
                .raw(QueueName::Retry)
                .receive(10, Duration::from_secs(30), Duration::ZERO)
                .await
                .unwrap();
            if !due.is_empty() {
                run_handler(services, QueueName::Retry, due).await;
            }
            dead_letters(services, "acme").await >= 3 && dead_letters(services, "other").await >= 1
        },
        "dead letters on AWS",
    )
    .await;
    services.delivery_log.flush(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_chromium_on_aws() {
    drop(python());
    let (ok, bad) = (Recorder::new(200), Recorder::new(503));
    let (ok_server, bad_server) = (ok.serve().await, bad.serve().await);
    let backend = aws().await;
    let text = scenario(&ok_server.uri(), &bad_server.uri());
    let config = shared::config::parse(&text).unwrap();
    backend.workspaces.apply(&config.workspaces).await.unwrap();
    seed_aws(&backend.services).await;
    let ids = other_ids(&backend.services).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws.toml");
    std::fs::write(&path, format!("[storage]\nbackend = \"aws\"\n{text}")).unwrap();
    let env = common::aws_env(backend.resources.as_ref().unwrap());
    let console = Console::start(dir.path(), &path, &env);

    // Live on AWS polls the delivery log: keep adding to it while the suite runs.
    let services = backend.services.clone();
    let feeder = tokio::spawn(async move {
        for n in 0.. {
            let body = json!({
                "user_identities": [{"identity_type": "customer_id", "identity": "jane"}],
                "events": [{"event_type": "custom_event", "data": {"event_id": 1000 + n, "event_name": "Live Ping",
                            "timestamp_unixtime_ms": 1_795_341_605_000_i64 + n}}]
            });
            let request = http::Request::post("/v1/mparticle/events")
                .header("authorization", basic("acme", TENANT_SECRET))
                .header("content-type", "application/json")
                .body(body.to_string().into_bytes())
                .unwrap();
            call(&services, request).await;
            dispatch_queued(&services).await;
            services.delivery_log.flush(Duration::from_secs(5)).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let base = console.base.clone();
    let suite = tokio::task::spawn_blocking(move || run_suite("console", &base, &ids));
    let result = suite.await;
    feeder.abort();
    drop(console);
    result.unwrap();
}

/// A running `engage-bridge console`; killed on drop.
struct Console {
    child: std::process::Child,
    base: String,
}

impl Console {
    fn start(dir: &Path, config: &Path, env: &[(&str, String)]) -> Self {
        use std::io::{BufRead, BufReader};
        let log = std::fs::File::create(dir.join("console.log")).unwrap();
        let mut child = Command::new(common::BIN)
            .args([
                "console",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn engage-bridge console");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next()
            .expect("the console printed its address")
            .unwrap();
        let base = line
            .strip_prefix("engage-bridge console on ")
            .and_then(|u| u.strip_suffix("/console"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, base }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
