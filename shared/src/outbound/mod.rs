//! Requests engage-bridge makes to the outside: the one pooled HTTP client
//! of the stream sinks (docs/interface/streams.md "Destinations").

pub mod client;

pub use client::{CONNECT_TIMEOUT, describe, http_client};
