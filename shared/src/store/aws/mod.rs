//! The AWS adapters: DynamoDB for state (a config table, KMS-encrypted, and
//! one state table keyed `pk`/`sk` with a TTL attribute) and SQS for queues.
//!
//! State-table items (all keys prefixed by workspace, so one workspace can
//! never address another's data):
//! | item | pk | sk |
//! |---|---|---|
//! | profile | `W#<ws>#P#<moengage_user_id>` | `PROFILE` |
//! | anonymous-id index | `W#<ws>#A#<anonymous id>` | `ANON` |
//! | segment | `W#<ws>#SEGMENTS` | `<segment id>` |
//! | membership | `W#<ws>#S#<segment id>` | `M#<moengage_user_id>` |
//! | member count, and changes not yet folded into it (counts.rs) | `W#<ws>#S#<segment id>` | `#COUNT`, `#PENDING#<uuid>` |
//! | idempotency key | `W#<ws>#I#<key>` | `IDEM` |
//! | rate counter | `RL#<ws>#<scope>#<window>` | `RL` |
//! | delivery attempts | `W#<ws>#R#<moe_request_id>` | `ATTEMPTS` |
//! | dead letter | `DEADLETTERS` | `<epoch ms, 15 digits>.<µs>#<uuid>` |
//! | suppression key | `W#<ws>#PRIVACY` | `KEY` |
//! | suppression | `W#<ws>#SUP` | `<keyed hash>` |
//! | privacy request | `W#<ws>#PR#<request id>` | `REQUEST` |
//! | access subject | `W#<ws>#ACCESS` | `<request id>` |
//! | stream state (paused, disabled) | `W#<ws>#STREAMS` | `<stream name>` |
//!
//! Stores written before 2026-12 also hold a reverse membership item per
//! member (`W#<ws>#P#<moengage_user_id>`, `S#<segment id>`); nothing reads
//! it any more (a user's segments come from the membership items).

mod attempts;
mod batch;
mod clients;
mod counts;
mod dead_letters;
mod delivery_log;
mod errors;
pub mod http;
mod idempotency;
mod memberships;
mod observe;
mod privacy;
mod profiles;
#[cfg(feature = "test-support")]
pub mod provision;
mod rounds;
mod segments;
pub mod settings;
mod sqs;
mod stream_states;
mod workspaces;

pub use clients::Clients;
#[cfg(feature = "test-support")]
pub use clients::RequestCounter;
pub use http::Trust;
pub use settings::sdk_config;
pub use sqs::SqsQueue;

use crate::ports::StoreError;
use crate::topology::QueueName;

/// Names of the deployed resources, from the same environment variables the
/// Lambda functions get from template.yaml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsResources {
    pub config_table: String,
    pub state_table: String,
    pub events_queue_url: String,
    pub retry_queue_url: String,
    pub dead_letter_queue_url: String,
    pub cohort_queue_url: String,
    pub privacy_queue_url: String,
}

impl AwsResources {
    /// The URL of a queue.
    pub fn queue_url(&self, name: QueueName) -> &str {
        match name {
            QueueName::Events => &self.events_queue_url,
            QueueName::Retry => &self.retry_queue_url,
            QueueName::DeadLetter => &self.dead_letter_queue_url,
            QueueName::Cohort => &self.cohort_queue_url,
            QueueName::Privacy => &self.privacy_queue_url,
        }
    }

    pub const ENV: [&'static str; 7] = [
        "ENGAGE_BRIDGE_CONFIG_TABLE",
        "ENGAGE_BRIDGE_STATE_TABLE",
        QueueName::Events.url_env(),
        QueueName::Retry.url_env(),
        QueueName::DeadLetter.url_env(),
        QueueName::Cohort.url_env(),
        QueueName::Privacy.url_env(),
    ];

    /// The variables the functions are configured by
    /// (`crate::runtime::AwsEnvironment`), with these resources' values.
    pub fn env_vars(&self) -> [(&'static str, &str); 7] {
        [
            (Self::ENV[0], self.config_table.as_str()),
            (Self::ENV[1], self.state_table.as_str()),
            (Self::ENV[2], self.events_queue_url.as_str()),
            (Self::ENV[3], self.retry_queue_url.as_str()),
            (Self::ENV[4], self.dead_letter_queue_url.as_str()),
            (Self::ENV[5], self.cohort_queue_url.as_str()),
            (Self::ENV[6], self.privacy_queue_url.as_str()),
        ]
    }
}

/// DynamoDB-backed state: implements every store port.
#[derive(Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    config_table: String,
    state_table: String,
    /// Dead letters expire (TTL) this long after they are kept
    /// (`[privacy] dead_letter_days`).
    dead_letter_ttl_s: i64,
}

impl DynamoStore {
    /// The store on these tables, through `client` ([`Clients`]).
    pub fn new(client: aws_sdk_dynamodb::Client, config_table: &str, state_table: &str) -> Self {
        Self {
            client,
            config_table: config_table.to_owned(),
            state_table: state_table.to_owned(),
            dead_letter_ttl_s: i64::from(crate::config::default_dead_letter_days()) * 86_400,
        }
    }

    /// Dead letters kept from now on expire after `days`.
    pub fn with_dead_letter_days(mut self, days: u32) -> Self {
        self.dead_letter_ttl_s = i64::from(days) * 86_400;
        self
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

/// A request the SDK's builder refuses (a required field left unset): a bug.
pub(crate) fn invalid_request(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("DynamoDB request: {e}"))
}

/// A failed DynamoDB call as one line (see errors.rs).
pub(crate) fn sdk_error<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    errors::store_error(errors::Service::DynamoDb, e)
}

/// A failed SQS call as one line (see errors.rs).
pub(crate) fn sqs_error<E>(e: aws_sdk_sqs::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    errors::store_error(errors::Service::Sqs, e)
}

pub(crate) mod keys {
    pub fn profile(ws: &str, id: &str) -> String {
        format!("W#{ws}#P#{id}")
    }
    pub const PROFILE_SK: &str = "PROFILE";
    pub fn anonymous(ws: &str, anon: &str) -> String {
        format!("W#{ws}#A#{anon}")
    }
    pub const ANON_SK: &str = "ANON";
    pub fn segments(ws: &str) -> String {
        format!("W#{ws}#SEGMENTS")
    }
    pub fn members(ws: &str, segment_id: &str) -> String {
        format!("W#{ws}#S#{segment_id}")
    }
    pub fn member_sk(id: &str) -> String {
        format!("M#{id}")
    }
    pub fn idempotency(ws: &str, key: &str) -> String {
        format!("W#{ws}#I#{key}")
    }
    pub const IDEM_SK: &str = "IDEM";
    pub fn attempts(ws: &str, request_id: &str) -> String {
        format!("W#{ws}#R#{request_id}")
    }
    pub const ATTEMPTS_SK: &str = "ATTEMPTS";
    pub fn streams(ws: &str) -> String {
        format!("W#{ws}#STREAMS")
    }
    /// The partition of every dead letter (sort key: `<epoch ms>.<µs>#<uuid>`).
    pub const DEAD_LETTERS: &str = "DEADLETTERS";
    pub fn workspace(id: &str) -> String {
        format!("WS#{id}")
    }
    pub fn privacy(ws: &str) -> String {
        format!("W#{ws}#PRIVACY")
    }
    pub const KEY_SK: &str = "KEY";
    pub fn suppressions(ws: &str) -> String {
        format!("W#{ws}#SUP")
    }
    pub fn privacy_request(ws: &str, id: &str) -> String {
        format!("W#{ws}#PR#{id}")
    }
    pub const REQUEST_SK: &str = "REQUEST";
    pub fn access_subjects(ws: &str) -> String {
        format!("W#{ws}#ACCESS")
    }
}
