//! Requests engage-bridge makes to the outside: the one pooled HTTP client
//! of the stream sinks, which checks every destination address
//! (docs/interface/streams.md "Destinations"), and the gates that keep one
//! destination from holding up the others.

pub mod client;
pub mod destination;
pub mod gate;
pub mod oauth2;
pub mod pace;
pub mod tls;
pub mod tokens;

pub use client::{CONNECT_TIMEOUT, HttpClient, SendError};

/// Makes ring the process's rustls crypto provider, once, before any HTTP
/// client is built: reqwest is linked without a provider of its own, so
/// every TLS connection of a binary uses the one the AWS clients use
/// (docs/architecture.md "TLS and trust").
pub fn use_ring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: a provider was installed already (a test binary's); keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
