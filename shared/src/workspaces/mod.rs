//! The workspace directory (docs/interface/auth.md, docs/interface/cli.md
//! "workspaces apply"): stored workspace configurations read through a
//! short per-process cache, the credentials check, and the plan that applies
//! a config file's workspaces.

mod apply;
mod auth;
mod cache;

pub use apply::{Apply, Prune, WorkspacePlan};

use std::sync::Arc;
use std::time::Duration;

use crate::config::WorkspaceConfig;
use crate::ports::{StoreResult, WorkspaceStore};

/// The workspaces of one store. It dereferences to the store itself for
/// plain (uncached) reads and writes.
#[derive(Clone)]
pub struct Workspaces {
    store: Arc<dyn WorkspaceStore>,
    cache: Arc<cache::Cache>,
}

impl Workspaces {
    /// `ttl`: how long a read is reused (hits only: a newly applied
    /// workspace is seen at once).
    pub fn new(store: Arc<dyn WorkspaceStore>, ttl: Duration) -> Self {
        Self {
            store,
            cache: Arc::new(cache::Cache::new(ttl)),
        }
    }

    /// A workspace's configuration, cached briefly per process.
    pub async fn get(&self, id: &str) -> StoreResult<Option<Arc<WorkspaceConfig>>> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(Some(hit));
        }
        let Some(found) = self.store.get_workspace(id).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.cache.put(id, found.clone());
        Ok(Some(found))
    }
}

impl std::ops::Deref for Workspaces {
    type Target = dyn WorkspaceStore;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}
