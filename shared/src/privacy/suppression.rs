//! The suppression check of every ingest path and of dispatch
//! (docs/interface/privacy.md "Suppression"): an erased uid stays out until
//! lifted. A process holds each workspace's suppressed hashes for
//! [`KNOWN_TTL`] when they are few (most workspaces suppress no one or a
//! handful), so a check is one HMAC per uid and no read; a workspace with
//! more than [`FEW`] pays one batched read per request instead.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::keyed::HashKey;
use crate::domain::time::now_ms;
use crate::domain::{Event, EventType, PageRequest};
use crate::observability::metrics;
use crate::ports::StoreResult;
use crate::runtime::Services;
use crate::runtime::read_turns::ReadTurns;

/// How long a process trusts what it read of a workspace's suppressions.
pub const KNOWN_TTL: Duration = Duration::from_secs(1);
/// How long an erasure waits after suppressing before it deletes: past
/// every process's [`KNOWN_TTL`], with a margin for requests in flight, so
/// nothing the suppression did not stop is written after the deletion.
pub const GRACE: Duration = Duration::from_secs(2);
/// Up to how many suppressed hashes a process holds per workspace
/// (64 bytes each: 64 KiB at most per workspace).
pub const FEW: usize = 1024;
/// The `reason` label of what suppression drops (`stream` is `-`).
pub const REASON: &str = "suppressed";

/// What a process knows of one workspace's suppressions.
#[derive(Clone)]
enum Known {
    /// Every suppressed hash (none, for most workspaces).
    Few(Arc<HashSet<String>>),
    /// More than [`FEW`]: each check reads the ones it asks about.
    Many,
}

/// Per-process state: each workspace's key (it never changes) and what it
/// suppresses (briefly).
#[derive(Default)]
pub struct SuppressionCache {
    keys: Mutex<HashMap<String, HashKey>>,
    known: Mutex<HashMap<String, (Instant, Known)>>,
    reads: ReadTurns,
}

impl SuppressionCache {
    fn cached(&self, workspace: &str) -> Option<Known> {
        let known = self.known.lock().ok()?;
        known
            .get(workspace)
            .filter(|(at, _)| at.elapsed() < KNOWN_TTL)
            .map(|(_, known)| known.clone())
    }

    fn set(&self, workspace: &str, value: Known) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(workspace.to_owned(), (Instant::now(), value));
        }
    }

    /// This process changed the list: its next check reads it again.
    fn forget(&self, workspace: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(workspace);
        }
    }
}

/// The workspace's hash key (made on first use, then cached).
pub async fn key(services: &Services, workspace: &str) -> StoreResult<HashKey> {
    let cache = &services.privacy.cache;
    if let Some(key) = cache
        .keys
        .lock()
        .ok()
        .and_then(|k| k.get(workspace).cloned())
    {
        return Ok(key);
    }
    let key = HashKey::new(
        services
            .privacy
            .suppressions
            .suppression_key(workspace)
            .await?,
    );
    if let Ok(mut keys) = cache.keys.lock() {
        keys.insert(workspace.to_owned(), key.clone());
    }
    Ok(key)
}

/// The workspace's suppressions as this process knows them: one page of at
/// most [`FEW`] per [`KNOWN_TTL`], one reader at a time.
async fn known(services: &Services, workspace: &str) -> StoreResult<Known> {
    let cache = &services.privacy.cache;
    if let Some(known) = cache.cached(workspace) {
        return Ok(known);
    }
    let _turn = cache.reads.take(workspace).await;
    if let Some(known) = cache.cached(workspace) {
        return Ok(known);
    }
    let page = services
        .privacy
        .suppressions
        .list_suppressions(workspace, &PageRequest::first(FEW))
        .await?;
    let known = match page.next_after {
        Some(_) => Known::Many,
        None => Known::Few(Arc::new(page.items.into_iter().map(|s| s.hash).collect())),
    };
    cache.set(workspace, known.clone());
    Ok(known)
}

/// The suppressed uids among those asked about.
#[derive(Debug, Default)]
pub struct Suppressed(HashSet<String>);

impl Suppressed {
    pub fn contains(&self, uid: Option<&str>) -> bool {
        uid.is_some_and(|uid| self.0.contains(uid))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which of `uids` are suppressed: no read when the workspace suppresses
/// few (the usual case), one batched read otherwise.
pub async fn check<'a>(
    services: &Services,
    workspace: &str,
    uids: impl IntoIterator<Item = &'a str>,
) -> StoreResult<Suppressed> {
    let uids: HashSet<&str> = uids.into_iter().collect();
    if uids.is_empty() {
        return Ok(Suppressed::default());
    }
    let known = known(services, workspace).await?;
    if matches!(&known, Known::Few(hashes) if hashes.is_empty()) {
        return Ok(Suppressed::default());
    }
    let key = key(services, workspace).await?;
    let by_hash: HashMap<String, &str> = uids.iter().map(|uid| (key.hash(uid), *uid)).collect();
    let suppressed: Vec<&str> = match &known {
        Known::Few(hashes) => by_hash
            .iter()
            .filter(|(hash, _)| hashes.contains(*hash))
            .map(|(_, uid)| *uid)
            .collect(),
        Known::Many => {
            let hashes: Vec<String> = by_hash.keys().cloned().collect();
            let found = services
                .privacy
                .suppressions
                .suppressed(workspace, &hashes)
                .await?;
            found
                .keys()
                .filter_map(|hash| by_hash.get(hash).copied())
                .collect()
        }
    };
    Ok(Suppressed(
        suppressed.into_iter().map(str::to_owned).collect(),
    ))
}

/// Counts and logs what suppression dropped (docs/interface/observability.md).
pub fn dropped(workspace: &str, what: &str, count: usize) {
    if count > 0 {
        metrics::events_dropped(workspace, "-", REASON, count);
        tracing::warn!(
            workspace_id = workspace,
            reason = REASON,
            count,
            what,
            "items of suppressed users dropped"
        );
    }
}

/// The events of a queue message that may still be delivered: those of a
/// suppressed uid are dropped (and counted), except engage-bridge's own
/// privacy events (`User Deleted` is about a suppressed uid by design).
pub async fn deliverable<'a>(
    services: &Services,
    workspace: &str,
    events: &'a [Event],
) -> StoreResult<Cow<'a, [Event]>> {
    let uids = events
        .iter()
        .filter(|e| e.event_type != EventType::PrivacyEvent)
        .filter_map(|e| e.uid.as_deref());
    let suppressed = check(services, workspace, uids).await?;
    if suppressed.is_empty() {
        return Ok(Cow::Borrowed(events));
    }
    let kept: Vec<Event> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::PrivacyEvent || !suppressed.contains(e.uid.as_deref())
        })
        .cloned()
        .collect();
    dropped(workspace, "queued events", events.len() - kept.len());
    Ok(Cow::Owned(kept))
}

/// Suppresses `uid` (keeping an earlier suppression's time); returns since when.
pub async fn suppress(services: &Services, workspace: &str, uid: &str) -> StoreResult<i64> {
    let hash = key(services, workspace).await?.hash(uid);
    let since = services
        .privacy
        .suppressions
        .suppress(workspace, &hash, now_ms())
        .await?;
    services.privacy.cache.forget(workspace);
    Ok(since)
}

/// Since when `uid` is suppressed, if it is.
pub async fn since(services: &Services, workspace: &str, uid: &str) -> StoreResult<Option<i64>> {
    let hash = key(services, workspace).await?.hash(uid);
    let found = services
        .privacy
        .suppressions
        .suppressed(workspace, std::slice::from_ref(&hash))
        .await?;
    Ok(found.get(&hash).copied())
}

/// Lifts `uid`'s suppression; false when there was none.
pub async fn lift(services: &Services, workspace: &str, uid: &str) -> StoreResult<bool> {
    let hash = key(services, workspace).await?.hash(uid);
    let lifted = services.privacy.suppressions.lift(workspace, &hash).await?;
    services.privacy.cache.forget(workspace);
    Ok(lifted)
}
