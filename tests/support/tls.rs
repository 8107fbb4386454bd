//! Mutual TLS peers made at test time (rcgen): a private CA, a server
//! certificate for 127.0.0.1, a client certificate the CA signed and one it
//! did not, and a local HTTPS receiver (rustls) that requires a client
//! certificate of that CA.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// PEM text of the test PKI.
pub struct Pki {
    pub ca: String,
    pub client_cert: String,
    pub client_key: String,
    /// A client certificate from another CA: refused by the receiver.
    pub stranger_cert: String,
    pub stranger_key: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    ca_der: CertificateDer<'static>,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(names: &[&str], issuer: &CertifiedIssuer<'static, KeyPair>) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, issuer)
        .unwrap();
    (cert.pem(), key)
}

impl Pki {
    pub fn new() -> Self {
        let ca = new_ca("engage-bridge test CA");
        let stranger_ca = new_ca("another CA");
        let (_, server_key) = leaf(&[], &ca);
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let (client_cert, client_key) = leaf(&["client.test"], &ca);
        let (stranger_cert, stranger_key) = leaf(&["client.test"], &stranger_ca);
        Self {
            ca: ca.pem(),
            client_cert,
            client_key: client_key.serialize_pem(),
            stranger_cert,
            stranger_key: stranger_key.serialize_pem(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
            ca_der: ca.der().clone(),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// An HTTPS receiver requiring a client certificate of the test CA.
pub struct MtlsReceiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    refused: Arc<AtomicUsize>,
}

impl MtlsReceiver {
    pub async fn start(pki: &Pki) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![pki.server_cert.clone()], key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let receiver = Self {
            url: format!("https://127.0.0.1:{}/in", address.port()),
            bodies: Arc::default(),
            refused: Arc::default(),
        };
        let (bodies, refused) = (receiver.bodies.clone(), receiver.refused.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, bodies, refused) =
                    (acceptor.clone(), bodies.clone(), refused.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                            let bodies = bodies.clone();
                            async move {
                                let body = request.into_body().collect().await?.to_bytes();
                                let json = serde_json::from_slice(&body).unwrap_or_default();
                                bodies.lock().unwrap().push(json);
                                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(
                                    Bytes::from_static(b"{}"),
                                )))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        receiver
    }

    /// The JSON bodies received over a verified connection.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Handshakes refused (no client certificate, or one of another CA).
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Handshakes refused, once at least one is counted or `limit` has
    /// passed. The receiver counts a refusal on its own task, which may run
    /// after the client has already seen the handshake fail (in TLS 1.3 the
    /// server checks the client's certificate after the client finished).
    pub async fn refused_within(&self, limit: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        while self.refused() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.refused()
    }
}
