//! The configuration file (docs/interface/config.md). Every table rejects unknown keys;
//! defaults are the ones the interface shows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schedule::RetrySchedule;
use super::secret::Secret;
use super::stream::StreamConfig;

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// On SIGTERM, in-flight work gets this long; what is unfinished stays
    /// queued (docs/interface/cli.md "serve").
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            shutdown_grace_seconds: default_grace(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_grace() -> u32 {
    25
}

/// `auto`: text on a terminal, else JSON (docs/interface/observability.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter; `RUST_LOG` overrides it when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// Whether streams may point at loopback and private addresses
/// (docs/interface/streams.md "Destinations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrivateDestinations {
    Allow,
    Deny,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Default: `allow` on the sqlite backend, `deny` on aws.
    #[serde(default)]
    pub private_destinations: Option<PrivateDestinations>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Sqlite,
    Aws,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub backend: StorageBackend,
    #[serde(default = "default_db_path")]
    pub path: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::default(),
            path: default_db_path(),
        }
    }
}

pub fn default_db_path() -> String {
    ".engage-bridge/engage-bridge.db".into()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Delays before retries 1..n (docs/rules/retry.md), then dead letter.
    #[serde(default)]
    pub schedule_seconds: RetrySchedule,
}

/// The console and its delivery log (docs/interface/console.md).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Signs in as the operator (every workspace); unset: operator sign-in off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_token: Option<Secret>,
    /// A console session ends this long after sign-in.
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Delivery attempts are kept this long (swept on SQLite, TTL on DynamoDB).
    #[serde(default = "default_delivery_log_days")]
    pub delivery_log_days: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            operator_token: None,
            session_hours: default_session_hours(),
            delivery_log_days: default_delivery_log_days(),
        }
    }
}

fn default_session_hours() -> u32 {
    12
}
fn default_delivery_log_days() -> u32 {
    7
}

/// Which mParticle identity becomes the profile's uid (docs/rules/mparticle-mapping.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MparticleIdentity {
    #[default]
    CustomerId,
    Email,
    Mpid,
}

/// What happens to cohort users matching no profile: `drop` leaves them out,
/// `create` gives them a profile (docs/rules/member-matching.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCohortUsers {
    #[default]
    Drop,
    Create,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    pub id: String,
    /// One secret, or two while it rotates (docs/interface/auth.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<OneOrTwo<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<OneOrTwo<String>>,
    pub app_name: String,
    #[serde(default)]
    pub mparticle_identity: MparticleIdentity,
    #[serde(default = "default_anonymous_id_attribute")]
    pub anonymous_id_attribute: String,
    #[serde(default)]
    pub unknown_cohort_users: UnknownCohortUsers,
    #[serde(default)]
    pub allow_object_attributes: bool,
    #[serde(default)]
    pub commerce_promotions_and_impressions: bool,
    #[serde(default = "default_mparticle_rpm")]
    pub mparticle_requests_per_minute: u32,
    #[serde(default = "default_amplitude_rps")]
    pub amplitude_requests_per_second: u32,
    /// Customer.io reporting webhooks (docs/rules/customerio.md); absent: the
    /// route answers 404 for this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customerio: Option<CustomerioConfig>,
    #[serde(default)]
    pub streams: Vec<StreamConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerioConfig {
    /// The reporting webhook's signing key (`X-CIO-Signature`).
    pub signing_key: Secret,
    /// Amplitude `groups.account_id` of exported Customer.io events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Amplitude `groups.workspace_id` of exported Customer.io events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Keep message content (`content`, `subject`, `body`), cut to 1024 characters.
    #[serde(default)]
    pub body_content: bool,
    /// How far `X-CIO-Timestamp` may be from now (replays are refused).
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u32,
}

fn default_tolerance() -> u32 {
    300
}

/// A value or a list of one or two (secrets while they rotate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OneOrTwo<T>(pub Vec<T>);

impl<T> OneOrTwo<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<T: JsonSchema> JsonSchema for OneOrTwo<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OneOrTwo_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = generator.subschema_for::<T>();
        schemars::json_schema!({
            "oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 2}]
        })
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrTwo<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            One(T),
            Many(Vec<T>),
        }
        let values = match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a string or a list of one or two strings")
        })? {
            Form::One(value) => vec![value],
            Form::Many(values) => values,
        };
        if !(1..=2).contains(&values.len()) {
            return Err(serde::de::Error::custom(format!(
                "a list of one or two values is accepted, not {}",
                values.len()
            )));
        }
        Ok(Self(values))
    }
}

pub fn default_anonymous_id_attribute() -> String {
    "moe_anonymous_id".into()
}
fn default_mparticle_rpm() -> u32 {
    15_000
}
fn default_amplitude_rps() -> u32 {
    500
}
