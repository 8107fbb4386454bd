//! Streams' operator states as a handler sees them: read through a short
//! per-process cache (one read per workspace per cache period, like the
//! workspace configuration), and read fresh where a stale view would make a
//! resumed stream's batch wait another round (`crate::streams::control`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Services;
use super::read_turns::ReadTurns;
use crate::config::WorkspaceConfig;
use crate::domain::StreamState;
use crate::ports::StoreResult;

/// The states of one workspace's streams that are not the default.
pub type States = Arc<HashMap<String, StreamState>>;

pub struct StreamStateCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, States)>>,
    reads: ReadTurns,
}

impl StreamStateCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            reads: ReadTurns::default(),
        }
    }

    fn get(&self, workspace: &str) -> Option<States> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(workspace)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, states)| states.clone())
    }

    fn put(&self, workspace: &str, states: States) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(workspace.to_owned(), (Instant::now(), states));
        }
    }
}

impl Services {
    /// A workspace's stream states, cached briefly per process.
    pub async fn cached_stream_states(&self, workspace: &str) -> StoreResult<States> {
        let cache = &self.stream_state_cache;
        if let Some(hit) = cache.get(workspace) {
            return Ok(hit);
        }
        let _turn = cache.reads.take(workspace).await;
        if let Some(hit) = cache.get(workspace) {
            return Ok(hit);
        }
        self.fresh_stream_states(workspace).await
    }

    /// A workspace's stream states read now (and cached).
    pub async fn fresh_stream_states(&self, workspace: &str) -> StoreResult<States> {
        let states = Arc::new(self.stream_states.stream_states(workspace).await?);
        self.stream_state_cache.put(workspace, states.clone());
        Ok(states)
    }

    /// A workspace's configuration and stream states read now (and cached).
    pub async fn fresh_workspace(
        &self,
        id: &str,
    ) -> StoreResult<Option<(Arc<WorkspaceConfig>, States)>> {
        self.workspaces.forget(id);
        let Some(workspace) = self.workspaces.get(id).await? else {
            return Ok(None);
        };
        Ok(Some((workspace, self.fresh_stream_states(id).await?)))
    }
}
