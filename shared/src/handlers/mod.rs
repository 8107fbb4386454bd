//! Entry points shared by the Lambda functions and `serve`: one per queue
//! consumer, plus the per-function Lambda dispatch.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use crate::ports::Queue;
use crate::runtime::Services;

/// The queue consumers (Lambda SQS triggers; `serve` runs each one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueHandler {}

impl QueueHandler {
    pub const ALL: &'static [QueueHandler] = &[];

    pub fn name(self) -> &'static str {
        match self {}
    }

    /// The Lambda function this consumer runs in on AWS.
    pub fn function(self) -> crate::lambda::Function {
        match self {}
    }

    pub fn queue(self, _services: &Services) -> Arc<dyn Queue> {
        match self {}
    }

    pub async fn handle(self, _services: &Services, _event: SqsEvent) -> SqsBatchResponse {
        match self {}
    }
}

/// A direct (non-HTTP, non-SQS) invocation: mParticle Firehose requests.
pub async fn direct(_services: &Services, payload: serde_json::Value) -> serde_json::Value {
    let kind = payload
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown");
    serde_json::json!({
        "status": "error",
        "error": format!("unsupported direct invocation of type {kind:?}"),
    })
}
