//! Property-based tests of every parser (issue 10): the cohort webhook, the
//! list API, the mParticle Events API and Firehose (HTTP and direct), the
//! `Authorization` header, the configuration file, queued events' attributes,
//! profile updates that change nothing and the delivery log's stored uuids.
//!
//! Valid payloads must be accepted; arbitrary and mutated ones never cause a
//! panic or a 5xx, are answered `{"status":"error","error":"..."}` when
//! rejected, and leave no trace when rejected (no segment, no profile, no
//! queued message, the idempotency key still free).
//!
//! Each case runs on a fresh SQLite backend; every HTTP request goes through
//! `harness::call`, every direct Firehose invocation through
//! `harness::firehose_direct`. `PROPTEST_CASES` overrides the default of 64
//! cases per property.
//!
//! Each property that failed before issue 10's fixes keeps a focused
//! `#[test]` holding its minimal input beside it (huge audience names and
//! uids, events without ids replayed, unlimited names, echoed huge values,
//! config keys and secrets in config errors, the API-key forms).

mod auth;
mod cohort;
mod config;
mod harness;
mod limits;
mod log_uuids;
mod mparticle;
mod mutate;
mod profiles;
mod queued;
mod values;
