//! Property-based tests of every parser (issue 10): the cohort webhook, the
//! list API, the mParticle Events API and Firehose, and the configuration.
//! Valid payloads must be accepted; arbitrary and mutated ones never cause a
//! panic or a 5xx, are answered `{"status":"error","error":"..."}` when
//! rejected, and leave no trace when rejected.
//!
//! Each case runs on a fresh SQLite backend. `PROPTEST_CASES` overrides the
//! default of 64 cases per property.

mod auth;
mod cohort;
mod config;
mod harness;
mod limits;
mod mparticle;
mod mutate;
mod values;
