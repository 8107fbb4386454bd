//! Streams [003] and Amplitude export [000, 004]: dispatch of the events
//! queue to each workspace's streams, retries and dead letters.

pub mod amplitude;
pub mod catalogue;
pub mod client;
pub mod deliver;
pub mod dispatch;
pub mod dlq;
pub mod enrich;
pub mod retry;
pub mod selection;
pub mod webhook;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;

use crate::domain::EventsMessage;
use crate::ports::OutgoingMessage;
use crate::runtime::Services;

/// Consumer of the events queue (function `stream-dispatch`).
pub async fn handle_events(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    warm_workspace_cache(services, &event.records).await;
    report(
        &event.records,
        join_all(event.records.iter().map(|r| dispatch_record(services, r))).await,
    )
}

/// Loads each workspace of the batch once, so the concurrent dispatches
/// below share one read instead of racing a cold cache.
async fn warm_workspace_cache(services: &Services, records: &[SqsMessage]) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        workspace_id: String,
    }
    let mut ids: Vec<String> = records
        .iter()
        .filter_map(|r| serde_json::from_str::<Envelope>(r.body.as_deref()?).ok())
        .map(|e| e.workspace_id)
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        // A failure here is retried (and reported) by the dispatch itself.
        let _ = services.workspace(&id).await;
    }
}

/// Consumer of the retry queue (function `retry`).
pub async fn handle_retries(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    report(
        &event.records,
        join_all(
            event
                .records
                .iter()
                .map(|r| retry::handle_record(services, r)),
        )
        .await,
    )
}

/// Reports the records that did not succeed (ReportBatchItemFailures), so one
/// bad message never re-runs or blocks the others.
fn report(records: &[SqsMessage], succeeded: Vec<bool>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (record, ok) in records.iter().zip(succeeded) {
        if !ok && let Some(id) = &record.message_id {
            response.add_failure(id.clone());
        }
    }
    response
}

/// Keeps an unreadable queue message as a dead letter, as is, rather than
/// retrying it forever or dropping it. True when it was stored.
pub(crate) async fn dead_letter_unreadable(
    services: &Services,
    queue: &str,
    body: &str,
    error: &serde_json::Error,
) -> bool {
    tracing::error!(error = %error, queue, "unreadable queue message; dead-lettering it as is");
    services
        .queues
        .dead_letter
        .send(&[OutgoingMessage::now(body.to_owned())])
        .await
        .is_ok()
}

async fn dispatch_record(services: &Services, record: &SqsMessage) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let message: EventsMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => return dead_letter_unreadable(services, "events", body, &e).await,
    };
    match dispatch::dispatch(services, &message).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, workspace = %message.workspace_id, "dispatch failed; will be redelivered");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m
    }

    #[test]
    fn only_failed_records_are_reported() {
        let records = [record("a"), record("b"), record("c")];
        let response = report(&records, vec![true, false, true]);
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["b"]);
        assert!(
            report(&records, vec![true; 3])
                .batch_item_failures
                .is_empty()
        );
    }
}
