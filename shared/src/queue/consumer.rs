//! Lambda's SQS event-source mapping, emulated for `serve`: receive
//! messages, hand them to the same batch handler the Lambda function calls,
//! delete the successes and leave the reported failures to reappear after
//! their visibility timeout (or whatever the handler set it to).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::batch::BatchOutcome;
use crate::ports::{Queue, Received};

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
    H: Fn(Vec<Received>) -> F + Send + Sync + 'static,
    F: Future<Output = BatchOutcome> + Send + 'static,
{
    let handler = Arc::new(handler);
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
            let (queue, handler) = (queue.clone(), handler.clone());
            let name = name.to_owned();
            let receipt = message.receipt_handle.clone();
            let task = handling.spawn(async move {
                handle_one(&name, queue.as_ref(), options, message, handler.as_ref()).await;
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
    message: Received,
    handler: &H,
) where
    H: Fn(Vec<Received>) -> F,
    F: Future<Output = BatchOutcome>,
{
    let receipt = message.receipt_handle.clone();
    let handling = handler(vec![message]);
    let outcome = if options.heartbeat {
        with_heartbeat(queue, &receipt, options.visibility, handling).await
    } else {
        handling.await
    };
    if !outcome.redeliver.is_empty() {
        return;
    }
    if let Err(e) = queue.delete(&[receipt]).await {
        // Not deleted means delivered again: at-least-once, never lost.
        tracing::warn!(consumer = name, error = %e, "delete failed; the message will be redelivered");
    }
}

/// Runs `handling`, re-hiding the message every third of `visibility` so
/// a long dispatch is not delivered twice; a crash still lets it reappear
/// within `visibility`.
async fn with_heartbeat<F: Future<Output = BatchOutcome>>(
    queue: &dyn Queue,
    receipt: &str,
    visibility: Duration,
    handling: F,
) -> BatchOutcome {
    let mut handling = std::pin::pin!(handling);
    let mut ticks = tokio::time::interval(visibility / 3);
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            response = &mut handling => return response,
            _ = ticks.tick() => {
                if let Err(e) = queue.change_visibility(receipt, visibility).await {
                    tracing::warn!(error = %e, "could not extend a message's visibility");
                }
            }
        }
    }
}
