//! Customer.io reporting webhooks in (docs/rules/customerio.md), on both
//! backends, and their events out through Amplitude and webhook streams to
//! real local receivers.

mod export;
mod receive;
mod refusals;
mod support;
