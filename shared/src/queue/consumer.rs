//! Lambda's SQS event-source mapping, emulated for `serve`: receive
//! messages, build the SQS event, call the same handler the Lambda function
//! calls, delete the successes and leave the reported failures to reappear
//! after their visibility timeout (or whatever the handler set it to).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::ports::{Queue, ReceivedMessage};

#[derive(Clone, Copy, Debug)]
pub struct ConsumerOptions {
    /// Messages per handler call (Lambda's BatchSize; SQS allows ≤ 10).
    pub batch_size: usize,
    /// How long a received message stays hidden while the handler runs.
    /// After a crash, in-flight messages reappear within this time.
    pub visibility: Duration,
    /// Longest wait for a message per receive call.
    pub wait: Duration,
    /// Keep extending the visibility of the batch while the handler runs
    /// (for handlers that never set visibility themselves; the retry
    /// handler does, and a heartbeat would undo its schedule).
    pub heartbeat: bool,
    /// Messages handled at once.
    pub in_flight: usize,
    /// After the shutdown signal, how long the messages in hand may take;
    /// those still unfinished then are made visible again at once (they
    /// stay queued, for the next start or another consumer).
    pub shutdown_grace: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility: Duration::from_secs(30),
            wait: Duration::from_millis(250),
            heartbeat: false,
            in_flight: 10,
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// Builds the SQS event Lambda would deliver for these messages.
pub fn sqs_event(messages: &[ReceivedMessage], source_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt_handle.clone());
            record.body = Some(m.body.clone());
            record.attributes.insert(
                "ApproximateReceiveCount".into(),
                m.receive_count.to_string(),
            );
            record
                .attributes
                .insert("SentTimestamp".into(), m.sent_at_ms.to_string());
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(source_arn.to_owned());
            record.aws_region = Some("local".into());
            record
        })
        .collect();
    event
}

/// Consumes `queue` until `shutdown` turns true, with up to
/// `options.in_flight` messages handled at once, each on its own (a batch
/// of one), so a message that takes long holds one slot and never the
/// messages received with it (docs/architecture.md "Streams"). After the
/// shutdown signal, the messages in hand get `options.shutdown_grace` to
/// finish; what is unfinished then is released, never lost.
pub async fn run<H, F>(
    name: &str,
    queue: Arc<dyn Queue>,
    options: ConsumerOptions,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(SqsEvent) -> F + Send + Sync + 'static,
    F: Future<Output = SqsBatchResponse> + Send + 'static,
{
    let handler = Arc::new(handler);
    let arn = queue.source_arn();
    let slots = Arc::new(Semaphore::new(options.in_flight.max(1)));
    let mut handling = JoinSet::new();
    // Receipt handles of the messages being handled, to release at the deadline.
    let mut in_hand: Vec<(tokio::task::AbortHandle, String)> = Vec::new();
    loop {
        while handling.try_join_next().is_some() {}
        in_hand.retain(|(task, _)| !task.is_finished());
        if *shutdown.borrow() {
            break;
        }
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let room = 1 + slots.available_permits();
        let received = tokio::select! {
            r = queue.receive(options.batch_size.min(room), options.visibility, options.wait) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "receive failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                None => slots
                    .clone()
                    .try_acquire_owned()
                    .expect("no more messages than free slots are received"),
            };
            let (queue, handler, arn) = (queue.clone(), handler.clone(), arn.clone());
            let name = name.to_owned();
            let receipt = message.receipt_handle.clone();
            let task = handling.spawn(async move {
                handle_one(
                    &name,
                    queue.as_ref(),
                    options,
                    &arn,
                    message,
                    handler.as_ref(),
                )
                .await;
                drop(permit);
            });
            in_hand.push((task, receipt));
        }
    }
    let finished = tokio::time::timeout(options.shutdown_grace, async {
        while handling.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        release_unfinished(name, queue.as_ref(), in_hand, handling).await;
    }
    tracing::info!(consumer = name, "consumer stopped");
}

/// Stops the handling still running at the shutdown deadline and makes its
/// messages visible again, so they are handled after the restart at once
/// rather than after their visibility timeout.
async fn release_unfinished(
    name: &str,
    queue: &dyn Queue,
    in_hand: Vec<(tokio::task::AbortHandle, String)>,
    mut handling: JoinSet<()>,
) {
    let unfinished: Vec<String> = in_hand
        .into_iter()
        .filter(|(task, _)| !task.is_finished())
        .map(|(task, receipt)| {
            task.abort();
            receipt
        })
        .collect();
    while handling.join_next().await.is_some() {}
    tracing::warn!(
        consumer = name,
        messages = unfinished.len(),
        "shutdown deadline reached; unfinished messages stay queued"
    );
    for receipt in unfinished {
        if let Err(e) = queue.change_visibility(&receipt, Duration::ZERO).await {
            tracing::warn!(consumer = name, error = %e, "could not release a message; it reappears after its visibility timeout");
        }
    }
}

/// Hands one message to the handler and deletes it unless it failed.
async fn handle_one<H, F>(
    name: &str,
    queue: &dyn Queue,
    options: ConsumerOptions,
    arn: &str,
    message: ReceivedMessage,
    handler: &H,
) where
    H: Fn(SqsEvent) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    let messages = std::slice::from_ref(&message);
    let handling = handler(sqs_event(messages, arn));
    let response = if options.heartbeat {
        with_heartbeat(queue, messages, options.visibility, handling).await
    } else {
        handling.await
    };
    if !response.batch_item_failures.is_empty() {
        return;
    }
    if let Err(e) = queue.delete(&[message.receipt_handle]).await {
        // Not deleted means delivered again: at-least-once, never lost.
        tracing::warn!(consumer = name, error = %e, "delete failed; the message will be redelivered");
    }
}

/// Runs `handling`, re-hiding the messages every third of `visibility` so
/// a long dispatch is not delivered twice; a crash still lets them
/// reappear within `visibility`.
async fn with_heartbeat<F: Future<Output = SqsBatchResponse>>(
    queue: &dyn Queue,
    messages: &[ReceivedMessage],
    visibility: Duration,
    handling: F,
) -> SqsBatchResponse {
    let mut handling = std::pin::pin!(handling);
    let mut ticks = tokio::time::interval(visibility / 3);
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            response = &mut handling => return response,
            _ = ticks.tick() => {
                for m in messages {
                    if let Err(e) = queue.change_visibility(&m.receipt_handle, visibility).await {
                        tracing::warn!(error = %e, "could not extend a message's visibility");
                    }
                }
            }
        }
    }
}
