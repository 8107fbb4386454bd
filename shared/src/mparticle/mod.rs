//! mParticle server-to-server: Firehose requests (direct Lambda
//! invocations and HTTP) and Events-API batches into profiles and events.
//!
//! Both formats are read into one internal model (`model`), which one
//! mapper turns into profile updates and events following the mapping tables
//! (`rules`, docs/rules/mparticle-mapping.md); `ingest` applies them in
//! one ingest write per request (profile updates, their corrections, events:
//! docs/architecture.md "One write per request").

mod audiences;
mod commerce;
pub mod events_api;
pub mod firehose;
mod ingest;
mod json;
mod limits;
pub mod mapper;
pub mod model;
mod receive;
pub mod rules;
pub mod typed;

pub use json::Invalid;
pub use receive::{firehose, firehose_direct, read_body, receive_events};
