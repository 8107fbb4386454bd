//! engage-bridge's common crate: the domain (plain Rust), the ports it needs,
//! their SQLite and AWS adapters, the HTTP API and the queue handlers that the
//! four Lambda functions and `engage-bridge serve` share.

pub mod api;
pub mod cohort;
pub mod config;
pub mod domain;
pub mod handlers;
pub mod lambda;
pub mod membership;
pub mod mparticle;
pub mod ports;
pub mod runtime;
pub mod store;
pub mod streams;
