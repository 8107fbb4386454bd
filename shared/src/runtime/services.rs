//! Everything a handler needs, behind the ports: built once per process (or
//! Lambda instance) and shared, so clients and connections are reused.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::config::secret::sha256_hex;
use crate::config::{PrivateDestinations, RetrySchedule, WorkspaceConfig};
use crate::domain::stream_state::hold_key;
use crate::error::RequestError;
use crate::outbound::HttpClient;
use crate::ports::{
    AttemptLog, DeadLetterStore, IdempotencyStore, ProfileStore, Queue, RateLimiter, SegmentStore,
    StoreError, StoreResult, StreamStateStore, WorkspaceStore,
};
use crate::queue::Queues;
use crate::store::aws::{AwsResources, DynamoStore, RequestCounter, SqsQueue};
use crate::store::sqlite::SqliteStore;

/// `[security] private_destinations` for the Lambda functions (the
/// template's `PrivateDestinations` parameter): `allow` or `deny` (default).
pub const PRIVATE_DESTINATIONS_ENV: &str = "ENGAGE_BRIDGE_PRIVATE_DESTINATIONS";

#[derive(Clone)]
pub struct Services {
    pub workspaces: Arc<dyn WorkspaceStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub segments: Arc<dyn SegmentStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub attempts: Arc<dyn AttemptLog>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    /// Streams' operator states (paused, disabled after a 410).
    pub stream_states: Arc<dyn StreamStateStore>,
    pub queues: Queues,
    /// Delays before retries 1..n, then dead letter (docs/rules/retry.md).
    pub retry_schedule: RetrySchedule,
    /// The pooled HTTP client for stream requests (connections are reused),
    /// with the destination policy it enforces, built on first use
    /// ([`Self::http`]): building it loads the TLS root certificates, which
    /// was most of every Lambda function's init, and only the stream
    /// functions send.
    http: Arc<OnceLock<HttpClient>>,
    /// The destination policy `http` is built with.
    destinations: PrivateDestinations,
    /// Per-stream concurrency and circuit breakers (this process's).
    pub gates: Arc<crate::outbound::gate::Gates>,
    /// DynamoDB and SQS request counters (AWS backend only), for benchmarks.
    aws_requests: Option<(RequestCounter, RequestCounter)>,
    workspace_cache: Arc<WorkspaceCache>,
    pub(super) stream_state_cache: Arc<super::stream_states::StreamStateCache>,
}

impl Services {
    /// The embedded backend: every port on one SQLite file.
    pub fn sqlite(path: &Path, retry_schedule: RetrySchedule) -> StoreResult<Self> {
        let store = SqliteStore::open(path)?;
        Ok(Self::assemble(
            Arc::new(store.clone()),
            Queues::open(|name| Arc::new(store.queue(name.as_str())) as Arc<dyn Queue>),
            retry_schedule,
            Duration::from_secs(2),
            PrivateDestinations::Allow,
        ))
    }

    /// The AWS backend: DynamoDB and SQS with shared clients.
    pub fn aws(
        sdk: &aws_config::SdkConfig,
        resources: &AwsResources,
        retry_schedule: RetrySchedule,
    ) -> Self {
        let store = DynamoStore::new(sdk, &resources.config_table, &resources.state_table);
        let dynamo_requests = store.requests();
        let (client, requests) = SqsQueue::client(sdk);
        let mut services = Self::assemble(
            Arc::new(store),
            Queues::open(|name| {
                Arc::new(SqsQueue::new(
                    client.clone(),
                    resources.queue_url(name),
                    requests.clone(),
                )) as Arc<dyn Queue>
            }),
            retry_schedule,
            Duration::from_secs(30),
            PrivateDestinations::Deny,
        );
        services.aws_requests = Some((dynamo_requests, requests));
        services
    }

    /// (DynamoDB, SQS) requests sent so far, on the AWS backend.
    pub fn aws_request_counts(&self) -> Option<(u64, u64)> {
        self.aws_requests
            .as_ref()
            .map(|(dynamo, sqs)| (dynamo.get(), sqs.get()))
    }

    /// The AWS backend configured from the environment (Lambda, or the CLI
    /// with `storage.backend = "aws"`).
    pub async fn aws_from_env() -> StoreResult<Self> {
        let resources = AwsResources::from_env()?;
        let schedule = match std::env::var("ENGAGE_BRIDGE_RETRY_SCHEDULE") {
            Ok(text) => RetrySchedule::parse(&text)
                .map_err(|e| StoreError::Backend(format!("ENGAGE_BRIDGE_RETRY_SCHEDULE: {e}")))?,
            Err(_) => RetrySchedule::default(),
        };
        let destinations = match std::env::var(PRIVATE_DESTINATIONS_ENV).as_deref() {
            Ok("allow") => PrivateDestinations::Allow,
            Ok("deny") | Err(_) => PrivateDestinations::Deny,
            Ok(other) => {
                return Err(StoreError::Backend(format!(
                    "{PRIVATE_DESTINATIONS_ENV}: expected allow or deny, found {other:?}"
                )));
            }
        };
        let sdk = crate::store::aws::sdk_config().await;
        Ok(Self::aws(&sdk, &resources, schedule).with_private_destinations(destinations))
    }

    /// Streams may (`Allow`) or may not (`Deny`) reach loopback and private
    /// addresses (docs/interface/streams.md "Destinations"). The backends
    /// start with their defaults: allow on sqlite, deny on aws.
    pub fn with_private_destinations(mut self, policy: PrivateDestinations) -> Self {
        self.destinations = policy;
        self.http = Arc::default();
        self
    }

    /// Stream requests through `http` (tests stand in for DNS with it).
    pub fn with_http(mut self, http: HttpClient) -> Self {
        self.http = Arc::new(OnceLock::from(http));
        self
    }

    fn assemble<S>(
        store: Arc<S>,
        queues: Queues,
        retry_schedule: RetrySchedule,
        cache_ttl: Duration,
        destinations: PrivateDestinations,
    ) -> Self
    where
        S: WorkspaceStore
            + ProfileStore
            + SegmentStore
            + IdempotencyStore
            + RateLimiter
            + AttemptLog
            + DeadLetterStore
            + StreamStateStore
            + 'static,
    {
        Self {
            workspaces: store.clone(),
            profiles: store.clone(),
            segments: store.clone(),
            idempotency: store.clone(),
            rate_limiter: store.clone(),
            attempts: store.clone(),
            stream_states: store.clone(),
            dead_letters: store,
            queues,
            retry_schedule,
            http: Arc::default(),
            destinations,
            gates: Arc::default(),
            aws_requests: None,
            workspace_cache: Arc::new(WorkspaceCache::new(cache_ttl)),
            stream_state_cache: Arc::new(super::stream_states::StreamStateCache::new(cache_ttl)),
        }
    }

    /// The client for stream requests.
    pub fn http(&self) -> &HttpClient {
        self.http.get_or_init(|| HttpClient::new(self.destinations))
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

    /// Drops this process's cached copy of a workspace's configuration.
    pub fn forget_workspace(&self, id: &str) {
        self.workspace_cache.forget(id);
    }

    /// The workspace whose id and secret these are (docs/interface/auth.md):
    /// the secret is compared as a SHA-256 digest in constant time, also for
    /// unknown ids, and a failure never says which part was wrong.
    pub async fn authenticate(
        &self,
        id: &str,
        secret: &str,
    ) -> Result<Arc<WorkspaceConfig>, RequestError> {
        let presented = sha256_hex(secret.as_bytes());
        let workspace = self.workspace(id).await?;
        // Every stored hash is compared (two while a secret rotates), and a
        // dummy one for unknown ids, so timing tells nothing.
        let dummy = ["0".repeat(64)];
        let expected = workspace
            .as_ref()
            .and_then(|w| w.secret_sha256.as_ref())
            .map_or(&dummy[..], |hashes| &hashes.0[..]);
        let equal = expected.iter().fold(subtle::Choice::from(0), |any, hash| {
            any | presented.as_bytes().ct_eq(hash.as_bytes())
        });
        match workspace {
            Some(workspace) if bool::from(equal) => Ok(workspace),
            _ => Err(RequestError::Unauthorized),
        }
    }

    /// Replaces the stored workspaces with `workspaces` (the config file is
    /// the source of truth, as `serve --config` does): upserts each, deletes
    /// the others.
    pub async fn apply_workspaces(
        &self,
        workspaces: &[WorkspaceConfig],
    ) -> StoreResult<WorkspacePlan> {
        self.sync_workspaces(workspaces, Prune::Yes, Apply::Yes)
            .await
    }

    /// What applying `workspaces` changes, and (unless a dry run) does it:
    /// workspaces absent from `workspaces` are deleted only with `prune`
    /// (docs/interface/cli.md "workspaces apply").
    pub async fn sync_workspaces(
        &self,
        workspaces: &[WorkspaceConfig],
        prune: Prune,
        apply: Apply,
    ) -> StoreResult<WorkspacePlan> {
        let mut plan = WorkspacePlan::default();
        let mut enabled = Vec::new();
        for workspace in workspaces {
            let stored = self.workspaces.get_workspace(&workspace.id).await?;
            let wanted = workspace.clone().into_stored();
            let list = match stored {
                None => &mut plan.added,
                Some(stored) if stored == wanted => &mut plan.unchanged,
                Some(stored) => {
                    enabled.extend(newly_enabled(&stored, &wanted));
                    &mut plan.updated
                }
            };
            list.push(workspace.id.clone());
        }
        for id in self.workspaces.list_workspace_ids().await? {
            if !workspaces.iter().any(|w| w.id == id) {
                match prune {
                    Prune::Yes => plan.removed.push(id),
                    Prune::No => plan.kept.push(id),
                }
            }
        }
        if apply == Apply::Yes {
            for workspace in workspaces {
                if !plan.unchanged.contains(&workspace.id) {
                    self.workspaces.put_workspace(workspace).await?;
                }
            }
            for id in &plan.removed {
                self.workspaces.delete_workspace(id).await?;
            }
            self.workspace_cache.clear();
            // Their waiting batches are due now, not at their next look
            // (docs/interface/streams.md "Pause, resume and 410 Gone").
            for (workspace, stream) in enabled {
                self.queues
                    .retry
                    .wake(&hold_key(&workspace, &stream))
                    .await?;
            }
        }
        Ok(plan)
    }
}

/// The streams `stored` has with `enabled = false` and `wanted` enabled.
fn newly_enabled(stored: &WorkspaceConfig, wanted: &WorkspaceConfig) -> Vec<(String, String)> {
    wanted
        .streams
        .iter()
        .filter(|s| s.enabled)
        .filter(|s| {
            stored
                .streams
                .iter()
                .any(|old| old.name == s.name && !old.enabled)
        })
        .map(|s| (wanted.id.clone(), s.name.clone()))
        .collect()
}

/// Whether workspaces absent from the file are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    Yes,
    No,
}

/// Whether a plan is carried out or only shown (a dry run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    Yes,
    DryRun,
}

/// What applying a set of workspaces changes, by workspace id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkspacePlan {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// Deleted (`--prune`).
    pub removed: Vec<String>,
    /// In the store but not in the file, and kept (no `--prune`).
    pub kept: Vec<String>,
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

    fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
