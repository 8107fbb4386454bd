//! Requests engage-bridge makes to the outside: the one pooled HTTP client
//! of the stream sinks (docs/interface/streams.md "Destinations"), and the
//! gates that keep one destination from holding up the others.

pub mod client;
pub mod gate;

pub use client::{CONNECT_TIMEOUT, describe, http_client};
