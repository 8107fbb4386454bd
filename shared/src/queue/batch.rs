//! The one SQS batch loop (docs/architecture.md "Queues"): decode each
//! record as the queue's message type, run the handler, and report partial
//! batch failures. What cannot be decoded, and what keeps failing, becomes a
//! dead letter saying why — never an endless redelivery, never a silent drop.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;

use super::{QueueMessage, Queues};
use crate::dead_letters::{self, Reason};
use crate::ports::{DeadLetterStore, Received};
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

/// What became of a batch: the ids of the messages to deliver again (all
/// others are done and may be deleted). Lambda's partial batch response
/// says the same (`crate::lambda`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub redeliver: Vec<String>,
}

impl BatchOutcome {
    /// Every message of `records` is delivered again.
    pub fn all(records: &[Received]) -> Self {
        Self {
            redeliver: records.iter().map(|r| r.message_id.clone()).collect(),
        }
    }
}

/// Handles one batch of `consumer.queue` with `handler`, at most
/// `concurrency` records at a time.
pub async fn handle<M, H, F>(
    queues: &Queues,
    dead_letters: &dyn DeadLetterStore,
    consumer: Consumer,
    concurrency: usize,
    records: &[Received],
    handler: H,
) -> BatchOutcome
where
    M: QueueMessage,
    H: Fn(M) -> F,
    F: Future<Output = Handled>,
{
    debug_assert_eq!(M::QUEUE, consumer.queue);
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
    BatchOutcome {
        redeliver: redeliver.into_iter().flatten().collect(),
    }
}

/// Handles one record; returns its id when it must be delivered again.
async fn handle_record<M, H, F>(
    queues: &Queues,
    dead_letters: &dyn DeadLetterStore,
    consumer: Consumer,
    record: &Received,
    handler: &H,
) -> Option<String>
where
    M: QueueMessage,
    H: Fn(M) -> F,
    F: Future<Output = Handled>,
{
    let queue = consumer.queue;
    let give_up = |reason: Reason| {
        dead_letters::message(queue, record.body.clone(), record.receive_count, reason)
    };
    if record.receive_count > consumer.max_receives {
        // Every earlier receive ended without an answer: a crash or a timeout.
        let reason = Reason::NeverCompleted {
            receives: record.receive_count,
        };
        return dead_letter(dead_letters, record, give_up(reason)).await;
    }
    let message: M = match serde_json::from_str(&record.body) {
        Ok(message) => message,
        Err(e) => {
            let reason = Reason::Unreadable {
                queue,
                error: e.to_string(),
            };
            return dead_letter(dead_letters, record, give_up(reason)).await;
        }
    };
    match handler(message).await {
        Handled::Done => None,
        Handled::RetryIn(delay) => {
            if let Err(e) = queues
                .raw(queue)
                .change_visibility(&record.receipt_handle, delay)
                .await
            {
                tracing::warn!(%queue, message_id = %record.message_id, error = %e,
                    "could not re-time a message; it returns after the queue's visibility timeout");
            }
            Some(record.message_id.clone())
        }
        Handled::Unprocessable(reason) => {
            let letter = give_up(Reason::Unprocessable(reason));
            dead_letter(dead_letters, record, letter).await
        }
        Handled::Failed(last_error) if record.receive_count >= consumer.max_receives => {
            let reason = Reason::FailedEveryReceive {
                receives: record.receive_count,
                last_error,
            };
            dead_letter(dead_letters, record, give_up(reason)).await
        }
        Handled::Failed(reason) => {
            tracing::warn!(%queue, message_id = %record.message_id,
                receive_count = record.receive_count, max_receives = consumer.max_receives,
                error = %reason, "message failed; it will be delivered again");
            Some(record.message_id.clone())
        }
    }
}

/// Keeps a message the consumer gives up on; returns the record's id when
/// even that failed (so the message stays where it is).
async fn dead_letter(
    dead_letters: &dyn DeadLetterStore,
    record: &Received,
    letter: crate::domain::DeadLetter,
) -> Option<String> {
    match dead_letters::keep(dead_letters, &[letter]).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(message_id = %record.message_id, error = %e,
                "could not dead-letter a message; it will be delivered again");
            Some(record.message_id.clone())
        }
    }
}
