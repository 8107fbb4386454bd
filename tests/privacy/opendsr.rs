//! The OpenDSR processor end to end (docs/interface/privacy.md "OpenDSR"),
//! on both backends, against a local controller stub: a real RSA key made
//! by Python's `cryptography` (pinned, installed by scripts/test), which also
//! verifies every signature engage-bridge made — the 201 and status
//! answers and each callback.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, python, run_queued};
use http::StatusCode;
use serde_json::{Value, json};
use shared::config::{RsaSigningKey, Secret};
use shared::privacy::settings::PrivacySettings;
use shared::topology::QueueName;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const DOMAIN: &str = "bridge.example.test";
const PUBLIC_URL: &str = "https://bridge.example.test";

/// A fresh RSA key pair: (private PEM in `format`, public PEM).
fn key_pair(dir: &Path, format: &str) -> (String, String) {
    const KEYGEN: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
form = {"pkcs8": serialization.PrivateFormat.PKCS8,
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL}[sys.argv[1]]
open(sys.argv[2], "wb").write(key.private_bytes(serialization.Encoding.PEM, form,
    serialization.NoEncryption()))
open(sys.argv[3], "wb").write(key.public_key().public_bytes(serialization.Encoding.PEM,
    serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    let (private, public) = (dir.join("key.pem"), dir.join("public.pem"));
    let out = Command::new(python())
        .args(["-c", KEYGEN, format])
        .arg(&private)
        .arg(&public)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read_to_string(public).unwrap(),
    )
}

/// `ok` or the failure, per (body, base64 signature), as verified by
/// `cryptography` with RSA PKCS#1 v1.5 and SHA-256.
fn verify(dir: &Path, public_pem: &str, signed: &[(Vec<u8>, String)]) -> Vec<String> {
    const VERIFY: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
for item in json.load(open(sys.argv[2])):
    try:
        key.verify(base64.b64decode(item["signature"]), base64.b64decode(item["body"]),
                   padding.PKCS1v15(), hashes.SHA256())
        print("ok")
    except Exception as e:
        print("invalid", type(e).__name__)
"#;
    let key = dir.join("verify-public.pem");
    std::fs::write(&key, public_pem).unwrap();
    let items: Vec<Value> = signed
        .iter()
        .map(|(body, signature)| json!({"body": STANDARD.encode(body), "signature": signature}))
        .collect();
    let list = dir.join("signed.json");
    std::fs::write(&list, serde_json::to_vec(&items).unwrap()).unwrap();
    let out = Command::new(python())
        .args(["-c", VERIFY])
        .arg(&key)
        .arg(&list)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The signature of an answer, checking its processor domain.
fn signature(reply: &Reply) -> String {
    assert_eq!(reply.headers["x-opendsr-processor-domain"], DOMAIN);
    reply.headers["x-opendsr-signature"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A controller that answers 503 to its first callback, then 200.
async fn controller() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/callbacks"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/callbacks"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// (status, body, raw body, signature) of every callback of request `id`
/// that reached the controller, in order.
async fn callbacks(server: &MockServer, id: &str) -> Vec<(String, Value, Vec<u8>, String)> {
    let requests = server.received_requests().await.unwrap_or_default();
    let mut out = Vec::new();
    for request in requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if body["subject_request_id"] != id {
            continue;
        }
        assert_eq!(request.headers["x-opendsr-processor-domain"], DOMAIN);
        let signature = request.headers["x-opendsr-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        out.push((
            body["request_status"].as_str().unwrap().to_owned(),
            body,
            request.body.clone(),
            signature,
        ));
    }
    out
}

/// Runs the privacy consumer until the request's callbacks for every one of
/// `statuses` arrived (a failed callback comes again on the 1 s schedule).
async fn until_called_back(b: &Backend, server: &MockServer, id: &str, statuses: &[&str]) {
    wait_for(
        async || {
            run_queued(b, QueueName::Privacy).await;
            run_queued(b, QueueName::Events).await;
            let got: Vec<String> = callbacks(server, id)
                .await
                .into_iter()
                .map(|c| c.0)
                .collect();
            statuses.iter().all(|s| got.iter().any(|g| g == s))
        },
        Duration::from_secs(30),
    )
    .await;
}

fn request(id: &str, kind: &str, identities: Value, callback: &str) -> Value {
    json!({
        "regulation": "gdpr",
        "subject_request_id": id,
        "subject_request_type": kind,
        "submitted_time": "2026-11-30T10:00:00Z",
        "api_version": "3.0",
        "subject_identities": identities,
        "status_callback_urls": [callback],
        "extensions": {"mparticle.com": {"skip_waiting_period": true}}
    })
}

async fn erasure_and_access_run_end_to_end(mut b: Backend, key_format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (private_pem, public_pem) = key_pair(dir.path(), key_format);
    b.services = b.services.clone().with_privacy(PrivacySettings {
        processor_domain: Some(DOMAIN.into()),
        processor_certificate_url: Some(format!("{PUBLIC_URL}/opendsr.pem")),
        signing_key: Some(RsaSigningKey::from_pem(&Secret::new(private_pem)).unwrap()),
        public_url: Some(PUBLIC_URL.into()),
        ..PrivacySettings::default()
    });
    let b = &b;
    let ws = workspace_id();
    setup(b, &ws, "").await;
    for (uid, email) in [
        ("dsr-user", "dsr@example.com"),
        ("stays", "stays@example.com"),
    ] {
        let reply = as_ws(
            b,
            &ws,
            "POST",
            "/v1/mparticle/events",
            Some(&mparticle_batch(
                uid,
                email,
                &format!("anon-{uid}"),
                "Opened",
            )),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    settle(b).await;
    let server = controller().await;
    let callback = format!("{}/callbacks", server.uri());
    let mut signed: Vec<(Vec<u8>, String)> = Vec::new();

    // Discovery needs no credentials.
    let discovery = call(b, "GET", "/v1/opendsr/discovery", None, b"").await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert_eq!(
        discovery.body,
        json!({
        "api_version": "3.0",
        "supported_identities": [
            {"identity_type": "controller_customer_id", "identity_format": "raw"},
            {"identity_type": "email", "identity_format": "raw"}],
        "supported_subject_request_types": ["erasure", "access"],
        "processor_certificate": format!("{PUBLIC_URL}/opendsr.pem")})
    );
    signed.push((discovery.raw.clone(), signature(&discovery)));

    // Access (portability), list form, by email: 201, signed; repeated, the same answer.
    let access_id = "0f9a3b5c-8d7e-4f21-9a6b-3c2d1e0f4a5b";
    let body = request(access_id, "portability",
        json!([{"identity_type": "email", "identity_value": "dsr@example.com", "identity_format": "raw"}]),
        &callback).to_string();
    let created = call(
        b,
        "POST",
        "/v1/opendsr/requests",
        Some(&auth(&ws)),
        body.as_bytes(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["controller_id"], ws.as_str());
    assert_eq!(created.body["subject_request_id"], access_id);
    assert_eq!(created.body["encoded_request"], STANDARD.encode(&body));
    for time in ["received_time", "expected_completion_time"] {
        assert!(
            created.body[time].as_str().unwrap().ends_with('Z'),
            "{time}"
        );
    }
    signed.push((created.raw.clone(), signature(&created)));
    let again = call(
        b,
        "POST",
        "/v1/opendsr/requests",
        Some(&auth(&ws)),
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        (again.status, &again.raw),
        (StatusCode::CREATED, &created.raw),
        "{}",
        b.kind
    );
    let pending = as_ws(
        b,
        &ws,
        "GET",
        &format!("/v1/opendsr/requests/{access_id}"),
        None,
    )
    .await;
    assert_eq!(pending.body["request_status"], "pending");
    assert!(pending.body.get("results_url").is_none());
    signed.push((pending.raw.clone(), signature(&pending)));

    until_called_back(
        b,
        &server,
        access_id,
        &["pending", "in_progress", "completed"],
    )
    .await;
    let done = as_ws(
        b,
        &ws,
        "GET",
        &format!("/v1/opendsr/requests/{access_id}"),
        None,
    )
    .await;
    let results_path = format!("/v1/opendsr/requests/{access_id}/results");
    assert_eq!(
        done.body,
        json!({
        "controller_id": ws, "subject_request_id": access_id, "request_status": "completed",
        "expected_completion_time": created.body["expected_completion_time"],
        "results_url": format!("{PUBLIC_URL}{results_path}"), "api_version": "3.0"}),
        "{}",
        b.kind
    );
    signed.push((done.raw.clone(), signature(&done)));
    let results = as_ws(b, &ws, "GET", &results_path, None).await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    assert_eq!(results.body["uid"], "dsr-user");
    assert_eq!(results.body["identities"]["email"], "dsr@example.com");
    assert_eq!(results.body["profile"]["attributes"]["plan"], "gold");
    signed.push((results.raw.clone(), signature(&results)));
    let other = format!("{ws}-other");
    assert_eq!(
        as_ws(b, &other, "GET", &results_path, None).await.status,
        StatusCode::NOT_FOUND
    );
    let access_callbacks = callbacks(&server, access_id).await;
    let completed = access_callbacks
        .iter()
        .find(|c| c.0 == "completed")
        .unwrap();
    assert_eq!(
        completed.1,
        json!({
        "controller_id": ws, "subject_request_id": access_id, "request_status": "completed",
        "expected_completion_time": created.body["expected_completion_time"],
        "results_url": format!("{PUBLIC_URL}{results_path}"), "api_version": "3.0",
        "status_callback_url": callback})
    );
    // The controller answered the very first callback 503: it comes again
    // on the retry schedule.
    let first = access_callbacks[0].0.clone();
    wait_for(
        async || {
            run_queued(b, QueueName::Privacy).await;
            let again = callbacks(&server, access_id).await;
            again.iter().filter(|c| c.0 == first).count() >= 2
        },
        Duration::from_secs(30),
    )
    .await;

    // Erasure, dictionary form by customer id.
    let erasure_id = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
    let body = request(
        erasure_id,
        "erasure",
        json!({"controller_customer_id": {"value": "dsr-user", "encoding": "raw"}}),
        &callback,
    );
    let created = as_ws(b, &ws, "POST", "/v1/opendsr/requests", Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    signed.push((created.raw.clone(), signature(&created)));
    until_called_back(
        b,
        &server,
        erasure_id,
        &["pending", "in_progress", "completed"],
    )
    .await;
    assert_eq!(
        as_ws(b, &ws, "GET", "/v1/users/dsr-user", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_ws(b, &ws, "GET", &results_path, None).await.status,
        StatusCode::NOT_FOUND,
        "{}: the access results of an erased user are gone",
        b.kind
    );
    // Cancel after completion: 405 in OpenDSR's shape.
    let late = as_ws(
        b,
        &ws,
        "DELETE",
        &format!("/v1/opendsr/requests/{erasure_id}"),
        None,
    )
    .await;
    assert_eq!(late.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(late.body["error"]["code"], 405);
    assert!(
        late.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("completed")
    );

    // Cancel while pending: 202, signed; nothing is erased.
    let cancel_id = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b";
    let body = request(
        cancel_id,
        "erasure",
        json!({"controller_customer_id": {"value": "stays", "encoding": "raw"}}),
        &callback,
    );
    assert_eq!(
        as_ws(b, &ws, "POST", "/v1/opendsr/requests", Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    let cancelled = as_ws(
        b,
        &ws,
        "DELETE",
        &format!("/v1/opendsr/requests/{cancel_id}"),
        None,
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.body);
    assert_eq!(cancelled.body["subject_request_id"], cancel_id);
    signed.push((cancelled.raw.clone(), signature(&cancelled)));
    until_called_back(b, &server, cancel_id, &["cancelled"]).await;
    let status = as_ws(
        b,
        &ws,
        "GET",
        &format!("/v1/opendsr/requests/{cancel_id}"),
        None,
    )
    .await;
    assert_eq!(status.body["request_status"], "cancelled");
    assert_eq!(
        as_ws(b, &ws, "GET", "/v1/users/stays", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        as_ws(b, &ws, "GET", "/v1/suppressions/stays", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Refusals: 400 in OpenDSR's shape, 401 for wrong credentials, 404.
    let bad = as_ws(
        b,
        &ws,
        "POST",
        "/v1/opendsr/requests",
        Some(&json!({"subject_request_type": "erasure"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body,
        json!({"error": {"code": 400, "message": "subject_request_id field is required",
        "errors": [{"domain": "Validation", "reason": "invalid",
                    "message": "subject_request_id field is required"}]}})
    );
    let wrong = call(
        b,
        "POST",
        "/v1/opendsr/requests",
        Some(&engage_bridge_tests::basic(&ws, "wrong")),
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        as_ws(
            b,
            &other,
            "GET",
            &format!("/v1/opendsr/requests/{erasure_id}"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Every callback that arrived, answered or not, was signed.
    for id in [access_id, erasure_id, cancel_id] {
        for (_, _, raw, signature) in callbacks(&server, id).await {
            signed.push((raw, signature));
        }
    }
    let verdicts = verify(dir.path(), &public_pem, &signed);
    assert_eq!(verdicts, vec!["ok"; signed.len()], "{}", b.kind);
    // The verifier refuses what was not signed so.
    let mut tampered = signed[1].clone();
    tampered.0.push(b' ');
    assert_eq!(
        verify(dir.path(), &public_pem, &[tampered]),
        vec!["invalid InvalidSignature"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_erasure_and_access_run_end_to_end() {
    erasure_and_access_run_end_to_end(engage_bridge_tests::sqlite(), "pkcs1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_erasure_and_access_run_end_to_end() {
    erasure_and_access_run_end_to_end(engage_bridge_tests::aws().await, "pkcs8").await;
}
