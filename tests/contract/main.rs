//! The storage and queue contract: each behaviour is written once and run
//! against the embedded SQLite adapter and the DynamoDB/SQS adapter (moto).

mod attempts;
mod dead_letters;
mod delivery_log;
mod idempotency;
mod ingest;
mod ordering;
mod privacy;
mod profiles;
mod queues;
mod rate_limit;
mod segments;
mod stream_states;
mod workspaces;
