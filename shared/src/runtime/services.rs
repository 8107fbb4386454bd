//! Wiring: the clients, stores and queues a process shares, behind the
//! ports, built once per process (or Lambda instance) so that clients and
//! connections are reused. Environment parsing is `super::environment`'s,
//! the workspace directory (cache, credentials, apply plan) `crate::workspaces`'.

use std::sync::{Arc, OnceLock};

use crate::config::{PrivateDestinations, RetrySchedule};
use crate::delivery_log::{DEFAULT_DAYS, DeliveryLogHandle};
use crate::outbound::HttpClient;
use crate::ports::{
    AttemptLog, DeadLetterStore, DeliveryLog, IdempotencyStore, IngestWriter, ProfileStore,
    RateCounter, SegmentStore, StreamStateStore,
};
use crate::privacy::PrivacyServices;
use crate::privacy::ports::{PrivacyRequestStore, SuppressionStore, UserDataStore};
use crate::privacy::settings::PrivacySettings;
use crate::queue::Queues;
use crate::rate_limit::RateLimiter;
use crate::workspaces::Workspaces;

/// What a process shares, behind one `Arc`: a request's layers and
/// extractors each take the router's state by value, and cloning every port's
/// `Arc` of a wide struct for each of them was ≈ 2 % of serve's CPU flat out
/// (BENCHMARKS.md "Issue 22, fourteenth session"). Reads go through `Deref`;
/// the `with_*` builders change a copy only while the value is shared.
#[derive(Clone)]
pub struct Services(Arc<ServiceSet>);

impl std::ops::Deref for Services {
    type Target = ServiceSet;
    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

/// The ports, queues and clients of [`Services`].
#[derive(Clone)]
pub struct ServiceSet {
    pub workspaces: Workspaces,
    pub profiles: Arc<dyn ProfileStore>,
    /// An ingest request's profile updates and events, written together
    /// where the store can (`ports::IngestWriter`).
    pub ingest: Arc<dyn IngestWriter>,
    pub segments: Arc<dyn SegmentStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rate_limiter: Arc<RateLimiter>,
    pub attempts: Arc<dyn AttemptLog>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    /// Erasure, suppression, access, OpenDSR (docs/interface/privacy.md).
    pub privacy: PrivacyServices,
    /// Every delivery attempt, for the console (docs/interface/console.md).
    pub delivery_log: DeliveryLogHandle,
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
    pub(super) stream_state_cache: Arc<super::stream_states::StreamStateCache>,
    /// DynamoDB and SQS request counters (AWS backend), for benchmarks.
    #[cfg(feature = "test-support")]
    aws_requests: Option<(
        crate::store::aws::RequestCounter,
        crate::store::aws::RequestCounter,
    )>,
}

impl Services {
    /// The embedded backend: every port on one SQLite file.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(
        path: &std::path::Path,
        retry_schedule: RetrySchedule,
    ) -> crate::ports::StoreResult<Self> {
        use crate::ports::Queue;
        use crate::store::sqlite::{SqliteDeliveryLog, SqliteIngest, SqliteStore};
        use crate::topology::QueueName;
        let store = SqliteStore::open(path)?;
        let log = SqliteDeliveryLog::open_beside(path)?;
        let mut services = ServiceSet::assemble(
            Arc::new(store.clone()),
            Arc::new(log),
            Queues::open(|name| Arc::new(store.queue(name.as_str())) as Arc<dyn Queue>),
            retry_schedule,
            std::time::Duration::from_secs(2),
            PrivateDestinations::Allow,
        );
        let events = store.queue(QueueName::Events.as_str());
        services.ingest = Arc::new(SqliteIngest::new(store, events));
        Ok(Self(Arc::new(services)))
    }

    /// The AWS backend: DynamoDB and SQS with shared clients.
    #[cfg(feature = "aws")]
    pub fn aws(
        sdk: &aws_types::SdkConfig,
        resources: &crate::store::aws::AwsResources,
        retry_schedule: RetrySchedule,
    ) -> Self {
        Self::aws_keeping_dead_letters(
            sdk,
            resources,
            retry_schedule,
            crate::config::default_dead_letter_days(),
        )
    }

    /// The AWS backend, its dead letters expiring after `dead_letter_days`
    /// (docs/interface/privacy.md "Retention").
    #[cfg(feature = "aws")]
    pub fn aws_keeping_dead_letters(
        sdk: &aws_types::SdkConfig,
        resources: &crate::store::aws::AwsResources,
        retry_schedule: RetrySchedule,
        dead_letter_days: u32,
    ) -> Self {
        use crate::ports::Queue;
        use crate::store::aws::{Clients, DynamoStore, SqsQueue};
        let clients = Clients::new(sdk);
        let store = DynamoStore::new(
            clients.dynamodb.clone(),
            &resources.config_table,
            &resources.state_table,
        )
        .with_dead_letter_days(dead_letter_days);
        let store = Arc::new(store);
        #[allow(unused_mut)]
        let mut services = ServiceSet::assemble(
            store.clone(),
            store,
            Queues::open(|name| {
                Arc::new(SqsQueue::new(
                    clients.sqs.clone(),
                    resources.queue_url(name),
                )) as Arc<dyn Queue>
            }),
            retry_schedule,
            std::time::Duration::from_secs(30),
            PrivateDestinations::Deny,
        );
        #[cfg(feature = "test-support")]
        {
            services.aws_requests = Some(clients.requests.clone());
        }
        Self(Arc::new(services))
    }

    /// The AWS backend as `environment` describes it, over `sdk` (a
    /// function's: `store::aws::sdk_config`; the CLI's: aws-config's chain).
    #[cfg(feature = "aws")]
    pub fn aws_from(environment: &super::AwsEnvironment, sdk: &aws_types::SdkConfig) -> Self {
        Self::aws_keeping_dead_letters(
            sdk,
            &environment.resources,
            environment.retry_schedule.clone(),
            environment.dead_letter_days,
        )
        .with_private_destinations(environment.private_destinations)
        .with_delivery_log_days(environment.delivery_log_days)
    }

    /// The privacy settings (`[privacy]`, `[server] public_url`).
    pub fn with_privacy(mut self, settings: PrivacySettings) -> Self {
        self.set().privacy.settings = Arc::new(settings);
        self
    }

    /// Delays before retries 1..n, then dead letter (a config file's
    /// schedule wins over the environment's).
    pub fn with_retry_schedule(mut self, schedule: RetrySchedule) -> Self {
        self.set().retry_schedule = schedule;
        self
    }

    /// These services with `change` applied to a copy (tests put a failing
    /// port in one's place).
    #[cfg(feature = "test-support")]
    pub fn changed(mut self, change: impl FnOnce(&mut ServiceSet)) -> Self {
        change(self.set());
        self
    }

    /// The set to change: this value's own, copied first if it is shared.
    fn set(&mut self) -> &mut ServiceSet {
        Arc::make_mut(&mut self.0)
    }

    /// (DynamoDB, SQS) requests sent so far, on the AWS backend.
    #[cfg(feature = "test-support")]
    pub fn aws_request_counts(&self) -> Option<(u64, u64)> {
        self.aws_requests
            .as_ref()
            .map(|(dynamo, sqs)| (dynamo.get(), sqs.get()))
    }

    /// Streams may (`Allow`) or may not (`Deny`) reach loopback and private
    /// addresses (docs/interface/streams.md "Destinations"). The backends
    /// start with their defaults: allow on sqlite, deny on aws.
    pub fn with_private_destinations(mut self, policy: PrivateDestinations) -> Self {
        let set = self.set();
        set.destinations = policy;
        set.http = Arc::default();
        self
    }

    /// Delivery attempts are kept `days` (`[console] delivery_log_days`).
    pub fn with_delivery_log_days(mut self, days: u32) -> Self {
        let set = self.set();
        set.delivery_log = DeliveryLogHandle::new(set.delivery_log.store.clone(), days);
        self
    }

    /// Stream requests through `http` (tests stand in for DNS with it).
    #[cfg(feature = "test-support")]
    pub fn with_http(mut self, http: HttpClient) -> Self {
        self.set().http = Arc::new(OnceLock::from(http));
        self
    }

    /// The client for stream requests.
    pub fn http(&self) -> &HttpClient {
        self.http.get_or_init(|| HttpClient::new(self.destinations))
    }
}

impl ServiceSet {
    #[cfg(any(feature = "sqlite", feature = "aws"))]
    fn assemble<S>(
        store: Arc<S>,
        delivery_log: Arc<dyn DeliveryLog>,
        queues: Queues,
        retry_schedule: RetrySchedule,
        cache_ttl: std::time::Duration,
        destinations: PrivateDestinations,
    ) -> Self
    where
        S: crate::ports::WorkspaceStore
            + ProfileStore
            + SegmentStore
            + IdempotencyStore
            + RateCounter
            + AttemptLog
            + DeadLetterStore
            + SuppressionStore
            + PrivacyRequestStore
            + UserDataStore
            + StreamStateStore
            + 'static,
    {
        Self {
            ingest: Arc::new(crate::store::in_order::InOrder::new(
                store.clone(),
                queues.events.raw().clone(),
            )),
            privacy: PrivacyServices::new(store.clone()),
            workspaces: Workspaces::new(store.clone(), cache_ttl),
            profiles: store.clone(),
            segments: store.clone(),
            idempotency: store.clone(),
            rate_limiter: Arc::new(RateLimiter::new(store.clone())),
            attempts: store.clone(),
            stream_states: store.clone(),
            dead_letters: store,
            delivery_log: DeliveryLogHandle::new(delivery_log, DEFAULT_DAYS),
            queues,
            retry_schedule,
            http: Arc::default(),
            destinations,
            gates: Arc::default(),
            stream_state_cache: Arc::new(super::stream_states::StreamStateCache::new(cache_ttl)),
            #[cfg(feature = "test-support")]
            aws_requests: None,
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    /// A request's layers and extractors each clone the router's state: one
    /// reference count, not one per port.
    fn a_clone_is_one_reference_count() {
        assert_eq!(
            std::mem::size_of::<Services>(),
            std::mem::size_of::<Arc<ServiceSet>>()
        );
    }

    #[test]
    /// A builder changes its own value: services cloned before keep theirs.
    fn a_builder_leaves_earlier_clones_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let services =
            Services::sqlite(&dir.path().join("store.db"), RetrySchedule::default()).unwrap();
        let shorter = RetrySchedule::try_from(vec![1, 2]).unwrap();
        let changed = services.clone().with_retry_schedule(shorter.clone());
        assert_eq!(changed.retry_schedule, shorter);
        assert_eq!(services.retry_schedule, RetrySchedule::default());
        // Unchanged, a clone is the same set.
        assert!(Arc::ptr_eq(&services.0, &services.clone().0));
    }
}
