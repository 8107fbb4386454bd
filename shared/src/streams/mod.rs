//! Streams and Amplitude export: dispatch of the events
//! queue to each workspace's streams through their sinks, retries and dead
//! letters (docs/interface/streams.md, docs/architecture.md "Streams").

pub mod catalogue;
pub mod control;
pub mod deliver;
pub mod dispatch;
pub mod dlq;
pub mod enrich;
pub mod follow_up;
pub mod record;
pub mod report;
pub mod retry;
pub mod selection;
pub mod send;
pub mod sink;
pub mod test_event;

use crate::domain::{EventsMessage, RetryMessage};
use crate::ports::Received;
use crate::queue::batch::Handled;
use crate::runtime::Services;

/// Consumer of the events queue (function `stream-dispatch`).
pub async fn dispatch_message(services: &Services, message: EventsMessage) -> Handled {
    match dispatch::dispatch(services, &message).await {
        Ok(_) => Handled::Done,
        Err(e) => Handled::Failed(format!(
            "dispatch of workspace {:?}: {e}",
            message.workspace_id
        )),
    }
}

/// Consumer of the retry queue (function `retry`).
pub async fn retry_message(services: &Services, message: RetryMessage) -> Handled {
    match retry::retry(services, &message).await {
        Ok(handled) => handled,
        Err(e) => Handled::Failed(format!("retry of {}: {e}", message.moe_request_id)),
    }
}

/// Loads each workspace of a batch (and its streams' states) once, so the concurrent dispatches of
/// its messages share one read instead of racing a cold cache.
pub async fn warm_workspace_cache(services: &Services, records: &[Received]) {
    let mut ids: Vec<String> = records
        .iter()
        .filter_map(|r| EventsMessage::workspace_of(&r.body))
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        // A failure here is retried (and reported) by the dispatch itself.
        let _ = services.workspaces.get(&id).await;
        let _ = services.cached_stream_states(&id).await;
    }
}
