//! Standard Webhooks signing of webhook streams (docs/interface/streams.md
//! "Signing (Standard Webhooks)"), checked by an independent implementation:
//! the `standardwebhooks` Python package, the reference library receivers
//! use (installed, pinned, by scripts/test), verifying the exact request a
//! local receiver got.

use std::path::PathBuf;
use std::process::Command;

use engage_bridge_tests::{python, sqlite};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::*;

const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER: &str = "whsec_dGhpcyBpcyBub3QgYW55IHN0cmVhbSdzIGtleSE=";

/// Verifies with the reference library; prints `ok` or the library's error.
const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, body_path, headers_path = sys.argv[1:4]
body = open(body_path, "rb").read()
headers = json.load(open(headers_path))
try:
    Webhook(secret).verify(body, headers)
    print("ok")
except Exception as e:
    print(type(e).__name__, e)
"#;

fn verify(secret: &str, body: &PathBuf, headers: &PathBuf) -> String {
    let out = Command::new(python())
        .args(["-c", VERIFY, secret])
        .arg(body)
        .arg(headers)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn ok_receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn every_listed_secret_signs_and_the_reference_library_verifies_each() {
    let server = ok_receiver().await;
    let b = sqlite();
    let extra = format!("signing_secrets = [\"{OLD}\", \"{NEW}\"]");
    workspace_with_streams(&b, &webhook_stream("signed", &server.uri(), &extra)).await;
    dispatch(&b, vec![email_event(1, "u1")]).await;

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        header("webhook-id"),
        body["moe_request_id"].as_str().unwrap()
    );
    assert!(!header("webhook-id").contains('.'));
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert!((timestamp - shared::domain::time::now_s()).abs() <= 5);
    let entries: Vec<String> = header("webhook-signature")
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(entries.len(), 2, "one v1 entry per secret");
    assert!(entries.iter().all(|e| e.starts_with("v1,")));

    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    let headers_path = dir.path().join("headers.json");
    std::fs::write(&body_path, &request.body).unwrap();
    let headers = serde_json::json!({
        "webhook-id": header("webhook-id"),
        "webhook-timestamp": header("webhook-timestamp"),
        "webhook-signature": header("webhook-signature"),
    });
    std::fs::write(&headers_path, headers.to_string()).unwrap();
    // Either key verifies: the receiver can switch keys at any time.
    assert_eq!(verify(OLD, &body_path, &headers_path), "ok");
    assert_eq!(verify(NEW, &body_path, &headers_path), "ok");
    let refused = verify(OTHER, &body_path, &headers_path);
    assert!(refused.starts_with("WebhookVerificationError"), "{refused}");
    // One byte changed: no key verifies.
    let mut altered = request.body.clone();
    altered[10] ^= 1;
    std::fs::write(&body_path, &altered).unwrap();
    assert!(verify(OLD, &body_path, &headers_path).starts_with("WebhookVerificationError"));
}

/// A stream without `signing_secrets` sends no signature headers.
#[tokio::test]
async fn unsigned_streams_send_no_signature_headers() {
    let server = ok_receiver().await;
    let b = sqlite();
    workspace_with_streams(&b, &webhook_stream("plain", &server.uri(), "")).await;
    dispatch(&b, vec![email_event(1, "u1")]).await;
    let requests = server.received_requests().await.unwrap();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(requests[0].headers.get(name).is_none(), "{name}");
    }
}

#[test]
fn signing_secrets_are_checked_when_the_config_is_read() {
    let stream = |secret: &str| {
        format!(
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://example.com\"\nsigning_secrets = [\"{OLD}\", \"{secret}\"]\n"
        )
    };
    assert!(shared::config::parse(&stream(NEW)).is_ok());
    for (secret, why) in [
        (
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "must start with \"whsec_\"",
        ),
        ("whsec_%%%notbase64", "standard base64"),
        ("whsec_c2hvcnQ=", "5-byte key"),
    ] {
        let e = shared::config::parse(&stream(secret))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("workspaces[0].streams[0].signing_secrets (line 9)"),
            "{e}"
        );
        assert!(e.contains("secret [1]") && e.contains(why), "{e}");
        assert!(!e.contains(&secret[6..]), "never quoted: {e}");
    }
}
