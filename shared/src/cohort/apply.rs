//! The cohort-queue consumer (function `cohort-ingest`'s SQS trigger; a
//! consumer of `serve`): matches each staged message's users, applies their
//! versioned membership changes and announces each as a `Partner Sync` event.
//!
//! Every step is idempotent, so a message that fails midway (or whose
//! consumer dies) is simply delivered again: profiles created on the first
//! attempt are matched on the second, changes already applied are reported
//! as current and re-announced with the same `event_uuid`s.

use super::matching::match_users;
use crate::domain::{MembershipChange, StagedChanges};
use crate::membership::apply_and_announce;
use crate::queue::batch::Handled;
use crate::runtime::Services;

/// Messages of one SQS batch applied concurrently. Each already batches and
/// parallelises its own store calls; a few at once keep the store busy
/// without piling up conflicting writes.
pub const MESSAGE_CONCURRENCY: usize = 4;

/// Applies one staged message.
pub async fn apply_staged(services: &Services, staged: StagedChanges) -> Handled {
    let sync = &staged.sync;
    let ws = match services.workspaces.get(&sync.workspace_id).await {
        Ok(Some(ws)) => ws,
        // Staged for a workspace removed since: nothing can apply it.
        Ok(None) => {
            return Handled::Unprocessable(format!(
                "workspace {:?} no longer exists",
                sync.workspace_id
            ));
        }
        Err(e) => return Handled::Failed(e.to_string()),
    };
    let matched = match match_users(services, &ws, &staged.users).await {
        Ok(matched) => matched,
        Err(e) => return Handled::Failed(e.to_string()),
    };
    let version = sync.version();
    let changes: Vec<MembershipChange> = matched
        .members
        .iter()
        .map(|member| MembershipChange {
            member: member.clone(),
            action: sync.action,
            version,
        })
        .collect();
    crate::observability::metrics::items_skipped(
        &ws.id,
        crate::domain::EventSource::Amplitude,
        "unknown_user",
        matched.dropped as u64,
    );
    let segment = sync.segment();
    let report = match apply_and_announce(services, &ws.id, &segment, &changes).await {
        Ok(report) => report,
        Err(e) => return Handled::Failed(e.to_string()),
    };
    crate::delivery_log::record_sync(
        services,
        &ws.id,
        &segment.id,
        sync.message_id.clone(),
        sync.action.as_str(),
        [
            staged.users.len(),
            report.applied,
            matched.created,
            matched.dropped,
            report.already_current,
        ],
    );
    tracing::info!(
        workspace_id = %ws.id,
        segment = %segment.id,
        message_id = sync.message_id.as_deref().unwrap_or(""),
        action = sync.action.as_str(),
        computed_time = sync.computed_time,
        time_ms = version.time_ms,
        sequence = version.seq,
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
    Handled::Done
}
