//! Amplitude cohort sync end to end, on SQLite and on DynamoDB/SQS (moto):
//! HTTP routes through `shared::api::handle`, the cohort-queue consumer
//! driven like the SQS trigger, Partner Sync events read off the events queue.

mod common;
mod crash;
mod lists;
mod samples;
mod validation;
mod webhook;
