//! Streams, Amplitude export, retries and dead letters, against real local
//! HTTP receivers (wiremock) and both backends.

mod amplitude;
mod destinations;
mod fixtures;
mod retries;
mod signing;
mod webhooks;
