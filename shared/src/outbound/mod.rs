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
