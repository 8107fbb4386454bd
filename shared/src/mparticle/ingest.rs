//! Applying a mapped request: ONE batched profile write for all its users,
//! then ONE queue send for all its events (packed ≤ 100 per message).

use std::time::Duration;

use super::mapper::{self, Report};
use super::model::SourceBatch;
use crate::api::{ApiError, enforce_rate_limit};
use crate::config::WorkspaceConfig;
use crate::domain::event::pack_messages;
use crate::domain::time::now_ms;
use crate::ports::OutgoingMessage;
use crate::runtime::Services;

/// The rate-limit scope of every mParticle request (both formats).
pub const RATE_SCOPE: &str = "mparticle";

/// `mparticle_requests_per_minute` per workspace, across all instances
/// ([002]: 15 000 RPM by default).
pub async fn rate_limit(services: &Services, ws: &WorkspaceConfig) -> Result<(), ApiError> {
    enforce_rate_limit(
        services,
        &ws.id,
        RATE_SCOPE,
        Duration::from_secs(60),
        "minute",
        u64::from(ws.mparticle_requests_per_minute),
    )
    .await
}

/// Maps and applies validated batches. Everything that can reject the
/// request happens before the first write, so a rejected request applies
/// nothing; a failed write is retried by mParticle and replays are
/// idempotent (same attributes, same event uuids).
pub async fn ingest(
    services: &Services,
    ws: &WorkspaceConfig,
    batches: Vec<SourceBatch>,
) -> Result<Report, ApiError> {
    let mapped = mapper::map_batches(ws, batches, now_ms());
    let bodies = pack_messages(&ws.id, &mapped.events)
        .map_err(|e| ApiError::bad_request(format!("cannot queue the request's events: {e}")))?;
    if !mapped.updates.is_empty() {
        services
            .profiles
            .update_profiles(&ws.id, &mapped.updates)
            .await?;
    }
    if !bodies.is_empty() {
        let messages: Vec<OutgoingMessage> = bodies.into_iter().map(OutgoingMessage::now).collect();
        services.queues.events.send(&messages).await?;
    }
    let report = mapped.report;
    tracing::info!(
        workspace = %ws.id,
        events = report.events,
        profiles = report.profiles,
        skipped = ?report.skipped,
        skipped_batches = report.skipped_batches,
        skipped_attributes = report.skipped_attributes,
        "mparticle batch ingested"
    );
    Ok(report)
}
