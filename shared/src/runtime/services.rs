//! Everything a handler needs, behind the ports: built once per process (or
//! Lambda instance) and shared, so clients and connections are reused.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{WorkspaceConfig, default_schedule};
use crate::ports::{
    IdempotencyStore, ProfileStore, Queue, RateLimiter, SegmentStore, StoreError, StoreResult,
    WorkspaceStore,
};
use crate::store::aws::{AwsResources, DynamoStore, RequestCounter, SqsQueue};
use crate::store::sqlite::SqliteStore;

/// The four queues (interface §4; `cohort` stages large cohort requests).
#[derive(Clone)]
pub struct Queues {
    pub events: Arc<dyn Queue>,
    pub retry: Arc<dyn Queue>,
    pub dead_letter: Arc<dyn Queue>,
    pub cohort: Arc<dyn Queue>,
}

/// Queue names inside the embedded database.
pub mod queue_names {
    pub const EVENTS: &str = "events";
    pub const RETRY: &str = "retry";
    pub const DEAD_LETTER: &str = "dead-letter";
    pub const COHORT: &str = "cohort";
}

#[derive(Clone)]
pub struct Services {
    pub workspaces: Arc<dyn WorkspaceStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub segments: Arc<dyn SegmentStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub queues: Queues,
    /// Delays before retries 1..n, then dead letter (interface §4, §7).
    pub retry_schedule: Vec<u32>,
    workspace_cache: Arc<WorkspaceCache>,
}

impl Services {
    /// The embedded backend: every port on one SQLite file.
    pub fn sqlite(path: &Path, retry_schedule: Vec<u32>) -> StoreResult<Self> {
        let store = SqliteStore::open(path)?;
        let queue = |name| Arc::new(store.queue(name)) as Arc<dyn Queue>;
        Ok(Self::assemble(
            Arc::new(store.clone()),
            Queues {
                events: queue(queue_names::EVENTS),
                retry: queue(queue_names::RETRY),
                dead_letter: queue(queue_names::DEAD_LETTER),
                cohort: queue(queue_names::COHORT),
            },
            retry_schedule,
            Duration::from_secs(2),
        ))
    }

    /// The AWS backend: DynamoDB and SQS with shared clients.
    pub fn aws(
        sdk: &aws_config::SdkConfig,
        resources: &AwsResources,
        retry_schedule: Vec<u32>,
    ) -> Self {
        Self::aws_counted(sdk, resources, retry_schedule).0
    }

    /// [`Services::aws`], plus the counters of the requests its DynamoDB and
    /// SQS clients send (benchmarks report them).
    pub fn aws_counted(
        sdk: &aws_config::SdkConfig,
        resources: &AwsResources,
        retry_schedule: Vec<u32>,
    ) -> (Self, AwsRequestCounts) {
        let store = DynamoStore::new(sdk, &resources.config_table, &resources.state_table);
        let (client, requests) = SqsQueue::client(sdk);
        let counts = AwsRequestCounts {
            store: store.clone(),
            sqs: requests.clone(),
        };
        let queue = |url: &str| {
            Arc::new(SqsQueue::new(client.clone(), url, requests.clone())) as Arc<dyn Queue>
        };
        let services = Self::assemble(
            Arc::new(store),
            Queues {
                events: queue(&resources.events_queue_url),
                retry: queue(&resources.retry_queue_url),
                dead_letter: queue(&resources.dead_letter_queue_url),
                cohort: queue(&resources.cohort_queue_url),
            },
            retry_schedule,
            Duration::from_secs(30),
        );
        (services, counts)
    }

    /// The AWS backend configured from the environment (Lambda, or the CLI
    /// with `storage.backend = "aws"`).
    pub async fn aws_from_env() -> StoreResult<Self> {
        let resources = AwsResources::from_env()?;
        let schedule = match std::env::var("ENGAGE_BRIDGE_RETRY_SCHEDULE") {
            Ok(text) => parse_schedule(&text)?,
            Err(_) => default_schedule(),
        };
        let sdk = crate::store::aws::sdk_config().await;
        Ok(Self::aws(&sdk, &resources, schedule))
    }

    fn assemble<S>(
        store: Arc<S>,
        queues: Queues,
        retry_schedule: Vec<u32>,
        cache_ttl: Duration,
    ) -> Self
    where
        S: WorkspaceStore + ProfileStore + SegmentStore + IdempotencyStore + RateLimiter + 'static,
    {
        Self {
            workspaces: store.clone(),
            profiles: store.clone(),
            segments: store.clone(),
            idempotency: store.clone(),
            rate_limiter: store,
            queues,
            retry_schedule,
            workspace_cache: Arc::new(WorkspaceCache::new(cache_ttl)),
        }
    }

    /// A workspace's configuration, cached briefly per process (hits only:
    /// a newly applied workspace is seen at once).
    pub async fn workspace(&self, id: &str) -> StoreResult<Option<Arc<WorkspaceConfig>>> {
        if let Some(hit) = self.workspace_cache.get(id) {
            return Ok(Some(hit));
        }
        let Some(found) = self.workspaces.get_workspace(id).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.workspace_cache.put(id, found.clone());
        Ok(Some(found))
    }

    /// Replaces the stored workspaces with `workspaces` (the config file is
    /// the source of truth): upserts each, deletes the others.
    pub async fn apply_workspaces(&self, workspaces: &[WorkspaceConfig]) -> StoreResult<()> {
        for workspace in workspaces {
            self.workspaces.put_workspace(workspace).await?;
        }
        for id in self.workspaces.list_workspace_ids().await? {
            if !workspaces.iter().any(|w| w.id == id) {
                self.workspaces.delete_workspace(&id).await?;
            }
        }
        self.workspace_cache.clear();
        Ok(())
    }
}

/// Requests sent so far by one [`Services::aws_counted`] backend.
#[derive(Clone)]
pub struct AwsRequestCounts {
    store: DynamoStore,
    sqs: RequestCounter,
}

impl AwsRequestCounts {
    pub fn dynamodb(&self) -> u64 {
        self.store.request_count()
    }

    pub fn sqs(&self) -> u64 {
        self.sqs.get()
    }
}

/// "30,60,120" → [30, 60, 120], each 1..=900.
pub fn parse_schedule(text: &str) -> StoreResult<Vec<u32>> {
    let schedule = text
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=900).contains(d))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|s| !s.is_empty());
    schedule.ok_or_else(|| {
        StoreError::Backend(format!(
            "ENGAGE_BRIDGE_RETRY_SCHEDULE must be comma-separated seconds in 1..900, got {text:?}"
        ))
    })
}

struct WorkspaceCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<WorkspaceConfig>)>>,
}

impl WorkspaceCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<WorkspaceConfig>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, w)| w.clone())
    }

    fn put(&self, id: &str, workspace: Arc<WorkspaceConfig>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id.to_owned(), (Instant::now(), workspace));
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_reject_out_of_range() {
        assert_eq!(parse_schedule("30, 60,120").unwrap(), vec![30, 60, 120]);
        assert!(parse_schedule("30,901").is_err());
        assert!(parse_schedule("").is_err());
        assert!(parse_schedule("0").is_err());
    }
}
