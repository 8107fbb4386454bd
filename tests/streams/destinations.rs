//! The destination guard (docs/interface/streams.md "Destinations"), with
//! real receivers on 127.0.0.1: loopback is refused under `deny` and
//! reached under `allow`; metadata addresses never; names are checked as
//! they are resolved for the connection (a name that turns private after
//! passing a check is refused at send time); redirects are not followed.
//! DNS itself is the one stand-in: a resolver returning chosen addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::{Backend, sqlite};
use shared::config::PrivateDestinations::{Allow, Deny};
use shared::config::SinkConfig;
use shared::outbound::HttpClient;
use shared::outbound::client::Unreachable;
use shared::outbound::destination::LookupError;
use shared::outbound::destination::{Lookup, Resolver};
use shared::streams::dlq::{self, Filter};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::*;
use crate::retries::run_retry_consumer;

/// Answers each lookup with the next list of addresses (the last repeats).
struct Answers {
    answers: Vec<Vec<IpAddr>>,
    calls: AtomicUsize,
}

impl Answers {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(Self {
            answers: answers
                .iter()
                .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                .collect(),
            calls: AtomicUsize::new(0),
        })
    }
}

impl Resolver for Answers {
    fn lookup(&self, _host: String) -> Lookup<'static> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers[call.min(self.answers.len() - 1)].clone();
        Box::pin(async move { Ok(answer) })
    }
}

/// The retry message a dispatch left (visible after the first delay), as JSON.
async fn retry_message(b: &Backend) -> serde_json::Value {
    let mut messages = Vec::new();
    wait_for(
        async || {
            messages.extend(take_all(b.queues.retry.raw().as_ref()).await);
            !messages.is_empty()
        },
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(messages.len(), 1);
    serde_json::from_str(&messages[0].body).unwrap()
}

/// Under `deny`, a receiver on 127.0.0.1 gets nothing: the batch fails
/// with the reason, goes through the retries and ends as a dead letter
/// that says why. Under `allow` the same receiver gets the batch.
async fn deny_refuses_loopback_to_the_dead_letter_and_allow_delivers(mut b: Backend) {
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    workspace_with_streams(
        &b,
        &webhook_stream("w", &format!("{}/in", server.uri()), ""),
    )
    .await;
    b.services = b.services.clone().with_private_destinations(Deny);
    let stop = run_retry_consumer(&b);
    dispatch(&b, vec![email_event(1, "u1")]).await;
    let mut listed = Vec::new();
    wait_for(
        async || {
            listed = dlq::list(&b, &Filter::default()).await.unwrap();
            !listed.is_empty()
        },
        Duration::from_secs(20),
    )
    .await;
    stop.send(true).unwrap();
    assert!(
        recorder.arrivals().is_empty(),
        "{}: nothing reached 127.0.0.1",
        b.kind
    );
    let reason = "destination refused: 127.0.0.1 is a loopback address; allowed only with [security] private_destinations = \"allow\"";
    assert_eq!(listed[0].attempts.len(), 4, "{}", b.kind);
    assert!(
        listed[0]
            .attempts
            .iter()
            .all(|a| a.error == reason && a.status.is_none())
    );
    assert_eq!(
        listed[0].reason,
        format!("gave up after 3 retries: {reason}")
    );

    b.services = b.services.clone().with_private_destinations(Allow);
    dispatch(&b, vec![email_event(2, "u1")]).await;
    assert_eq!(recorder.arrivals().len(), 1, "{}", b.kind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_refuses_loopback_to_the_dead_letter_and_allow_delivers_sqlite() {
    deny_refuses_loopback_to_the_dead_letter_and_allow_delivers(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_refuses_loopback_to_the_dead_letter_and_allow_delivers_aws() {
    deny_refuses_loopback_to_the_dead_letter_and_allow_delivers(engage_bridge_tests::aws().await)
        .await;
}

/// Metadata addresses are refused even under `allow`, at send time too
/// (a stored stream that bypassed the config check).
#[tokio::test]
async fn the_metadata_address_is_always_refused() {
    let b = sqlite();
    workspace_with_streams(&b, &webhook_stream("w", "https://hooks.example.org/in", "")).await;
    let mut ws = b.workspaces.get_workspace("ws").await.unwrap().unwrap();
    if let SinkConfig::Webhook(webhook) = &mut ws.streams[0].sink {
        webhook.url = "http://169.254.169.254/latest/meta-data/".into();
    }
    b.workspaces.put_workspace(&ws).await.unwrap();
    dispatch(&b, vec![email_event(1, "u1")]).await;
    let message = retry_message(&b).await;
    assert_eq!(
        message["attempts"][0]["error"],
        "destination refused: 169.254.169.254 is a link-local (cloud metadata) address, which streams may never reach"
    );
    let text = "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"http://[::ffff:169.254.169.254]/\"\n";
    let e = shared::config::parse(&format!(
        "[security]\nprivate_destinations = \"allow\"\n{text}"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("workspaces[0].streams[0].url (line 10)"), "{e}");
    assert!(e.ends_with("::ffff:169.254.169.254 is a link-local (cloud metadata) address, which streams may never reach"), "{e}");
}

/// A name is checked when it is resolved to connect: it may pass a check
/// (public) and answer a private address when the request is sent (DNS
/// rebinding). The request is refused, nothing is connected to.
#[tokio::test]
async fn a_name_turning_private_after_a_check_is_refused_at_send_time() {
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    let port = server.address().port();
    let url = format!("http://rebind.test:{port}/in");
    let answers = Answers::new(&[&["93.184.216.34"], &["127.0.0.1"]]);
    let http = HttpClient::with_resolver(Deny, answers.clone());
    assert!(http.check(&url).await.is_ok(), "public at first");

    let mut b = sqlite();
    b.services = b.services.clone().with_http(http.clone());
    workspace_with_streams(&b, &webhook_stream("w", &url, "")).await;
    dispatch(&b, vec![email_event(1, "u1")]).await;
    assert!(recorder.arrivals().is_empty());
    assert_eq!(
        answers.calls.load(Ordering::SeqCst),
        2,
        "resolved again to connect"
    );
    assert_eq!(
        retry_message(&b).await["attempts"][0]["error"],
        "destination refused: rebind.test resolves to 127.0.0.1, a loopback address; allowed only with [security] private_destinations = \"allow\""
    );
    // A name answering a public and a private address is refused whole.
    let mixed = HttpClient::with_resolver(Deny, Answers::new(&[&["93.184.216.34", "10.0.0.8"]]));
    let e = mixed.check(&url).await.unwrap_err();
    let Unreachable::Lookup(LookupError::Refused(refused)) = &e else {
        panic!("not a refusal: {e}");
    };
    assert_eq!(refused.address.to_string(), "10.0.0.8");
    assert_eq!(refused.kind, "private");
    assert!(
        e.to_string()
            .contains("resolves to 10.0.0.8, a private address"),
        "{e}"
    );
}

/// The client connects where its resolver says: under `allow` a name
/// resolving to the local receiver is delivered to.
#[tokio::test]
async fn names_are_connected_through_the_checked_resolver() {
    let recorder = Recorder::new(200);
    let server = recorder.serve().await;
    let url = format!("http://receiver.test:{}/in", server.address().port());
    let mut b = sqlite();
    let http = HttpClient::with_resolver(Allow, Answers::new(&[&["127.0.0.1"]]));
    b.services = b.services.clone().with_http(http);
    workspace_with_streams(&b, &webhook_stream("w", &url, "")).await;
    dispatch(&b, vec![email_event(1, "u1")]).await;
    assert_eq!(recorder.arrivals().len(), 1);
}

/// A 3xx is a failure with its reason: the redirect target is never asked.
#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Recorder::new(200);
    let target_server = target.serve().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/in", target_server.uri())),
        )
        .mount(&server)
        .await;
    let b = sqlite();
    workspace_with_streams(
        &b,
        &webhook_stream("w", &format!("{}/in", server.uri()), ""),
    )
    .await;
    dispatch(&b, vec![email_event(1, "u1")]).await;
    assert!(target.arrivals().is_empty());
    let attempt = &retry_message(&b).await["attempts"][0];
    assert_eq!(attempt["status"], 307);
    assert_eq!(
        attempt["error"],
        "HTTP 307: the destination redirects, and redirects are not followed"
    );
}

/// Config validation names the key, the line and the reason, before
/// anything runs; the aws backend denies by default.
#[test]
fn config_validation_reports_refused_destinations_up_front() {
    let stream = |url: &str| {
        format!(
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"{url}\"\n"
        )
    };
    let parse = |text: String| {
        shared::config::parse(&text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert!(
        parse(stream("http://127.0.0.1:9000/in")).is_ok(),
        "sqlite allows by default"
    );
    for (head, url) in [
        (
            "[security]\nprivate_destinations = \"deny\"\n",
            "http://127.0.0.1:9000/in",
        ),
        ("[storage]\nbackend = \"aws\"\n", "http://10.1.2.3/in"),
        ("[storage]\nbackend = \"aws\"\n", "http://localhost:8080/in"),
        (
            "[security]\nprivate_destinations = \"deny\"\n",
            "http://[::1]:9000/in",
        ),
    ] {
        let e = parse(format!("{head}{}", stream(url))).unwrap_err();
        assert!(
            e.contains("workspaces[0].streams[0].url (line 10)"),
            "{url}: {e}"
        );
        assert!(
            e.contains("allowed only with [security] private_destinations = \"allow\""),
            "{e}"
        );
    }
    let amplitude = "[security]\nprivate_destinations = \"deny\"\n[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\nendpoint = \"http://192.168.0.9/2/httpapi\"\n";
    let e = parse(amplitude.into()).unwrap_err();
    assert!(
        e.contains("streams[0].endpoint") && e.contains("192.168.0.9 is a private address"),
        "{e}"
    );
}
