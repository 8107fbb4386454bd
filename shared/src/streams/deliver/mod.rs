//! Delivering events to one stream through its sink (docs/architecture.md
//! "Streams"), written once for every sink: the events are prepared and
//! grouped into requests within the sink's limits (`to_sink`), each request
//! is sent until each of its events has an outcome (`resend`, one HTTP
//! request at a time: `request`), and what came of them is one [`Outcome`].

mod outcome;
mod request;
mod resend;
mod to_sink;

pub use outcome::{Outcome, ParkedBatch, RetryBatch, Undeliverable};

use std::time::Duration;

use super::enrich::Profiles;
use super::sink::amplitude::AmplitudeSink;
use super::sink::amplitude::deletion::DeletionSink;
use super::sink::webhook::WebhookSink;
use crate::config::{SinkConfig, StreamConfig, WorkspaceConfig};
use crate::domain::ids::part_id;
use crate::domain::{Attempt, Event, FailureKind};
use crate::outbound::HttpClient;
use crate::privacy::erasure::split_deletions;
use to_sink::to_sink;

/// Delivers `events` to `stream` through the sink its configuration names.
/// The events are as queued: each sink fills them in from the profiles at
/// send time, so a retry message holds no more than the events message it
/// came from.
pub async fn deliver_to_stream(
    client: &HttpClient,
    workspace: &WorkspaceConfig,
    stream: &StreamConfig,
    profiles: &Profiles,
    request_id: &str,
    events: &[Event],
) -> Outcome {
    let pacer = stream
        .max_requests_per_second
        .map(|rate| client.pacer(&workspace.id, &stream.name, rate));
    let pace = pacer.as_deref();
    match &stream.sink {
        SinkConfig::Webhook(config) => {
            let client = match client.for_webhook(config.tls.as_deref()) {
                Ok(client) => client,
                Err(e) => {
                    let failed = Attempt::unanswered(FailureKind::Other, format!("tls: {e}"));
                    return Outcome::failed(request_id, events, failed, Duration::ZERO);
                }
            };
            let sink = WebhookSink::new(stream, config, &workspace.app_name);
            let mut outcome = Outcome::default();
            to_sink(
                &sink,
                &client,
                pace,
                (request_id, events),
                profiles,
                &mut outcome,
            )
            .await;
            outcome
        }
        SinkConfig::Amplitude(config) => {
            let sink = AmplitudeSink {
                stream,
                config,
                anonymous_id_attribute: &workspace.anonymous_id_attribute,
                customerio: workspace.customerio.as_ref(),
            };
            // `User Deleted` events (selected only with `forward_deletions`)
            // go to the User Privacy API (docs/interface/privacy.md); a
            // request that holds both kinds is sent as two parts.
            let (exported, erased) = split_deletions(events);
            let (export_id, erase_id) = match exported.is_empty() || erased.is_empty() {
                true => (request_id.to_owned(), request_id.to_owned()),
                false => (
                    part_id(request_id, exported.iter()),
                    part_id(request_id, erased.iter()),
                ),
            };
            let deletions = DeletionSink { stream, config };
            let mut outcome = Outcome::default();
            to_sink(
                &sink,
                client,
                pace,
                (&export_id, &exported),
                profiles,
                &mut outcome,
            )
            .await;
            to_sink(
                &deletions,
                client,
                pace,
                (&erase_id, &erased),
                profiles,
                &mut outcome,
            )
            .await;
            outcome
        }
    }
}
