//! Test support: services on a fresh SQLite file or on fresh moto resources.
//!
//! The AWS side needs `moto_server` on 127.0.0.1; `scripts/test` starts it
//! and exports `ENGAGE_BRIDGE_TEST_MOTO_URL`. Without it the AWS tests fail
//! with a message saying so: they are never silently skipped.

pub mod receiver;

use std::path::PathBuf;

use shared::config::{self, WorkspaceConfig};
use shared::runtime::Services;
use shared::store::aws::{AwsResources, provision};

pub const MOTO_ENV: &str = "ENGAGE_BRIDGE_TEST_MOTO_URL";

/// A backend under test; keeps its temporary directory alive.
pub struct Backend {
    pub services: Services,
    pub kind: &'static str,
    pub resources: Option<AwsResources>,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Backend {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let services =
        Services::sqlite(&dir.path().join("store.db"), vec![1, 2, 3]).expect("open sqlite");
    Backend {
        services,
        kind: "sqlite",
        resources: None,
        _dir: Some(dir),
    }
}

pub fn moto_url() -> String {
    std::env::var(MOTO_ENV).unwrap_or_else(|_| {
        panic!(
            "{MOTO_ENV} is not set: the DynamoDB/SQS tests need moto_server. \
             Run the suite with scripts/test, which installs and starts it."
        )
    })
}

/// SDK config pointed at moto, with dummy credentials.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        // moto's threaded server can answer 500 under concurrent transactional
        // writes; retry those rather than fail a test on the emulator's account.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8))
        .load()
        .await
}

pub async fn aws() -> Backend {
    let sdk = moto_sdk_config().await;
    let resources = provision::create_resources(&sdk, &unique("eb"))
        .await
        .expect("create moto resources");
    Backend {
        services: Services::aws(&sdk, &resources, vec![1, 2, 3]),
        kind: "aws",
        resources: Some(resources),
        _dir: None,
    }
}

/// A valid workspace with the given id and secret.
pub fn workspace(id: &str, secret: &str) -> WorkspaceConfig {
    let text =
        format!("[[workspaces]]\nid = {id:?}\nsecret = {secret:?}\napp_name = \"App {id}\"\n");
    config::parse(&text)
        .expect("valid workspace")
        .workspaces
        .remove(0)
}

/// The repository root (for events/ samples).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// `Authorization: Basic` value for id:secret.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Runs the given async test bodies once against SQLite and once against moto.
#[macro_export]
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::sqlite()).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::aws().await).await
                }
            )*
        }
    };
}
