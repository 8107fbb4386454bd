//! Retention (docs/interface/privacy.md "Retention"): dead letters are kept
//! `[privacy] dead_letter_days`; `engage-bridge dlq purge` removes older ones
//! on demand. On DynamoDB a TTL attribute expires them; on SQLite `serve`
//! sweeps, which also drops expired idempotency keys and access subjects
//! and, after an erasure, makes freed pages unrecoverable.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::domain::page::{MAX_LIMIT, PageRequest};
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::ports::StoreResult;
use crate::runtime::Services;

/// How often `serve` sweeps expired keys (and compacts after erasures).
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How often `serve` purges dead letters past their retention.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

/// One dead letter a purge removes (or, dry, would).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub id: String,
    pub workspace_id: String,
    pub stream: String,
    pub kept_at: String,
    pub reason: String,
}

/// Removes the dead letters kept before `cutoff_ms` (of `workspace` only,
/// when given); with `dry_run`, only says which.
pub async fn purge_dead_letters(
    services: &Services,
    cutoff_ms: i64,
    workspace: Option<&str>,
    dry_run: bool,
) -> StoreResult<Vec<Purged>> {
    let mut chosen = Vec::new();
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let found = services.dead_letters.list_dead_letters(&page).await?;
        for kept in found.items {
            let (workspace_id, stream) = crate::dead_letters::owner(&kept.letter);
            if kept.at_ms < cutoff_ms && workspace.is_none_or(|w| w == workspace_id) {
                chosen.push(Purged {
                    id: kept.id,
                    workspace_id,
                    stream,
                    kept_at: rfc3339_ms(kept.at_ms),
                    reason: kept.letter.reason().to_owned(),
                });
            }
        }
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    if !dry_run && !chosen.is_empty() {
        let ids: Vec<String> = chosen.iter().map(|p| p.id.clone()).collect();
        services.dead_letters.remove_dead_letters(&ids).await?;
        tracing::info!(
            dead_letters = ids.len(),
            "dead letters past their retention removed"
        );
    }
    Ok(chosen)
}

/// `serve`'s sweeper: until `shutdown`, sweeps every [`SWEEP_EVERY`] and
/// purges dead letters past `[privacy] dead_letter_days` every
/// [`PURGE_EVERY`]. A failed round is logged and tried again next time.
pub async fn run_sweeper(services: Services, mut shutdown: watch::Receiver<bool>) {
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        if let Err(e) = services.privacy.data.sweep(now_ms()).await {
            tracing::warn!(error = %e, "retention sweep failed; trying again later");
        }
        if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            let cutoff = now_ms() - services.privacy.settings.dead_letter_ms();
            match purge_dead_letters(&services, cutoff, None, false).await {
                Ok(_) => last_purge = Some(tokio::time::Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %e, "dead-letter purge failed; trying again later")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
