//! Streams, Amplitude export, retries and dead letters, against real local
//! HTTP receivers (wiremock) and both backends.

mod amplitude;
mod amplitude_answers;
mod amplitude_full;
mod amplitude_limits;
mod destinations;
mod fixtures;
mod gone;
mod mtls;
mod oauth2;
mod pacing;
mod retries;
mod signing;
mod webhooks;
