//! Mutual TLS (docs/interface/streams.md "Mutual TLS"): a stream with
//! `tls = { client_cert, client_key, ca }` (PEM from the environment)
//! reaches an HTTPS receiver that requires a client certificate of its CA;
//! without the certificate, or with one of another CA, the batch fails and
//! is retried. The PKI is made at test time (rcgen), on both backends.

use std::time::Duration;

use engage_bridge_tests::tls::{MtlsReceiver, Pki};
use engage_bridge_tests::{Backend, contract_tests};
use shared::streams::dispatch::dispatch as dispatch_one;

use crate::fixtures::*;

/// Applies workspace `ws` with one stream to `url` and this `tls` table,
/// its PEM taken from the environment as `${…}`.
async fn tls_stream(b: &Backend, url: &str, tls: &str, env: &[(&str, &str)]) {
    let text = format!(
        "[[workspaces]]\nid = \"ws\"\nsecret = \"s\"\napp_name = \"Demo App\"\n\n{}",
        webhook_stream("mtls", url, tls)
    );
    let config = shared::config::load::parse_with(&text, &|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("valid test config");
    b.workspaces.apply(&config.workspaces).await.unwrap();
}

async fn a_client_certificate_reaches_a_receiver_that_requires_one(b: &Backend) {
    let pki = Pki::new();
    let receiver = MtlsReceiver::start(&pki).await;
    let env = [
        ("CERT_PEM", pki.client_cert.as_str()),
        ("KEY_PEM", pki.client_key.as_str()),
        ("CA_PEM", pki.ca.as_str()),
    ];
    let tls =
        r#"tls = { client_cert = "${CERT_PEM}", client_key = "${KEY_PEM}", ca = "${CA_PEM}" }"#;
    tls_stream(b, &receiver.url, tls, &env).await;
    let report = dispatch_one(b, &message(1)).await.unwrap();
    assert_eq!(report[0].delivered, 1, "{}: {report:?}", b.kind);
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["events"][0]["event_uuid"], "uuid-1");
    assert_eq!(receiver.refused(), 0);
}

async fn without_the_right_certificate_the_batch_fails(b: &Backend) {
    let pki = Pki::new();
    let receiver = MtlsReceiver::start(&pki).await;
    // Another CA's client certificate: the receiver refuses the handshake.
    let env = [
        ("CERT_PEM", pki.stranger_cert.as_str()),
        ("KEY_PEM", pki.stranger_key.as_str()),
        ("CA_PEM", pki.ca.as_str()),
    ];
    let tls =
        r#"tls = { client_cert = "${CERT_PEM}", client_key = "${KEY_PEM}", ca = "${CA_PEM}" }"#;
    tls_stream(b, &receiver.url, tls, &env).await;
    let report = dispatch_one(b, &message(1)).await.unwrap();
    assert_eq!(report[0].retried, 1, "{}: {report:?}", b.kind);
    assert!(receiver.refused_within(Duration::from_secs(5)).await >= 1);
    // No client certificate, and the private CA not trusted either.
    tls_stream(b, &receiver.url, "", &[]).await;
    let report = dispatch_one(b, &message(2)).await.unwrap();
    assert_eq!(report[0].retried, 1, "{}", b.kind);
    assert!(receiver.bodies().is_empty());
}

contract_tests!(
    a_client_certificate_reaches_a_receiver_that_requires_one,
    without_the_right_certificate_the_batch_fails,
);
