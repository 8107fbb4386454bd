//! Delivering one batch to one stream (docs/architecture.md "Streams"):
//! through the stream's gate, so that no stream makes another wait, one
//! delivery through its sink, and what came of it. What happens next is
//! [`super::follow_up`]'s to decide.

use std::collections::HashMap;
use std::time::Duration;

use super::deliver::{Outcome, deliver_to_stream};
use super::enrich::Profiles;
use crate::config::{StreamConfig, WorkspaceConfig};
use crate::domain::{Attempt, Event, FailureKind, Hold, StreamState};
use crate::outbound::HttpClient;
use crate::outbound::gate::{Gates, Parked};

/// How long a batch waits for a slot of a busy stream before it is parked.
/// A receiver that answers within it frees slots in time (parking would
/// send the batch through the retry queue, 5 s later, for nothing: under
/// load a quarter of a single fast stream's batches were parked); a slow
/// one holds a consumer slot no longer than this.
const BUSY_PATIENCE: Duration = Duration::from_millis(250);

/// What a stream needs to send: its process-wide gates, the client, and
/// the workspace's stream states as this process last read them.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    pub gates: &'a std::sync::Arc<Gates>,
    pub http: &'a HttpClient,
    pub states: &'a HashMap<String, StreamState>,
}

impl Sender<'_> {
    /// Delivers `events` as request `request_id` unless the gate holds the
    /// batch back: a paused stream, or one with too many requests in flight
    /// for [`BUSY_PATIENCE`], parks it (no attempt made); while the stream's
    /// circuit is open the batch fails at once, without a request, and
    /// follows the retry schedule like any failure.
    pub async fn send(
        &self,
        workspace: &WorkspaceConfig,
        stream: &StreamConfig,
        profiles: &Profiles,
        request_id: &str,
        events: &[Event],
    ) -> Result<Outcome, Parked> {
        if let Some(hold) = Hold::of(stream.enabled, self.states.get(&stream.name)) {
            return Err(Parked::Paused(hold));
        }
        let entered = self
            .gates
            .enter_within(&workspace.id, &stream.name, BUSY_PATIENCE)
            .await;
        let permit = match entered {
            Ok(permit) => permit,
            // The schedule alone times the next try: the breaker only spares
            // the receiver (and the consumer) the requests bound to fail.
            Err(Parked::CircuitOpen { .. }) => {
                let why = "not sent: the stream's circuit is open after consecutive failures";
                let attempt = Attempt::unanswered(FailureKind::CircuitOpen, why);
                return Ok(Outcome::failed(request_id, events, attempt, Duration::ZERO));
            }
            Err(parked) => return Err(parked),
        };
        let outcome =
            deliver_to_stream(self.http, workspace, stream, profiles, request_id, events).await;
        permit.finish(outcome.whole_failure(events.len()).is_none());
        for attempt in outcome.retry.iter().map(|r| &r.attempt) {
            if attempt.kind == FailureKind::RefusedDestination {
                tracing::warn!(workspace_id = %workspace.id, stream = %stream.name,
                    moe_request_id = %request_id, reason = %attempt.error, "destination refused");
            }
        }
        Ok(outcome)
    }
}
