//! The cohort-queue consumer (function `cohort-ingest`'s SQS trigger; a
//! consumer of `serve`): matches each staged message's users, applies their
//! versioned membership changes and announces each as a `Partner Sync` event.
//!
//! Every step is idempotent, so a message that fails midway (or whose
//! consumer dies) is simply delivered again: profiles created on the first
//! attempt are matched on the second, changes already applied are reported
//! as current and re-announced with the same `event_uuid`s.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;

use super::matching::match_users;
use super::staging::StagedChanges;
use crate::domain::MembershipChange;
use crate::membership::apply_and_announce;
use crate::ports::StoreError;
use crate::runtime::Services;

/// Messages of one SQS batch applied concurrently. Each already batches and
/// parallelises its own store calls; a few at once keep the store busy
/// without piling up conflicting writes.
const MESSAGE_CONCURRENCY: usize = 4;

/// Why a message was not applied.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    /// It can never be applied. We produce these messages ourselves, so this
    /// means a bug, a manual send, or a workspace deleted after staging.
    #[error("{0}")]
    Unprocessable(String),
    /// A store or queue failure: worth another attempt.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handles one batch of cohort-queue messages. Store failures are reported
/// as batch item failures, so SQS redelivers just those messages (after 5
/// receives the template's redrive policy moves one to the cohort
/// dead-letter queue for inspection). Unprocessable messages are logged and
/// acknowledged: retrying cannot help them, and the shared dead-letter queue
/// holds failed stream batches in another shape (`dlq list` reads it).
pub async fn handle_staged(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    // Futures built up front, then polled in order: an async block inside
    // `map` would trip the higher-ranked `Send` check of `serve`'s spawn.
    let calls: Vec<_> = event
        .records
        .iter()
        .map(|record| apply_record(services, record))
        .collect();
    let outcomes: Vec<Result<(), ApplyError>> = futures::stream::iter(calls)
        .buffered(MESSAGE_CONCURRENCY)
        .collect()
        .await;
    let results = event
        .records
        .iter()
        .map(|record| record.message_id.clone())
        .zip(outcomes);
    let mut response = SqsBatchResponse::default();
    for (message_id, result) in results {
        match result {
            Ok(()) => {}
            Err(ApplyError::Unprocessable(reason)) => {
                tracing::error!(
                    message_id = message_id.as_deref().unwrap_or(""),
                    %reason,
                    "dropping an unprocessable cohort-queue message"
                );
            }
            Err(ApplyError::Store(error)) => {
                tracing::warn!(
                    message_id = message_id.as_deref().unwrap_or(""),
                    %error,
                    "cohort-queue message failed; it will be redelivered"
                );
                response.add_failure(message_id.unwrap_or_default());
            }
        }
    }
    response
}

async fn apply_record(services: &Services, record: &SqsMessage) -> Result<(), ApplyError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| ApplyError::Unprocessable("message has no body".into()))?;
    let staged: StagedChanges = serde_json::from_str(body)
        .map_err(|e| ApplyError::Unprocessable(format!("not a staged cohort message: {e}")))?;
    apply_staged(services, &staged).await
}

async fn apply_staged(services: &Services, staged: &StagedChanges) -> Result<(), ApplyError> {
    let ws = services
        .workspace(&staged.workspace_id)
        .await?
        .ok_or_else(|| {
            ApplyError::Unprocessable(format!(
                "workspace {:?} no longer exists",
                staged.workspace_id
            ))
        })?;
    let matched = match_users(services, &ws, &staged.users).await?;
    let changes: Vec<MembershipChange> = matched
        .members
        .iter()
        .map(|member| MembershipChange {
            member: member.clone(),
            action: staged.action,
            computed_time: staged.computed_time,
        })
        .collect();
    let segment = staged.segment();
    let report = apply_and_announce(services, &ws.id, &segment, &changes).await?;
    tracing::info!(
        workspace = %ws.id,
        segment = %segment.id,
        message_id = staged.message_id.as_deref().unwrap_or(""),
        action = staged.action.as_str(),
        computed_time = staged.computed_time,
        users = staged.users.len(),
        by_uid = matched.by_uid,
        by_anonymous_id = matched.by_anonymous_id,
        created = matched.created,
        dropped = matched.dropped,
        applied = report.applied,
        already_current = report.already_current,
        events = report.events,
        "applied staged cohort changes"
    );
    Ok(())
}
