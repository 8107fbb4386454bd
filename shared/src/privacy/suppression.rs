//! The suppression check of every ingest path and of dispatch
//! (docs/interface/privacy.md "Suppression"): an erased uid stays out until
//! lifted. It costs one batched lookup per request at most, and nothing for
//! a workspace that suppresses no one: whether a workspace suppresses
//! anyone is cached for [`ANY_TTL`] per process.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::keyed::HashKey;
use crate::domain::time::now_ms;
use crate::domain::{Event, EventType};
use crate::observability::metrics;
use crate::ports::StoreResult;
use crate::runtime::Services;

/// How long a process trusts "this workspace suppresses no one".
pub const ANY_TTL: Duration = Duration::from_secs(1);
/// How long an erasure waits after suppressing before it deletes: past
/// every process's [`ANY_TTL`], with a margin for requests in flight, so
/// nothing the suppression did not stop is written after the deletion.
pub const GRACE: Duration = Duration::from_secs(2);
/// The `reason` label of what suppression drops (`stream` is `-`).
pub const REASON: &str = "suppressed";

/// Per-process state: each workspace's key (it never changes) and whether
/// it suppresses anyone (briefly).
#[derive(Default)]
pub struct SuppressionCache {
    keys: Mutex<HashMap<String, HashKey>>,
    any: Mutex<HashMap<String, (Instant, bool)>>,
}

impl SuppressionCache {
    fn cached_any(&self, workspace: &str) -> Option<bool> {
        let any = self.any.lock().ok()?;
        any.get(workspace)
            .filter(|(at, _)| at.elapsed() < ANY_TTL)
            .map(|(_, any)| *any)
    }

    fn set_any(&self, workspace: &str, value: bool) {
        if let Ok(mut any) = self.any.lock() {
            any.insert(workspace.to_owned(), (Instant::now(), value));
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

async fn any_suppressed(services: &Services, workspace: &str) -> StoreResult<bool> {
    let cache = &services.privacy.cache;
    if let Some(any) = cache.cached_any(workspace) {
        return Ok(any);
    }
    let any = services
        .privacy
        .suppressions
        .any_suppressed(workspace)
        .await?;
    cache.set_any(workspace, any);
    Ok(any)
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

/// Which of `uids` are suppressed: one batched read, none at all when the
/// workspace suppresses no one.
pub async fn check<'a>(
    services: &Services,
    workspace: &str,
    uids: impl IntoIterator<Item = &'a str>,
) -> StoreResult<Suppressed> {
    let uids: HashSet<&str> = uids.into_iter().collect();
    if uids.is_empty() || !any_suppressed(services, workspace).await? {
        return Ok(Suppressed::default());
    }
    let key = key(services, workspace).await?;
    let by_hash: HashMap<String, &str> = uids.iter().map(|uid| (key.hash(uid), *uid)).collect();
    let hashes: Vec<String> = by_hash.keys().cloned().collect();
    let found = services
        .privacy
        .suppressions
        .suppressed(workspace, &hashes)
        .await?;
    Ok(Suppressed(
        found
            .keys()
            .filter_map(|hash| by_hash.get(hash))
            .map(|uid| (*uid).to_owned())
            .collect(),
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
    services.privacy.cache.set_any(workspace, true);
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
    services.privacy.suppressions.lift(workspace, &hash).await
}
