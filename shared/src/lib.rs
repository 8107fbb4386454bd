//! engage-bridge's common crate: the domain (plain Rust), the ports it needs,
//! their SQLite and AWS adapters, the capabilities, and the two edges they
//! share: one HTTP router and one queue batch loop (docs/architecture.md).

pub mod cohort;
pub mod config;
pub mod consumers;
pub mod customerio;
pub mod dead_letters;
pub mod delivery_log;
pub mod domain;
pub mod error;
pub mod http;
pub mod input;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod lint;
pub mod membership;
pub mod mparticle;
pub mod observability;
pub mod outbound;
pub mod ports;
pub mod queue;
pub mod rate_limit;
pub mod runtime;
pub mod store;
pub mod streams;
pub mod topology;
pub mod workspaces;
