//! Process-level wiring: services, and the queue consumer that `serve` uses
//! to emulate Lambda's SQS event-source mapping.

pub mod consumer;
pub mod services;

pub use services::{Queues, Services, queue_names};
