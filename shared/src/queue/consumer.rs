//! Lambda's SQS event-source mapping, emulated for `serve`: receive a batch,
//! build the SQS event, call the same handler the Lambda function calls,
//! delete the successes and leave the reported failures to reappear after
//! their visibility timeout (or whatever the handler set it to).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::sync::watch;

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
    /// Batches handled at once, like concurrent Lambda instances: a batch
    /// that takes long holds one worker, never the queue.
    pub workers: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility: Duration::from_secs(30),
            wait: Duration::from_millis(250),
            heartbeat: false,
            workers: 1,
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

/// Consumes `queue` with `options.workers` workers until `shutdown` turns
/// true. Each worker is a task of its own, so batches are handled on every
/// core (docs/architecture.md "Two ways to run"). A batch already handed to
/// the handler is finished and acknowledged before its worker returns, and
/// this returns once every worker has.
pub async fn run<H, F>(
    name: &str,
    queue: Arc<dyn Queue>,
    options: ConsumerOptions,
    shutdown: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(SqsEvent) -> F + Send + Sync + 'static,
    F: Future<Output = SqsBatchResponse> + Send + 'static,
{
    let handler = Arc::new(handler);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.workers.max(1) {
        workers.spawn(work(
            name.to_owned(),
            queue.clone(),
            options,
            shutdown.clone(),
            handler.clone(),
        ));
    }
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            // Its batch is not deleted: it comes back after its visibility.
            tracing::error!(consumer = name, error = %e, "a consumer worker panicked");
        }
    }
    tracing::info!(consumer = name, "consumer stopped");
}

/// One worker: receive a batch, handle it, delete what succeeded.
async fn work<H, F>(
    name: String,
    queue: Arc<dyn Queue>,
    options: ConsumerOptions,
    mut shutdown: watch::Receiver<bool>,
    handler: Arc<H>,
) where
    H: Fn(SqsEvent) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    let (name, queue) = (name.as_str(), queue.as_ref());
    let arn = queue.source_arn();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let received = tokio::select! {
            r = queue.receive(options.batch_size, options.visibility, options.wait) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(messages) if messages.is_empty() => continue,
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "receive failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let handling = handler(sqs_event(&messages, &arn));
        let response = if options.heartbeat {
            with_heartbeat(queue, &messages, options.visibility, handling).await
        } else {
            handling.await
        };
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let done: Vec<String> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        if let Err(e) = queue.delete(&done).await {
            // Not deleted means delivered again: at-least-once, never lost.
            tracing::warn!(consumer = name, error = %e, "delete failed; messages will be redelivered");
        }
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
