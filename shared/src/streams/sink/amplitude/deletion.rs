//! Forwarding erasures to Amplitude's User Privacy API (docs/interface/privacy.md
//! "Amplitude"): on an Amplitude stream with `forward_deletions`, a
//! `User Deleted` event becomes `POST /api/2/deletions/users` with Basic
//! `api_key:secret_key` and `{"user_ids":[...],"requester":"engage-bridge"}`
//! instead of an exported event, delivered, retried and dead-lettered like
//! any delivery of the stream.

use std::time::Duration;

use serde_json::Value;

use crate::config::{AmplitudeConfig, AmplitudeRegion, StreamConfig};
use crate::domain::Attempt;
use crate::domain::batching::join_json;
use crate::domain::{Event, Profile};
use crate::streams::sink::{Answer, Sink};

pub const US_DELETION_ENDPOINT: &str = "https://amplitude.com/api/2/deletions/users";
pub const EU_DELETION_ENDPOINT: &str = "https://analytics.eu.amplitude.com/api/2/deletions/users";
/// The API takes up to 100 user ids per request.
pub const MAX_USERS_PER_REQUEST: usize = 100;
const MAX_REQUEST_BYTES: usize = 1_000_000 - 1;
const HEAD: &str = "{\"user_ids\":[";
const TAIL: &str = "],\"requester\":\"engage-bridge\"}";

pub fn deletion_endpoint(config: &AmplitudeConfig) -> &str {
    match (&config.deletion_endpoint, config.region) {
        (Some(endpoint), _) => endpoint,
        (None, AmplitudeRegion::Us) => US_DELETION_ENDPOINT,
        (None, AmplitudeRegion::Eu) => EU_DELETION_ENDPOINT,
    }
}

pub struct DeletionSink<'a> {
    pub stream: &'a StreamConfig,
    pub config: &'a AmplitudeConfig,
}

impl Sink for DeletionSink<'_> {
    /// The uid, as a JSON string.
    type Item = String;

    fn max_events(&self) -> usize {
        MAX_USERS_PER_REQUEST
    }

    fn max_bytes(&self) -> usize {
        MAX_REQUEST_BYTES
    }

    fn envelope_bytes(&self) -> usize {
        HEAD.len() + TAIL.len()
    }

    /// Only users with a uid can be named to Amplitude (its `user_id`).
    fn prepare(&self, event: &Event, _: Option<&Profile>) -> Option<String> {
        let uid = event.uid.as_deref().filter(|u| !u.is_empty())?;
        Some(Value::String(uid.to_owned()).to_string())
    }

    fn encoded_len(&self, item: &String) -> usize {
        item.len()
    }

    fn body(&self, _request_id: &str, items: &[&String]) -> String {
        join_json(HEAD, items.iter().map(|uid| uid.as_str()), TAIL)
    }

    fn request(
        &self,
        client: &reqwest::Client,
        _request_id: &str,
        body: bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        client
            .post(deletion_endpoint(self.config))
            .timeout(Duration::from_secs(u64::from(self.stream.timeout_seconds)))
            .basic_auth(
                self.config.api_key.expose(),
                self.config.secret_key.as_ref().map(|k| k.expose()),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    /// 2xx accepted; 400 names ids Amplitude refuses (dead at once); 413
    /// splits; anything else fails the request (the retry schedule).
    fn classify(
        &self,
        status: u16,
        retry_after: Duration,
        body: &str,
        items: &[&String],
    ) -> Answer {
        match status {
            200..=299 => Answer::Accepted,
            400 => {
                let reason: String = body.chars().take(200).collect();
                let reason = format!("HTTP 400 from the User Privacy API: {reason}");
                Answer::Rejected((0..items.len()).map(|i| (i, reason.clone())).collect())
            }
            413 => Answer::TooLarge,
            _ => Answer::Failed {
                attempt: Attempt::answered(status, format!("HTTP {status}")),
                wait: retry_after,
            },
        }
    }
}
