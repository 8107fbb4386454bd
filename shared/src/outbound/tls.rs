//! Mutual TLS per stream (docs/interface/streams.md "Mutual TLS"): a stream
//! with `tls = { client_cert, client_key, ca? }` is sent through a client
//! that presents that certificate and, with `ca`, also trusts that CA
//! (private PKI). Such clients are built once per process per identity and
//! share everything else with the stream client: timeouts, no redirects,
//! no proxy, and the destination guard.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::secret::sha256_hex;
use crate::config::{TlsConfig, TlsError};

/// The clients of the identities this process has sent with, by a digest
/// of the settings (so a changed certificate gets a new client, and the
/// map holds no key).
#[derive(Default)]
pub struct TlsClients {
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl TlsClients {
    /// The client for `config`, built by `build` on first use.
    pub fn get_or_build(
        &self,
        config: &TlsConfig,
        build: impl FnOnce(reqwest::Identity, Vec<reqwest::Certificate>) -> reqwest::Client,
    ) -> Result<reqwest::Client, TlsError> {
        let key = sha256_hex(
            [
                config.client_cert.as_str(),
                config.client_key.expose(),
                config.ca.as_deref().unwrap_or(""),
            ]
            .join("\u{0}")
            .as_bytes(),
        );
        if let Some(client) = self.lock().get(&key) {
            return Ok(client.clone());
        }
        let (identity, ca) = config.parse()?;
        let client = build(identity, ca);
        self.lock().insert(key, client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, reqwest::Client>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}
