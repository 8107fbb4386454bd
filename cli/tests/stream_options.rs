//! The streams' delivery options through the real binary
//! (docs/interface/streams.md): a `410 Gone` disables a stream — an ERROR
//! line, `engage_bridge_streams_disabled_total`, `dlq list` saying so —
//! until `engage-bridge streams resume`, which has its batches sent within
//! seconds; and the new secrets (an OAuth 2.0 client secret and the tokens
//! it gets, a TLS private key) never reach a log, a queue, a dead letter or
//! an error body.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, run, run_env, send_one_event, write_config};
use engage_bridge_tests::oauth2::OAuth2Peers;
use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::tls::{MtlsReceiver, Pki};
use shared::config::RetrySchedule;
use shared::runtime::Services;

const WORKSPACE_SECRET: &str = "ws-secret-41aa-never-logged";
const CLIENT_SECRET: &str = "client-secret-77c2-never-logged";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_stream_until_streams_resume() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(410);
    let receiver = recorder.serve().await;
    let config = write_config(
        dir.path(),
        &format!(
            "[logging]\nformat = \"json\"\n\n[[workspaces]]\nid = \"acme\"\nsecret = \"{WORKSPACE_SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"gone\"\ntype = \"webhook\"\nurl = \"{}/in\"\n",
            receiver.uri()
        ),
    );
    let config = config.to_str().unwrap();
    let serve = Server::start(dir.path(), &["--config", config, "--listen", "127.0.0.1:0"]);
    send_one_event(dir.path(), config, "e-1", &[]);
    wait_for(
        async || log(dir.path()).contains("stream disabled"),
        Duration::from_secs(20),
    )
    .await;
    let error = log(dir.path())
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("stream disabled")
        })
        .unwrap();
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["workspace_id"], "acme");
    assert_eq!(error["stream"], "gone");
    assert_eq!(
        error["reason"],
        format!("{}/in answered 410 Gone", receiver.uri())
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
        metrics.lines().any(|l| l
            == "engage_bridge_streams_disabled_total{workspace_id=\"acme\",stream=\"gone\"} 1"),
        "{metrics}"
    );
    // No more requests; the next batch waits too; nothing is dead.
    send_one_event(dir.path(), config, "e-2", &[]);
    wait_for(
        async || log(dir.path()).matches("the stream is disabled").count() >= 2,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(recorder.arrivals().len(), 1);
    let out = run(dir.path(), &["dlq", "list", "--config", config]);
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("is disabled (its endpoint answered 410 Gone)"),
        "{}",
        stderr(&out)
    );

    recorder.set_status(200);
    let resume = [
        "streams",
        "resume",
        "--config",
        config,
        "--workspace",
        "acme",
        "--stream",
        "gone",
    ];
    let out = run(dir.path(), &resume);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(
        async || recorder.arrivals().len() == 3,
        Duration::from_secs(20),
    )
    .await;
    let mut uuids: Vec<String> = recorder.bodies()[1..]
        .iter()
        .map(|b| b["events"][0]["event_uuid"].as_str().unwrap().to_owned())
        .collect();
    uuids.sort();
    assert_eq!(uuids, ["e-1", "e-2"], "the 410'd batch included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_and_tls_secrets_never_reach_logs_queues_or_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let (peers, tokens, receiver) = OAuth2Peers::start(3600).await;
    let pki = Pki::new();
    let mtls = MtlsReceiver::start(&pki).await;
    // A token endpoint that fails, a receiver that refuses every token, and
    // a TLS client certificate the receiver does not trust: every batch is
    // retried, then dead-lettered.
    peers.set_token_status(500);
    let config = write_config(
        dir.path(),
        &format!(
            "[retry]\nschedule_seconds = [1, 1, 1]\n\n\
             [[workspaces]]\nid = \"acme\"\nsecret = \"{WORKSPACE_SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"oauth2\"\ntype = \"webhook\"\nurl = \"{}/in\"\n\
             auth = {{ type = \"oauth2\", token_url = \"{}/token\", client_id = \"c\", client_secret = \"{CLIENT_SECRET}\" }}\n\n\
             [[workspaces.streams]]\nname = \"mtls\"\ntype = \"webhook\"\nurl = \"{}\"\n\
             tls = {{ client_cert = \"${{CERT_PEM}}\", client_key = \"${{KEY_PEM}}\", ca = \"${{CA_PEM}}\" }}\n",
            receiver.uri(),
            tokens.uri(),
            mtls.url
        ),
    );
    let config = config.to_str().unwrap();
    let env = [
        ("CERT_PEM", pki.stranger_cert.clone()),
        ("KEY_PEM", pki.stranger_key.clone()),
        ("CA_PEM", pki.ca.clone()),
    ];
    let serve = Server::start_with_env(
        dir.path(),
        &["--config", config, "--listen", "127.0.0.1:0"],
        &env,
    );
    send_one_event(dir.path(), config, "e-1", &env);
    // After the first failures the token endpoint answers, but the receiver
    // refuses the tokens: more secrets in play.
    wait_for(
        async || peers.token_requests().len() >= 2,
        Duration::from_secs(20),
    )
    .await;
    peers.refuse_all();
    peers.set_token_status(200);
    let dlq = ["dlq", "list", "--config", config];
    let mut letters = String::new();
    wait_for(
        async || {
            letters = String::from_utf8_lossy(&run_env(dir.path(), &dlq, &env).stdout).into_owned();
            letters.lines().count() == 2
        },
        Duration::from_secs(40),
    )
    .await;
    assert!(letters.contains("token endpoint"), "{letters}");
    assert!(!peers.issued().is_empty(), "tokens were issued");
    // What the retry queue holds (nothing by now, or batches on their way).
    let store = Services::sqlite(&dir.path().join("store.db"), RetrySchedule::default()).unwrap();
    let queued: Vec<String> = store
        .queues
        .retry
        .receive(10, Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    // An error body: a bad request naming the stream settings' neighbours.
    let error_body = engage_bridge_tests::http_client()
        .post(format!("{}/v1/mparticle/events", serve.base))
        .basic_auth("acme", Some(WORKSPACE_SECRET))
        .body("{not json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(serve);
    let mut secrets = vec![CLIENT_SECRET.to_owned(), WORKSPACE_SECRET.to_owned()];
    // Each line of the TLS key's PEM body.
    secrets.extend(
        pki.stranger_key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_owned),
    );
    secrets.extend(peers.issued());
    let texts = [
        ("the log", log(dir.path())),
        ("dlq list", letters),
        ("the retry queue", queued.join("\n")),
        ("an error body", error_body),
    ];
    for (place, text) in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret reached {place}");
        }
    }
}
