//! stream-dispatch: every event of an events-queue message goes to each
//! matching stream of its workspace. Streams are sent concurrently and are
//! independent: a failing stream's batch goes to the retry queue on its own
//! (docs/architecture.md "Streams").

use std::borrow::Cow;
use std::time::Duration;

use futures::future::join_all;

use super::control;
use super::deliver::{Outcome, deliver_to_stream};
use super::enrich::Profiles;
use super::report;
use super::selection;
use super::sink::attempt;
use crate::config::RetrySchedule;
use crate::config::destinations::REFUSED;
use crate::config::{SinkConfig, StreamConfig, WorkspaceConfig};
use crate::domain::ids::derived_uuid;
use crate::domain::{
    Attempt, DeadBatch, DeadLetter, Encoded, Event, EventsMessage, Hold, RetryMessage,
};
use crate::observability::metrics;
use crate::outbound::gate::Parked;
use crate::ports::{StoreError, StoreResult};
use crate::runtime::Services;

/// What a dispatch did, per stream (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    pub stream: String,
    pub delivered: usize,
    pub dropped: usize,
    pub retried: usize,
    pub dead: usize,
    /// Events parked on the retry queue without an attempt (paused stream,
    /// open circuit, too many requests in flight).
    pub parked: usize,
}

/// `moe_request_id` of a batch: derived from the workspace, the stream and the
/// batch's events, so a redelivered queue message yields the same id, and it
/// never changes across retries (it travels in the retry message).
pub fn request_id(workspace: &str, stream: &str, events: &[Event]) -> String {
    let uuids: Vec<&str> = events.iter().map(|e| e.event_uuid.as_str()).collect();
    derived_uuid(&[workspace, stream, &uuids.join(",")])
}

/// The one way a stream batch becomes a dead letter.
pub fn dead_batch(
    workspace_id: &str,
    stream: &str,
    moe_request_id: String,
    events: Vec<Event>,
    attempts: Vec<Attempt>,
    reason: String,
) -> DeadLetter {
    DeadLetter::Batch(DeadBatch {
        workspace_id: workspace_id.to_owned(),
        stream: stream.to_owned(),
        moe_request_id,
        events,
        attempts,
        reason,
    })
}

/// The dead letter's reason once the schedule is spent.
pub fn gave_up(retries: usize, last_error: &str) -> String {
    format!("gave up after {retries} retries: {last_error}")
}

/// Retry messages (each visible after its delay), batches held for their
/// stream's resume, and dead letters.
#[derive(Default)]
pub struct FollowUps {
    pub retries: Vec<(Encoded<RetryMessage>, Duration)>,
    pub held: Vec<control::Held>,
    pub dead: Vec<DeadLetter>,
}

impl FollowUps {
    /// Turns what a delivery left undone into messages, each carrying the
    /// attempts made before it (`previous`) and its own: a retry after the
    /// schedule's next step, or a dead letter once the schedule is spent.
    pub fn add(
        &mut self,
        workspace_id: &str,
        stream: &str,
        previous: &[Attempt],
        outcome: Outcome,
        schedule: &RetrySchedule,
    ) -> StoreResult<()> {
        let history = |attempt: Attempt| {
            let mut attempts = previous.to_vec();
            attempts.push(attempt);
            attempts
        };
        report::delivered(workspace_id, stream, &outcome);
        let number = previous.len() + 1;
        let of = schedule.retries() + 1;
        for batch in outcome.retry {
            let next = schedule.delay(previous.len(), batch.wait_at_least);
            report::failed_attempt(
                workspace_id,
                stream,
                &batch.request_id,
                &batch.attempt,
                number,
                of,
                next,
            );
            let Some(delay) = next else {
                let reason = gave_up(schedule.retries(), &batch.attempt.error);
                self.dead.push(dead_batch(
                    workspace_id,
                    stream,
                    batch.request_id,
                    batch.events,
                    history(batch.attempt),
                    reason,
                ));
                continue;
            };
            let message = RetryMessage {
                workspace_id: workspace_id.to_owned(),
                stream: stream.to_owned(),
                moe_request_id: batch.request_id,
                events: batch.events,
                attempts: history(batch.attempt),
            };
            let encoded = Encoded::new(&message).map_err(StoreError::backend)?;
            self.retries.push((encoded, delay));
        }
        for batch in outcome.parked {
            log_parked(
                workspace_id,
                stream,
                &batch.request_id,
                batch.events.len(),
                batch.why,
            );
            self.park(
                workspace_id,
                stream,
                batch.request_id,
                batch.events,
                previous.to_vec(),
                batch.why,
            )?;
        }
        for batch in outcome.dead {
            metrics::attempt_failed(workspace_id, stream, &report::status_label(&batch.attempt));
            self.dead.push(dead_batch(
                workspace_id,
                stream,
                batch.request_id,
                batch.events,
                history(batch.attempt),
                batch.reason,
            ));
        }
        Ok(())
    }

    /// Puts a batch on the retry queue without an attempt (the stream was
    /// paused or its gate closed): tried again after `why.wait()`, or when
    /// its stream is resumed, its attempts so far unchanged.
    pub fn park(
        &mut self,
        workspace_id: &str,
        stream: &str,
        request_id: String,
        events: Vec<Event>,
        attempts: Vec<Attempt>,
        why: Parked,
    ) -> StoreResult<()> {
        let message = RetryMessage {
            workspace_id: workspace_id.to_owned(),
            stream: stream.to_owned(),
            moe_request_id: request_id,
            events,
            attempts,
        };
        let encoded = Encoded::new(&message).map_err(StoreError::backend)?;
        match why {
            Parked::Paused(_) => self.held.push(control::Held {
                workspace_id: workspace_id.to_owned(),
                stream: stream.to_owned(),
                message: encoded,
            }),
            _ => self.retries.push((encoded, why.wait())),
        }
        Ok(())
    }

    /// Queues them: retries first, then held batches, then dead letters.
    pub async fn send(self, services: &Services) -> StoreResult<()> {
        services.queues.retry.send_later(self.retries).await?;
        control::send_held(services, self.held).await?;
        crate::dead_letters::keep(services.dead_letters.as_ref(), &self.dead).await
    }
}

/// Says why a batch waits on the retry queue without an attempt: a paused
/// stream's batches at INFO, each time they are put back (so the log shows
/// what a pause holds), a busy or open stream's at DEBUG.
pub fn log_parked(workspace_id: &str, stream: &str, request_id: &str, events: usize, why: Parked) {
    let wait_seconds = why.wait().as_secs();
    if let Parked::Paused(hold) = why {
        let message = match hold {
            Hold::Config => "batch waits: the stream is paused (enabled = false)",
            Hold::Operator => "batch waits: the stream is paused by an operator",
            Hold::Gone => "batch waits: the stream is disabled (its endpoint answered 410 Gone)",
        };
        tracing::info!(
            workspace_id,
            stream,
            moe_request_id = request_id,
            events,
            wait_seconds,
            reason = why.as_str(),
            "{message}"
        );
    } else {
        tracing::debug!(
            workspace_id,
            stream,
            moe_request_id = request_id,
            events,
            wait_seconds,
            reason = why.as_str(),
            "batch parked"
        );
    }
}

/// The endpoint as logs show it: without credentials or query.
fn display_endpoint(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "the endpoint".to_owned(),
        |u| crate::config::source::display_url(&u),
    )
}

/// What one stream made of its events: an outcome, or parked.
enum StreamResult {
    Delivered(Outcome),
    Parked {
        why: Parked,
        request_id: String,
        events: Vec<Event>,
    },
}

/// How long a batch waits for a slot of a busy stream before it is parked.
/// A receiver that answers within it frees slots in time (parking would
/// send the batch through the retry queue, 5 s later, for nothing: under
/// load a quarter of a single fast stream's batches were parked); a slow
/// one holds a consumer slot no longer than this.
const BUSY_PATIENCE: Duration = Duration::from_millis(250);
const BUSY_POLL: Duration = Duration::from_millis(2);

/// Delivers through the stream's gate, so that no stream makes another wait
/// (docs/architecture.md "Streams"): a paused stream, or one with too many
/// requests in flight for [`BUSY_PATIENCE`], parks the batch (no attempt
/// made); while the stream's circuit is open the batch fails at once,
/// without a request, and follows the retry schedule like any failure.
pub async fn deliver_gated(
    services: &Services,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    request_id: &str,
    events: &[Event],
) -> Result<Outcome, Parked> {
    match control::hold(services, &workspace.id, stream).await {
        Ok(None) => {}
        Ok(Some(hold)) => return Err(Parked::Paused(hold)),
        // Unknown whether the stream may send: it does not, this time.
        Err(e) => {
            tracing::warn!(workspace_id = %workspace.id, stream = %stream.name, error = %e,
                "stream state unreadable; the batch is parked");
            return Err(Parked::Busy);
        }
    }
    let patience = tokio::time::Instant::now() + BUSY_PATIENCE;
    let mut entered = services.gates.enter(&workspace.id, &stream.name);
    while entered.as_ref().err() == Some(&Parked::Busy) && tokio::time::Instant::now() < patience {
        tokio::time::sleep(BUSY_POLL).await;
        entered = services.gates.enter(&workspace.id, &stream.name);
    }
    let permit = match entered {
        Ok(permit) => permit,
        // The schedule alone times the next try: the breaker only spares the
        // receiver (and the consumer) the requests bound to fail.
        Err(Parked::CircuitOpen { .. }) => {
            let why = "not sent: the stream's circuit is open after consecutive failures";
            return Ok(Outcome::failed(
                request_id,
                events,
                attempt(None, why),
                Duration::ZERO,
            ));
        }
        Err(parked) => return Err(parked),
    };
    let outcome = deliver_to_stream(
        services.http(),
        workspace,
        stream,
        profiles,
        request_id,
        events,
    )
    .await;
    permit.finish(outcome.whole_failure(events.len()).is_none());
    if outcome.gone.is_some()
        && let SinkConfig::Webhook(webhook) = &stream.sink
    {
        let reason = format!("{} answered 410 Gone", display_endpoint(&webhook.url));
        if let Err(e) = control::disable(services, &workspace.id, &stream.name, reason).await {
            // Its batches wait all the same; the next 410 tries again.
            tracing::warn!(workspace_id = %workspace.id, stream = %stream.name, error = %e,
                "could not record the stream as disabled");
        }
    }
    for attempt in outcome.retry.iter().map(|r| &r.attempt) {
        if attempt.error.starts_with(REFUSED) {
            tracing::warn!(workspace_id = %workspace.id, stream = %stream.name,
                moe_request_id = %request_id, reason = %attempt.error, "destination refused");
        }
    }
    Ok(outcome)
}

async fn dispatch_stream(
    services: &Services,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    events: &[Event],
) -> (StreamReport, StreamResult) {
    // Copied only when the stream takes a part of the events.
    let selected: Cow<[Event]> = if events.iter().all(|e| selection::selects(stream, e)) {
        Cow::Borrowed(events)
    } else {
        let part = events.iter().filter(|e| selection::selects(stream, e));
        Cow::Owned(part.cloned().collect())
    };
    let id = request_id(&workspace.id, &stream.name, &selected);
    let mut report = StreamReport {
        stream: stream.name.clone(),
        ..StreamReport::default()
    };
    match deliver_gated(services, workspace, profiles, stream, &id, &selected).await {
        Ok(outcome) => {
            report.delivered = outcome.delivered;
            report.dropped = outcome.dropped;
            report.retried = outcome.retry.iter().map(|r| r.events.len()).sum();
            report.dead = outcome.dead.iter().map(|d| d.events.len()).sum();
            report.parked = outcome.parked.iter().map(|p| p.events.len()).sum();
            (report, StreamResult::Delivered(outcome))
        }
        Err(why) => {
            report.parked = selected.len();
            let parked = StreamResult::Parked {
                why,
                request_id: id,
                events: selected.into_owned(),
            };
            (report, parked)
        }
    }
}

/// Dispatches one events-queue message. An error means the follow-up messages
/// could not be queued: the caller must let the message be redelivered.
pub async fn dispatch(
    services: &Services,
    message: &EventsMessage,
) -> StoreResult<Vec<StreamReport>> {
    let Some(workspace) = services.workspace(&message.workspace_id).await? else {
        // Undeliverable: keep the events where an operator can see them.
        let letter = dead_batch(
            &message.workspace_id,
            "",
            request_id(&message.workspace_id, "", &message.events),
            message.events.clone(),
            Vec::new(),
            format!("workspace {:?} is not configured", message.workspace_id),
        );
        crate::dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
        return Ok(Vec::new());
    };
    let streams: Vec<&StreamConfig> = workspace
        .streams
        .iter()
        .filter(|s| message.events.iter().any(|e| selection::selects(s, e)))
        .collect();
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    // Read once for every stream (and a failure redelivers the message).
    services.cached_stream_states(&workspace.id).await?;
    let profiles = Profiles::load(services, &workspace.id, &message.events).await?;
    // Each stream's follow-ups are queued as soon as that stream is done:
    // a stream waiting on a slow receiver never holds back another's
    // retries or parked batches (docs/architecture.md "Streams").
    let results = join_all(streams.iter().map(|stream| async {
        let (report, result) =
            dispatch_stream(services, &workspace, &profiles, stream, &message.events).await;
        let queued = follow_up(services, &workspace.id, &report, result).await;
        (report, queued)
    }))
    .await;
    let mut reports = Vec::new();
    for (report, queued) in results {
        queued?;
        reports.push(report);
    }
    Ok(reports)
}

/// Logs what one stream made of a message and queues its follow-ups.
async fn follow_up(
    services: &Services,
    workspace_id: &str,
    report: &StreamReport,
    result: StreamResult,
) -> StoreResult<()> {
    tracing::info!(
        workspace_id, stream = %report.stream, delivered = report.delivered,
        dropped = report.dropped, retried = report.retried, dead = report.dead,
        parked = report.parked, "dispatched"
    );
    let mut follow_ups = FollowUps::default();
    match result {
        StreamResult::Delivered(outcome) => {
            follow_ups.add(
                workspace_id,
                &report.stream,
                &[],
                outcome,
                &services.retry_schedule,
            )?;
        }
        StreamResult::Parked {
            why,
            request_id,
            events,
        } => {
            log_parked(workspace_id, &report.stream, &request_id, events.len(), why);
            follow_ups.park(
                workspace_id,
                &report.stream,
                request_id,
                events,
                Vec::new(),
                why,
            )?;
        }
    }
    follow_ups.send(services).await
}
