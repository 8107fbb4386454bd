//! The one SQS batch loop (docs/architecture.md "Queues"): decode each
//! record as the queue's message type, run the handler, and report partial
//! batch failures. What cannot be decoded, and what keeps failing, becomes a
//! dead letter saying why — never an endless redelivery, never a silent drop.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;

use super::{QueueMessage, Queues};
use crate::domain::{DeadLetter, DeadMessage};
use crate::ports::DeadLetterStore;
use crate::topology::Consumer;

/// What a handler did with one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Finished (delivered, applied, or dead-lettered by the handler): delete it.
    Done,
    /// Not finished: deliver it again after `Duration` (the retry schedule).
    RetryIn(Duration),
    /// Failed for this reason: deliver it again after the visibility
    /// timeout, or dead-letter it once it has failed too often.
    Failed(String),
    /// Can never succeed (e.g. its workspace is gone): dead-letter it now.
    Unprocessable(String),
}

/// One SQS record, as the handler loop sees it.
struct Record<'a> {
    id: &'a str,
    receipt: &'a str,
    body: &'a str,
    receive_count: u32,
}

impl<'a> Record<'a> {
    fn read(message: &'a SqsMessage) -> Self {
        Self {
            id: message.message_id.as_deref().unwrap_or_default(),
            receipt: message.receipt_handle.as_deref().unwrap_or_default(),
            body: message.body.as_deref().unwrap_or_default(),
            receive_count: message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        }
    }
}

/// Handles one batch of `consumer.queue` with `handler`, at most
/// `concurrency` records at a time. Returns the records to redeliver.
pub async fn handle<M, H, F>(
    queues: &Queues,
    dead_letters: &dyn DeadLetterStore,
    consumer: Consumer,
    concurrency: usize,
    event: SqsEvent,
    handler: H,
) -> SqsBatchResponse
where
    M: QueueMessage,
    H: Fn(M) -> F,
    F: Future<Output = Handled>,
{
    debug_assert_eq!(M::QUEUE, consumer.queue);
    let records: Vec<Record<'_>> = event.records.iter().map(Record::read).collect();
    // Futures are built up front and then polled: an async closure inside
    // the stream would trip the `Send` check of `serve`'s spawned consumers.
    let calls: Vec<_> = records
        .iter()
        .map(|record| handle_record(queues, dead_letters, consumer, record, &handler))
        .collect();
    let redeliver: Vec<Option<String>> = futures::stream::iter(calls)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for id in redeliver.into_iter().flatten() {
        response.add_failure(id);
    }
    response
}

/// Handles one record; returns its id when it must be delivered again.
async fn handle_record<M, H, F>(
    queues: &Queues,
    dead_letters: &dyn DeadLetterStore,
    consumer: Consumer,
    record: &Record<'_>,
    handler: &H,
) -> Option<String>
where
    M: QueueMessage,
    H: Fn(M) -> F,
    F: Future<Output = Handled>,
{
    let queue = consumer.queue;
    let give_up = |reason: String| DeadMessage {
        queue,
        body: record.body.to_owned(),
        reason,
        receive_count: record.receive_count,
    };
    if record.receive_count > consumer.max_receives {
        // Every earlier receive ended without an answer: a crash or a timeout.
        let reason = format!(
            "received {} times without completing (its handler crashed or timed out each time)",
            record.receive_count
        );
        return dead_letter(dead_letters, record, give_up(reason)).await;
    }
    let message: M = match serde_json::from_str(record.body) {
        Ok(message) => message,
        Err(e) => {
            let reason = format!("unreadable {queue} message: {e}");
            return dead_letter(dead_letters, record, give_up(reason)).await;
        }
    };
    match handler(message).await {
        Handled::Done => None,
        Handled::RetryIn(delay) => {
            if let Err(e) = queues
                .raw(queue)
                .change_visibility(record.receipt, delay)
                .await
            {
                tracing::warn!(%queue, message_id = record.id, error = %e,
                    "could not re-time a message; it returns after the queue's visibility timeout");
            }
            Some(record.id.to_owned())
        }
        Handled::Unprocessable(reason) => dead_letter(dead_letters, record, give_up(reason)).await,
        Handled::Failed(reason) if record.receive_count >= consumer.max_receives => {
            let reason = format!(
                "failed on each of {} receives; last error: {reason}",
                record.receive_count
            );
            dead_letter(dead_letters, record, give_up(reason)).await
        }
        Handled::Failed(reason) => {
            tracing::warn!(%queue, message_id = record.id, receive_count = record.receive_count,
                max_receives = consumer.max_receives, error = %reason,
                "message failed; it will be delivered again");
            Some(record.id.to_owned())
        }
    }
}

/// Keeps a message the consumer gives up on; returns the record's id when
/// even that failed (so the message stays where it is).
async fn dead_letter(
    dead_letters: &dyn DeadLetterStore,
    record: &Record<'_>,
    letter: DeadMessage,
) -> Option<String> {
    match crate::dead_letters::keep(dead_letters, &[DeadLetter::Message(letter)]).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(message_id = record.id, error = %e,
                "could not dead-letter a message; it will be delivered again");
            Some(record.id.to_owned())
        }
    }
}
