//! What an operator sees (docs/interface/observability.md): the log lines
//! and the metrics, each written from one place, with two metric exporters
//! (Prometheus text on `serve`, CloudWatch EMF from Lambda).

pub mod logging;
pub mod metrics;
