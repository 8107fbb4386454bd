//! mParticle ingest (docs/interface/http.md, docs/rules/mparticle-mapping.md), on both backends:
//! Events-API batches and Firehose requests (HTTP and direct invocation)
//! into profiles, events and segments.

mod audiences;
mod commerce;
mod events_api;
mod firehose;
mod profiles;
mod published;
mod support;
