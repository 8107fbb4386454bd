//! Streams [003] and Amplitude export [000, 004]: dispatch of the events
//! queue to each workspace's streams, retries and dead letters.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use crate::runtime::Services;

/// Consumer of the events queue.
pub async fn handle_events(_services: &Services, event: SqsEvent) -> SqsBatchResponse {
    fail_all(event)
}

/// Consumer of the retry queue.
pub async fn handle_retries(_services: &Services, event: SqsEvent) -> SqsBatchResponse {
    fail_all(event)
}

fn fail_all(event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        if let Some(id) = record.message_id {
            response.add_failure(id);
        }
    }
    response
}
