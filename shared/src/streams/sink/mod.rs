//! Sinks: where a stream delivers (docs/interface/streams.md). Each kind is
//! its own module behind one trait: prepare an event, build a request,
//! classify the answer. The delivery loop in [`super::deliver`] is written
//! once for all of them.

pub mod amplitude;
pub mod signing;
pub mod webhook;

use std::time::Duration;

use crate::domain::{Attempt, Event, Profile};
use crate::outbound::HttpClient;

/// What an answer means for the items of one request.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Accepted,
    /// The whole request failed; try it again later.
    Failed {
        attempt: Attempt,
        wait: Duration,
    },
    /// These positions can never be accepted as they are (with why); the
    /// rest is resent at once.
    Rejected(Vec<(usize, String)>),
    /// These positions must wait at least `wait`; the rest is resent at once.
    Throttled {
        positions: Vec<usize>,
        attempt: Attempt,
        wait: Duration,
    },
    /// Too large: split it and resend the halves.
    TooLarge,
    /// The credentials were refused (`401` to an OAuth 2.0 stream): renew
    /// them once and resend; a second refusal is a failure.
    Unauthorized(Attempt),
    /// `410 Gone`: the endpoint is gone; the stream is disabled and its
    /// batches wait (docs/interface/streams.md "Pause, resume and 410 Gone").
    Gone(Attempt),
}

/// One kind of stream destination.
pub trait Sink {
    /// An event as this sink sends it (encoded once, reused on resends).
    type Item;

    /// Events per request (the stream's `batch_size`, within the sink's own limit).
    fn max_events(&self) -> usize;
    /// Encoded bytes per request.
    fn max_bytes(&self) -> usize;
    /// Bytes of the request around its items.
    fn envelope_bytes(&self) -> usize;

    /// The event as sent, or None when this sink drops it (counted).
    fn prepare(&self, event: &Event, profile: Option<&Profile>) -> Option<Self::Item>;
    fn encoded_len(&self, item: &Self::Item) -> usize;

    /// The body of the request carrying `items`: built once per request,
    /// sent, and kept as it is by the delivery log (`deliver/request.rs`).
    fn body(&self, request_id: &str, items: &[&Self::Item]) -> String;

    /// The request sending `body`.
    fn request(
        &self,
        client: &reqwest::Client,
        request_id: &str,
        body: bytes::Bytes,
    ) -> reqwest::RequestBuilder;

    /// Gets the credentials fetched at send time ready (OAuth 2.0 tokens;
    /// anew when `renew`, after a `401`); a failure fails the request with
    /// that attempt. Sinks without such credentials need nothing.
    fn authorize(
        &self,
        client: &HttpClient,
        renew: bool,
    ) -> impl Future<Output = Result<(), Attempt>> + Send {
        let _ = (client, renew);
        async { Ok(()) }
    }

    /// What the receiver's answer means for `items`.
    fn classify(
        &self,
        status: u16,
        retry_after: Duration,
        body: &str,
        items: &[&Self::Item],
    ) -> Answer;
}
