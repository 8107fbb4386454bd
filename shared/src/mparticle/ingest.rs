//! Applying a mapped request: ONE batched profile write for all its users,
//! then ONE queue send for all its events (packed ≤ 100 per message).

use super::mapper::{self, Report};
use super::model::SourceBatch;
use crate::config::WorkspaceConfig;
use crate::domain::EventsMessage;
use crate::domain::time::now_ms;
use crate::error::{RequestError, RequestResult};
use crate::runtime::Services;

/// Maps and applies validated batches. Everything that can reject the
/// request happens before the first write, so a rejected request applies
/// nothing; a failed write is retried by mParticle and replays are
/// idempotent (same attributes, same event uuids).
pub async fn ingest(
    services: &Services,
    ws: &WorkspaceConfig,
    batches: Vec<SourceBatch>,
) -> RequestResult<Report> {
    let mapped = mapper::map_batches(ws, batches, now_ms());
    let messages = EventsMessage::pack(&ws.id, &mapped.events).map_err(|e| {
        RequestError::bad_request(format!("cannot queue the request's events: {e}"))
    })?;
    if !mapped.updates.is_empty() {
        services
            .profiles
            .update_profiles(&ws.id, &mapped.updates)
            .await?;
    }
    services.queues.events.send_encoded(messages).await?;
    let report = mapped.report;
    tracing::info!(
        workspace_id = %ws.id,
        events = report.events,
        profiles = report.profiles,
        skipped = ?report.skipped,
        skipped_batches = report.skipped_batches,
        skipped_attributes = report.skipped_attributes,
        "mparticle batch ingested"
    );
    Ok(report)
}
