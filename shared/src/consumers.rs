//! Which handler consumes which queue: the SQS batches of the topology's
//! event sources, on Lambda and in `serve` alike (docs/architecture.md
//! "Queues").

use futures::future::BoxFuture;

use crate::ports::Received;
use crate::queue::batch::{self, BatchOutcome};
use crate::runtime::Services;
use crate::topology::{Consumer, QueueName};

/// Messages of one events batch dispatched at once: all of them (each
/// message's streams are sent concurrently too).
const DISPATCH_CONCURRENCY: usize = 10;

/// `handle` as an owned handler (the embedded consumer runs each message on
/// its own task).
pub fn handler(
    services: Services,
    consumer: Consumer,
) -> impl Fn(Vec<Received>) -> BoxFuture<'static, BatchOutcome> + Send + Sync + 'static {
    move |records| {
        let services = services.clone();
        Box::pin(async move { handle(&services, consumer, &records).await })
    }
}

/// Handles one batch of `consumer`'s queue.
pub async fn handle(services: &Services, consumer: Consumer, records: &[Received]) -> BatchOutcome {
    let queues = &services.queues;
    let dead_letters = services.dead_letters.as_ref();
    match consumer.queue {
        QueueName::Events => {
            crate::streams::warm_workspace_cache(services, records).await;
            batch::handle(
                queues,
                dead_letters,
                consumer,
                DISPATCH_CONCURRENCY,
                records,
                |m| crate::streams::dispatch_message(services, m),
            )
            .await
        }
        QueueName::Retry => {
            batch::handle(
                queues,
                dead_letters,
                consumer,
                DISPATCH_CONCURRENCY,
                records,
                |m| crate::streams::retry_message(services, m),
            )
            .await
        }
        QueueName::Cohort => {
            batch::handle(
                queues,
                dead_letters,
                consumer,
                crate::cohort::apply::MESSAGE_CONCURRENCY,
                records,
                |m| crate::cohort::apply_staged(services, m),
            )
            .await
        }
        QueueName::DeadLetter => {
            // Nothing consumes the redrive queue: `engage-bridge dlq` takes it in.
            tracing::error!("a batch of the redrive queue was handed to a consumer; leaving it");
            BatchOutcome::all(records)
        }
    }
}
