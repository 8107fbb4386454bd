//! Amplitude streams (docs/rules/amplitude-export.md): HTTP V2
//! API requests of mapped events; Amplitude's 400, 429 and 413 answers act
//! on the events they name.

mod answer;
mod campaign;
pub mod customerio;
pub mod deletion;
pub mod fields;
pub mod limits;
pub mod map;
mod user_action;

use std::time::Duration;

use serde_json::Value;

use super::{Answer, Sink};
use crate::config::{AmplitudeConfig, AmplitudeRegion, CustomerioConfig, StreamConfig};
use crate::domain::batching::join_json;
use crate::domain::{Event, Profile};

pub const US_ENDPOINT: &str = "https://api2.amplitude.com/2/httpapi";
pub const EU_ENDPOINT: &str = "https://api.eu.amplitude.com/2/httpapi";
/// Amplitude's limits: < 2000 events and < 1 MB per request.
pub const MAX_EVENTS_PER_REQUEST: usize = 2000;
pub const MAX_REQUEST_BYTES: usize = 1_000_000 - 1;

pub use answer::THROTTLE_PAUSE;

/// A mapped event, encoded once, with the ids a 429 may name.
#[derive(Clone, Debug, PartialEq)]
pub struct AmplitudeEvent {
    pub json: String,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
}

pub struct AmplitudeSink<'a> {
    pub stream: &'a StreamConfig,
    pub config: &'a AmplitudeConfig,
    pub anonymous_id_attribute: &'a str,
    /// The workspace's Customer.io settings (`groups` of Customer.io events).
    pub customerio: Option<&'a CustomerioConfig>,
}

pub fn endpoint(config: &AmplitudeConfig) -> &str {
    match (&config.endpoint, config.region) {
        (Some(endpoint), _) => endpoint,
        (None, AmplitudeRegion::Us) => US_ENDPOINT,
        (None, AmplitudeRegion::Eu) => EU_ENDPOINT,
    }
}

impl AmplitudeSink<'_> {
    fn head(&self) -> String {
        format!(
            "{{\"api_key\":{},\"options\":{{\"min_id_length\":1}},\"events\":[",
            Value::String(self.config.api_key.expose().to_owned())
        )
    }
}

impl Sink for AmplitudeSink<'_> {
    type Item = AmplitudeEvent;

    fn max_events(&self) -> usize {
        (self.stream.batch_size as usize).min(MAX_EVENTS_PER_REQUEST)
    }

    fn max_bytes(&self) -> usize {
        MAX_REQUEST_BYTES
    }

    fn envelope_bytes(&self) -> usize {
        self.head().len() + 2
    }

    fn prepare(&self, event: &Event, profile: Option<&Profile>) -> Option<AmplitudeEvent> {
        let context = fields::Context {
            anonymous_id_attribute: self.anonymous_id_attribute,
            user_attributes: &self.stream.user_attributes,
            customerio: self.customerio,
        };
        let mapped = map::map_event(event, profile, &context)?;
        let id = |name: &str| mapped.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(AmplitudeEvent {
            user_id: id("user_id"),
            device_id: id("device_id"),
            json: mapped.to_string(),
        })
    }

    fn encoded_len(&self, item: &AmplitudeEvent) -> usize {
        item.json.len()
    }

    fn body(&self, _request_id: &str, items: &[&AmplitudeEvent]) -> String {
        join_json(&self.head(), items.iter().map(|e| e.json.as_str()), "]}")
    }

    fn request(
        &self,
        client: &reqwest::Client,
        _request_id: &str,
        body: bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        client
            .post(endpoint(self.config))
            .timeout(Duration::from_secs(u64::from(self.stream.timeout_seconds)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    fn classify(
        &self,
        status: u16,
        retry_after: Duration,
        body: &str,
        items: &[&AmplitudeEvent],
    ) -> Answer {
        answer::interpret(status, retry_after, body, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SinkConfig;

    fn config(toml_extra: &str) -> AmplitudeConfig {
        let text = format!(
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\n{toml_extra}\n"
        );
        let stream = crate::config::parse(&text)
            .unwrap()
            .workspaces
            .remove(0)
            .streams
            .remove(0);
        match stream.sink {
            SinkConfig::Amplitude(config) => config,
            SinkConfig::Webhook(_) => unreachable!("an amplitude stream"),
        }
    }

    #[test]
    fn endpoints_follow_region_and_override() {
        assert_eq!(endpoint(&config("")), US_ENDPOINT);
        assert_eq!(endpoint(&config("region = \"eu\"")), EU_ENDPOINT);
        assert_eq!(
            endpoint(&config(
                "region = \"eu\"\nendpoint = \"http://127.0.0.1:9/x\""
            )),
            "http://127.0.0.1:9/x"
        );
    }
}
