//! Which handler consumes which queue: the SQS batches of the topology's
//! event sources, on Lambda and in `serve` alike (docs/architecture.md
//! "Queues").

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;

use crate::queue::batch;
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
) -> impl Fn(SqsEvent) -> BoxFuture<'static, SqsBatchResponse> + Send + Sync + 'static {
    move |event| {
        let services = services.clone();
        Box::pin(async move { handle(&services, consumer, event).await })
    }
}

/// Handles one SQS batch of `consumer`'s queue.
pub async fn handle(services: &Services, consumer: Consumer, event: SqsEvent) -> SqsBatchResponse {
    let queues = &services.queues;
    let dead_letters = services.dead_letters.as_ref();
    match consumer.queue {
        QueueName::Events => {
            crate::streams::warm_workspace_cache(services, &event.records).await;
            batch::handle(
                queues,
                dead_letters,
                consumer,
                DISPATCH_CONCURRENCY,
                event,
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
                event,
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
                event,
                |m| crate::cohort::apply_staged(services, m),
            )
            .await
        }
        QueueName::Privacy => {
            batch::handle(
                queues,
                dead_letters,
                consumer,
                crate::privacy::job::MESSAGE_CONCURRENCY,
                event,
                |m| crate::privacy::job::handle(services, m),
            )
            .await
        }
        QueueName::DeadLetter => {
            // Nothing consumes the redrive queue: `engage-bridge dlq` takes it in.
            tracing::error!("a batch of the redrive queue was handed to a consumer; leaving it");
            let mut response = SqsBatchResponse::default();
            for record in &event.records {
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
            response
        }
    }
}
