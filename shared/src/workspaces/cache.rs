//! Workspace configurations read in the last few seconds, per process: every
//! request and queue message names its workspace, and most name the same few.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::WorkspaceConfig;

pub(super) struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<WorkspaceConfig>)>>,
}

impl Cache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<WorkspaceConfig>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, w)| w.clone())
    }

    pub(super) fn put(&self, id: &str, workspace: Arc<WorkspaceConfig>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id.to_owned(), (Instant::now(), workspace));
        }
    }

    pub(super) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
