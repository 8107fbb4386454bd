//! Issue 13 end to end through the real binary: a signed Customer.io
//! webhook into `serve`, out to Amplitude (seed 004's table) and to a
//! Standard-Webhooks-signed stream; a paused stream's batches waiting, not
//! attempted, and flowing once enabled; destinations refused up front. On
//! the embedded store and on moto (DynamoDB/SQS).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, run_env};
use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::repo_root;
use shared::customerio::signature::sign;
use shared::domain::time::now_s;
use shared::streams::sink::signing::signature;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CIO_KEY: &str = "cio-key-77aa-never-logged";
const AMPLITUDE_KEY: &str = "amp-key-5e02-never-logged";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(status).set_body_json(serde_json::json!({"code": status})),
        )
        .mount(&server)
        .await;
    server
}

async fn events(server: &MockServer) -> Vec<serde_json::Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .flat_map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["events"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

/// The workspace section: Customer.io settings, an Amplitude stream, a
/// signed webhook stream and a webhook stream with `enabled` as given.
fn workspaces(amplitude: &str, hook: &str, paused: &str, enabled: bool) -> String {
    format!(
        "[retry]\nschedule_seconds = [1, 1, 1]\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"acme-secret\"\napp_name = \"Acme\"\n\
         customerio = {{ signing_key = \"{CIO_KEY}\", account_id = \"1\", workspace_id = \"56354\" }}\n\n\
         [[workspaces.streams]]\nname = \"amplitude\"\ntype = \"amplitude\"\napi_key = \"{AMPLITUDE_KEY}\"\nendpoint = \"{amplitude}/2/httpapi\"\n\n\
         [[workspaces.streams]]\nname = \"signed\"\ntype = \"webhook\"\nurl = \"{hook}/in\"\nsigning_secrets = [\"{WHSEC}\"]\n\n\
         [[workspaces.streams]]\nname = \"paused\"\ntype = \"webhook\"\nurl = \"{paused}/in\"\nenabled = {enabled}\n"
    )
}

async fn post_webhook(base: &str, body: &[u8]) -> reqwest::Response {
    let timestamp = now_s().to_string();
    engage_bridge_tests::http_client()
        .post(format!("{base}/v1/customerio/acme/reporting"))
        .header("x-cio-timestamp", &timestamp)
        .header(
            "x-cio-signature",
            sign(CIO_KEY.as_bytes(), &timestamp, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// The whole path on one store: in, out to Amplitude and the signed
/// stream, the paused stream waiting and then flowing. `env` and `head`
/// choose the store (nothing: the embedded one).
async fn webhook_in_to_every_stream(dir: &Path, head: &str, env: &[(&str, String)]) {
    let (amplitude, hook, paused) = (
        receiver(200).await,
        receiver(200).await,
        receiver(503).await,
    );
    let config_path = dir.join("engage-bridge.toml");
    let write = |enabled: bool| {
        let text = format!(
            "{head}{}",
            workspaces(&amplitude.uri(), &hook.uri(), &paused.uri(), enabled)
        );
        std::fs::write(&config_path, text).unwrap();
    };
    write(false);
    let config = config_path.to_str().unwrap();
    let serve = Server::start_with_env(dir, &["--config", config, "--listen", "127.0.0.1:0"], env);
    let body = std::fs::read(repo_root().join("tests/fixtures/customerio/push-sent.json")).unwrap();
    for _ in 0..2 {
        let reply = post_webhook(&serve.base, &body).await;
        assert_eq!(reply.status(), 200);
    }
    wait_for(
        async || !events(&amplitude).await.is_empty() && !events(&hook).await.is_empty(),
        Duration::from_secs(20),
    )
    .await;

    let to_amplitude = events(&amplitude).await;
    assert_eq!(
        to_amplitude.len(),
        1,
        "the repeated event_id was queued once"
    );
    let metrics = engage_bridge_tests::http_client()
        .get(format!("{}/metrics", serve.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("engage_bridge_events_ingested_total{")
                && l.contains("source=\"CUSTOMERIO\"")
                && l.ends_with(" 1")),
        "one Customer.io event counted as ingested: {metrics}"
    );
    assert_eq!(to_amplitude[0]["event_type"], "Push Sent");
    assert_eq!(to_amplitude[0]["user_id"], "0200102");
    assert_eq!(to_amplitude[0]["platform"], "Android");
    assert_eq!(
        to_amplitude[0]["groups"],
        serde_json::json!({"account_id": "1", "workspace_id": "56354"})
    );

    let signed = &hook.received_requests().await.unwrap()[0];
    let header = |name: &str| {
        signed
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let key = shared::config::signing::signing_key(&shared::config::Secret::new(WHSEC)).unwrap();
    let expected = signature(
        &key,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        &signed.body,
    );
    assert_eq!(header("webhook-signature"), expected);

    // Paused: nothing was attempted, dlq list shows no dead letter and says
    // the stream is paused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(paused.received_requests().await.unwrap().is_empty());
    let out = run_env(dir, &["dlq", "list", "--config", config], env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("stream \"paused\" of workspace \"acme\" is paused (enabled = false)"),
        "{note}"
    );

    // Enabled while serve runs: the waiting batch is sent (within the
    // 60 s a paused batch waits between looks), then, as its receiver
    // answers 503, goes through the whole retry schedule: the pause never
    // counted as an attempt.
    write(true);
    let out = run_env(dir, &["workspaces", "apply", "--config", config], env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut listed = Vec::new();
    wait_for(
        async || {
            let out = run_env(dir, &["dlq", "list", "--config", config], env);
            listed = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect();
            !listed.is_empty()
        },
        Duration::from_secs(90),
    )
    .await;
    let letter: serde_json::Value = serde_json::from_str(&listed[0]).unwrap();
    assert_eq!(letter["stream"], "paused");
    assert_eq!(
        letter["attempts"].as_array().unwrap().len(),
        4,
        "1 send + 3 retries: {letter}"
    );
    assert_eq!(paused.received_requests().await.unwrap().len(), 4);
    drop(serve);
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(log.contains("batch waits: the stream is paused (enabled = false)"));
    for secret in [CIO_KEY, AMPLITUDE_KEY, "acme-secret", &WHSEC[6..]] {
        assert!(!log.contains(secret), "a secret in the log");
        assert!(!listed[0].contains(secret), "a secret in the dead letter");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customerio_in_signed_and_paused_streams_out_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let head = format!(
        "[storage]\npath = {:?}\n\n",
        dir.path().join("store.db").display().to_string()
    );
    webhook_in_to_every_stream(dir.path(), &head, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customerio_in_signed_and_paused_streams_out_on_moto() {
    let backend = engage_bridge_tests::aws().await;
    let env = common::aws_env(backend.resources.as_ref().unwrap());
    let dir = tempfile::tempdir().unwrap();
    // The receivers are on 127.0.0.1, which aws refuses unless allowed.
    let head = "[storage]\nbackend = \"aws\"\n\n[security]\nprivate_destinations = \"allow\"\n\n";
    webhook_in_to_every_stream(dir.path(), head, &env).await;
}

/// A destination the streams may not reach stops `serve`, `workspaces
/// apply` and `streams test` before anything runs, naming the key.
#[test]
fn refused_destinations_are_reported_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[security]\nprivate_destinations = \"deny\"\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"s\"\napp_name = \"A\"\n\
         [[workspaces.streams]]\nname = \"inward\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/in\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    for args in [
        vec![
            "streams",
            "test",
            "--config",
            config,
            "--workspace",
            "acme",
            "--stream",
            "inward",
        ],
        vec!["workspaces", "apply", "--config", config],
        vec!["serve", "--config", config, "--listen", "127.0.0.1:0"],
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("workspaces[0].streams[0].url")
                && err.contains("127.0.0.1 is a loopback address"),
            "{err}"
        );
    }
}
