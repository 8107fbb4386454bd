//! Entry points shared by the Lambda functions and `serve`: one per queue
//! consumer, plus direct invocations.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use crate::lambda::Function;
use crate::ports::Queue;
use crate::runtime::Services;

/// The queue consumers (Lambda SQS triggers; `serve` runs each one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueHandler {
    /// Events queue → streams (function `stream-dispatch`).
    StreamDispatch,
    /// Retry queue → streams again, then dead letters (function `retry`).
    Retry,
    /// Cohort staging queue → memberships (function `cohort-ingest`).
    CohortApply,
}

impl QueueHandler {
    pub const ALL: &'static [QueueHandler] =
        &[Self::StreamDispatch, Self::Retry, Self::CohortApply];

    pub fn name(self) -> &'static str {
        match self {
            Self::StreamDispatch => "stream-dispatch",
            Self::Retry => "retry",
            Self::CohortApply => "cohort-apply",
        }
    }

    /// The Lambda function this consumer runs in on AWS.
    pub fn function(self) -> Function {
        match self {
            Self::StreamDispatch => Function::StreamDispatch,
            Self::Retry => Function::Retry,
            Self::CohortApply => Function::CohortIngest,
        }
    }

    /// Whether the handler leaves message visibility to its caller (the
    /// retry handler re-times its own messages to follow the schedule).
    pub fn sets_no_visibility(self) -> bool {
        !matches!(self, Self::Retry)
    }

    pub fn queue(self, services: &Services) -> Arc<dyn Queue> {
        match self {
            Self::StreamDispatch => services.queues.events.clone(),
            Self::Retry => services.queues.retry.clone(),
            Self::CohortApply => services.queues.cohort.clone(),
        }
    }

    pub async fn handle(self, services: &Services, event: SqsEvent) -> SqsBatchResponse {
        match self {
            Self::StreamDispatch => crate::streams::handle_events(services, event).await,
            Self::Retry => crate::streams::handle_retries(services, event).await,
            Self::CohortApply => crate::cohort::handle_staged(services, event).await,
        }
    }
}

/// A direct (non-HTTP, non-SQS) invocation: mParticle Firehose requests.
pub async fn direct(
    services: &Services,
    payload: serde_json::Value,
) -> Result<serde_json::Value, crate::api::ApiError> {
    crate::mparticle::firehose_direct(services, payload).await
}
