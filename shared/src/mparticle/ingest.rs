//! Applying a mapped request: ONE write of its profile updates, the
//! corrections their attribute budget calls for and its events (packed
//! ≤ 100 per message), `ports::IngestWriter`.

use super::mapper::{self, Report};
use super::model::SourceBatch;
use crate::config::WorkspaceConfig;
use crate::domain::time::now_ms;
use crate::domain::{EventSource, EventsMessage, Profile, ProfileUpdate};
use crate::error::{RequestError, RequestResult};
use crate::input::limits;
use crate::observability::metrics;
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
    let mut mapped = mapper::map_batches(ws, batches, now_ms());
    drop_suppressed(services, ws, &mut mapped).await?;
    let messages = EventsMessage::pack(&ws.id, &mapped.events).map_err(|e| {
        RequestError::bad_request(format!("cannot queue the request's events: {e}"))
    })?;
    let mut report = mapped.report;
    let written = services
        .ingest
        .write(&ws.id, &mapped.updates, over_budget, messages)
        .await?;
    report.skipped_attributes += not_kept(ws, &written.corrections);
    metrics::events_ingested(&ws.id, &mapped.events);
    let skipped = [
        ("no_identity", report.skipped_batches),
        ("attribute_not_kept", report.skipped_attributes),
        ("attribute_cut", report.cut_attributes),
    ];
    for (reason, count) in skipped {
        metrics::items_skipped(&ws.id, EventSource::Mparticle, reason, count);
    }
    for (event_type, count) in &report.skipped {
        metrics::items_skipped(&ws.id, EventSource::Mparticle, event_type, *count);
    }
    tracing::info!(
        workspace_id = %ws.id,
        events = report.events,
        profiles = report.profiles,
        skipped = ?report.skipped,
        skipped_batches = report.skipped_batches,
        skipped_attributes = report.skipped_attributes,
        cut_attributes = report.cut_attributes,
        "mparticle batch ingested"
    );
    Ok(report)
}

/// Suppressed users' profile updates and events go no further
/// (docs/interface/privacy.md "Suppression"): one lookup for the request.
async fn drop_suppressed(
    services: &Services,
    ws: &WorkspaceConfig,
    mapped: &mut mapper::Mapped,
) -> RequestResult<()> {
    let uids = mapped
        .updates
        .iter()
        .filter_map(|u| u.uid())
        .chain(mapped.events.iter().filter_map(|e| e.uid.as_deref()));
    let suppressed = crate::privacy::suppression::check(services, &ws.id, uids).await?;
    if suppressed.is_empty() {
        return Ok(());
    }
    let before = mapped.updates.len() + mapped.events.len();
    mapped.updates.retain(|u| !suppressed.contains(u.uid()));
    mapped
        .events
        .retain(|e| !suppressed.contains(e.uid.as_deref()));
    let dropped = before - mapped.updates.len() - mapped.events.len();
    mapped.report.suppressed = dropped as u64;
    mapped.report.events = mapped.events.len();
    mapped.report.profiles = mapped.updates.len();
    crate::privacy::suppression::dropped(&ws.id, "mParticle events and profile updates", dropped);
    Ok(())
}

/// A profile that this request's attributes took over its attribute budget
/// gets them taken back (a correction, rarely any): the budget holds per
/// profile across requests, not only per request.
fn over_budget(updates: &[ProfileUpdate], profiles: &[Profile]) -> Vec<ProfileUpdate> {
    let mut trims = Vec::new();
    for (update, profile) in updates.iter().zip(profiles) {
        let remove = update.over_budget(profile, limits::PROFILE_ATTRIBUTE_BYTES);
        if !remove.is_empty() {
            let mut trim = ProfileUpdate::new(update.key.clone());
            trim.remove_attributes = remove;
            trims.push(trim);
        }
    }
    trims
}

/// How many attributes the corrections took back, said in the log.
fn not_kept(ws: &WorkspaceConfig, corrections: &[ProfileUpdate]) -> u64 {
    let removed = corrections
        .iter()
        .map(|t| t.remove_attributes.len() as u64)
        .sum();
    if !corrections.is_empty() {
        tracing::warn!(workspace_id = %ws.id, profiles = corrections.len(), attributes = removed,
            "attributes beyond a profile's attribute budget were not kept");
    }
    removed
}
