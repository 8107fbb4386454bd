//! The deployment topology in one table: which Lambda function answers which
//! routes and consumes which queue, with which batch settings. `serve` runs
//! every row in one process; each `functions/*/src/main.rs` runs one row; a
//! test holds `template.yaml` against it (docs/architecture.md).

use std::time::Duration;

use http::Method;

/// The four Lambda functions of template.yaml.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    CohortIngest,
    MparticleIngest,
    StreamDispatch,
    Retry,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Self::CohortIngest,
        Self::MparticleIngest,
        Self::StreamDispatch,
        Self::Retry,
    ];

    /// The binary name (`functions/<name>`, template `BuildProperties.Binary`).
    pub fn name(self) -> &'static str {
        match self {
            Self::CohortIngest => "cohort-ingest",
            Self::MparticleIngest => "mparticle-ingest",
            Self::StreamDispatch => "stream-dispatch",
            Self::Retry => "retry",
        }
    }

    /// The routes API Gateway sends to this function.
    pub fn routes(self) -> impl Iterator<Item = Route> {
        Route::ALL.into_iter().filter(move |r| r.function() == self)
    }

    /// The queue this function's SQS event source consumes, if any.
    pub fn consumer(self) -> Option<Consumer> {
        CONSUMERS.iter().copied().find(|c| c.function == self)
    }

    /// Whether mParticle Firehose may invoke the function directly (not over
    /// HTTP, not from SQS): docs/interface/http.md "mParticle".
    pub fn accepts_direct_invocations(self) -> bool {
        self == Self::MparticleIngest
    }
}

/// Who a route trusts: the workspace credentials of docs/interface/auth.md,
/// checked by the auth layer before the route runs, the route itself
/// (Firehose account settings, Customer.io signatures), or no one (OpenDSR
/// discovery, which only describes the processor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Workspace,
    SelfAuthenticated,
    Public,
}

/// Every HTTP route (docs/interface/http.md). Paths use the `{param}` syntax
/// both axum and API Gateway understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    CohortWebhook,
    ListCreate,
    ListAdd,
    ListRemove,
    SegmentList,
    SegmentGet,
    SegmentMembers,
    MparticleFirehose,
    MparticleEvents,
    MparticleBulkEvents,
    UserGet,
    CustomerioReporting,
    UserDelete,
    UserExport,
    PrivacyRequestGet,
    SuppressionGet,
    SuppressionLift,
    OpendsrDiscovery,
    OpendsrCreate,
    OpendsrStatus,
    OpendsrCancel,
    OpendsrResults,
}

impl Route {
    pub const ALL: [Route; 22] = [
        Self::CohortWebhook,
        Self::ListCreate,
        Self::ListAdd,
        Self::ListRemove,
        Self::SegmentList,
        Self::SegmentGet,
        Self::SegmentMembers,
        Self::MparticleFirehose,
        Self::MparticleEvents,
        Self::MparticleBulkEvents,
        Self::UserGet,
        Self::CustomerioReporting,
        Self::UserDelete,
        Self::UserExport,
        Self::PrivacyRequestGet,
        Self::SuppressionGet,
        Self::SuppressionLift,
        Self::OpendsrDiscovery,
        Self::OpendsrCreate,
        Self::OpendsrStatus,
        Self::OpendsrCancel,
        Self::OpendsrResults,
    ];

    /// (method, path, function, access): the table.
    const fn row(self) -> (Method, &'static str, Function, Access) {
        use Access::*;
        use Function::*;
        match self {
            Self::CohortWebhook => (
                Method::POST,
                "/v1/amplitude/cohorts",
                CohortIngest,
                Workspace,
            ),
            Self::ListCreate => (Method::POST, "/v1/amplitude/lists", CohortIngest, Workspace),
            Self::ListAdd => (
                Method::POST,
                "/v1/amplitude/lists/{list_id}/add",
                CohortIngest,
                Workspace,
            ),
            Self::ListRemove => (
                Method::POST,
                "/v1/amplitude/lists/{list_id}/remove",
                CohortIngest,
                Workspace,
            ),
            Self::SegmentList => (Method::GET, "/v1/segments", CohortIngest, Workspace),
            Self::SegmentGet => (
                Method::GET,
                "/v1/segments/{segment_id}",
                CohortIngest,
                Workspace,
            ),
            Self::SegmentMembers => (
                Method::GET,
                "/v1/segments/{segment_id}/members",
                CohortIngest,
                Workspace,
            ),
            Self::MparticleFirehose => (
                Method::POST,
                "/v1/mparticle/firehose",
                MparticleIngest,
                SelfAuthenticated,
            ),
            Self::MparticleEvents => (
                Method::POST,
                "/v1/mparticle/events",
                MparticleIngest,
                Workspace,
            ),
            Self::MparticleBulkEvents => (
                Method::POST,
                "/v1/mparticle/bulkevents",
                MparticleIngest,
                Workspace,
            ),
            Self::UserGet => (Method::GET, "/v1/users/{uid}", MparticleIngest, Workspace),
            Self::CustomerioReporting => (
                Method::POST,
                "/v1/customerio/{workspace_id}/reporting",
                MparticleIngest,
                SelfAuthenticated,
            ),
            // Privacy (docs/interface/privacy.md) lives with the users
            // routes, and the privacy queue's consumer beside them.
            Self::UserDelete => (
                Method::DELETE,
                "/v1/users/{uid}",
                MparticleIngest,
                Workspace,
            ),
            Self::UserExport => (
                Method::GET,
                "/v1/users/{uid}/export",
                MparticleIngest,
                Workspace,
            ),
            Self::PrivacyRequestGet => (
                Method::GET,
                "/v1/privacy/requests/{request_id}",
                MparticleIngest,
                Workspace,
            ),
            Self::SuppressionGet => (
                Method::GET,
                "/v1/suppressions/{uid}",
                MparticleIngest,
                Workspace,
            ),
            Self::SuppressionLift => (
                Method::DELETE,
                "/v1/suppressions/{uid}",
                MparticleIngest,
                Workspace,
            ),
            Self::OpendsrDiscovery => (
                Method::GET,
                "/v1/opendsr/discovery",
                MparticleIngest,
                Public,
            ),
            Self::OpendsrCreate => (
                Method::POST,
                "/v1/opendsr/requests",
                MparticleIngest,
                Workspace,
            ),
            Self::OpendsrStatus => (
                Method::GET,
                "/v1/opendsr/requests/{request_id}",
                MparticleIngest,
                Workspace,
            ),
            Self::OpendsrCancel => (
                Method::DELETE,
                "/v1/opendsr/requests/{request_id}",
                MparticleIngest,
                Workspace,
            ),
            Self::OpendsrResults => (
                Method::GET,
                "/v1/opendsr/requests/{request_id}/results",
                MparticleIngest,
                Workspace,
            ),
        }
    }

    pub fn method(self) -> Method {
        self.row().0
    }
    pub fn path(self) -> &'static str {
        self.row().1
    }
    pub fn function(self) -> Function {
        self.row().2
    }
    pub fn access(self) -> Access {
        self.row().3
    }

    /// The request limit counted before the route runs. Firehose and
    /// Customer.io count their own once the request has proven its workspace.
    pub fn rate_limit(self) -> Option<RateLimit> {
        match self {
            Self::CohortWebhook | Self::ListCreate | Self::ListAdd | Self::ListRemove => {
                Some(RateLimit::Amplitude)
            }
            Self::MparticleEvents | Self::MparticleBulkEvents => Some(RateLimit::Mparticle),
            _ => None,
        }
    }
}

/// The per-workspace request limits a route counts against (a closed set;
/// counting lives in `crate::rate_limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimit {
    /// `amplitude_requests_per_second` (docs/interface/http.md "Rate limits").
    Amplitude,
    /// `mparticle_requests_per_minute`, both mParticle formats (same table).
    Mparticle,
    /// Customer.io reporting webhooks: their own counter, against the same
    /// per-minute number as mParticle (`mparticle_requests_per_minute`; both
    /// run on `mparticle-ingest`), so a burst of one never throttles the other.
    Customerio,
}

/// The four queues (docs/architecture.md "Queues"). Each carries one message
/// type (`crate::queue::QueueMessage`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum QueueName {
    /// Events for the streams: `EventsMessage`.
    Events,
    /// Failed stream batches waiting for their next attempt: `RetryMessage`.
    Retry,
    /// Stream batches and messages that will not be retried: `DeadLetter`.
    DeadLetter,
    /// Staged Amplitude cohort changes, applied after the ack: `StagedChanges`.
    Cohort,
    /// Privacy requests to carry out and OpenDSR callbacks: `PrivacyJob`.
    Privacy,
}

impl QueueName {
    pub const ALL: [QueueName; 5] = [
        Self::Events,
        Self::Retry,
        Self::DeadLetter,
        Self::Cohort,
        Self::Privacy,
    ];

    /// The name inside the embedded store, in logs and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Retry => "retry",
            Self::DeadLetter => "dead-letter",
            Self::Cohort => "cohort",
            Self::Privacy => "privacy",
        }
    }

    /// The environment variable holding the queue's URL on AWS.
    pub const fn url_env(self) -> &'static str {
        match self {
            Self::Events => "ENGAGE_BRIDGE_EVENTS_QUEUE_URL",
            Self::Retry => "ENGAGE_BRIDGE_RETRY_QUEUE_URL",
            Self::DeadLetter => "ENGAGE_BRIDGE_DEAD_LETTER_QUEUE_URL",
            Self::Cohort => "ENGAGE_BRIDGE_COHORT_QUEUE_URL",
            Self::Privacy => "ENGAGE_BRIDGE_PRIVACY_QUEUE_URL",
        }
    }

    /// The queue's logical id in template.yaml.
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::Events => "EventsQueue",
            Self::Retry => "RetryQueue",
            Self::DeadLetter => "DeadLetterQueue",
            Self::Cohort => "CohortQueue",
            Self::Privacy => "PrivacyQueue",
        }
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SQS event source: a function consuming a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub function: Function,
    pub queue: QueueName,
    /// Messages per handler call (the event source's `BatchSize`, ≤ 10).
    pub batch_size: usize,
    /// The event source's `MaximumBatchingWindowInSeconds` (0 = none).
    pub batching_window_secs: u32,
    /// Receives after which a message that still fails is dead-lettered by
    /// the consumer with its reason (docs/architecture.md "Poison messages").
    /// The template's redrive `maxReceiveCount` stays above it, as a last net.
    pub max_receives: u32,
    /// Whether the handler times its own redelivery (the retry schedule runs
    /// on visibility timeouts), so the embedded consumer must not extend it.
    pub handler_sets_visibility: bool,
    /// Messages `serve` handles at once (Lambda scales by instances instead).
    pub embedded_in_flight: usize,
}

impl Consumer {
    /// How long a received message stays hidden while its handler runs in
    /// `serve` (the embedded consumer extends it while the handler is busy).
    pub const EMBEDDED_VISIBILITY: Duration = Duration::from_secs(30);
}

pub const CONSUMERS: [Consumer; 4] = [
    Consumer {
        function: Function::StreamDispatch,
        queue: QueueName::Events,
        batch_size: 10,
        batching_window_secs: 1,
        max_receives: 10,
        handler_sets_visibility: false,
        embedded_in_flight: 32,
    },
    Consumer {
        function: Function::Retry,
        queue: QueueName::Retry,
        batch_size: 10,
        batching_window_secs: 0,
        // Every scheduled retry is a receive, and Lambda throttling adds more
        // (the attempt log, not this count, decides when a batch is dead).
        max_receives: 25,
        handler_sets_visibility: true,
        embedded_in_flight: 10,
    },
    Consumer {
        function: Function::CohortIngest,
        queue: QueueName::Cohort,
        batch_size: 10,
        batching_window_secs: 0,
        max_receives: 10,
        handler_sets_visibility: false,
        embedded_in_flight: 4,
    },
    // Erasures, access requests and OpenDSR callbacks. Callbacks time their
    // own retries (`RetryIn`), but an erasure may outlast the embedded
    // visibility, so `serve` keeps extending it while a job runs.
    Consumer {
        function: Function::MparticleIngest,
        queue: QueueName::Privacy,
        batch_size: 10,
        batching_window_secs: 0,
        max_receives: 25,
        handler_sets_visibility: false,
        embedded_in_flight: 4,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_unique_and_under_v1() {
        let mut seen = std::collections::HashSet::new();
        for route in Route::ALL {
            assert!(route.path().starts_with("/v1/"), "{route:?}");
            assert!(seen.insert((route.method(), route.path())), "{route:?}");
        }
    }

    #[test]
    fn each_queue_but_the_dead_letters_has_one_consumer() {
        for queue in QueueName::ALL {
            let consumers = CONSUMERS.iter().filter(|c| c.queue == queue).count();
            let expected = usize::from(queue != QueueName::DeadLetter);
            assert_eq!(consumers, expected, "{queue}");
        }
        for consumer in CONSUMERS {
            assert!((1..=10).contains(&consumer.batch_size));
        }
    }
}
