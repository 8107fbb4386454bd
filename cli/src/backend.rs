//! Opening the configured backend.

use std::path::Path;

use anyhow::Context;
use shared::config::{self, ConfigFile, StorageBackend};
use shared::privacy::settings::PrivacySettings;
use shared::runtime::Services;

use crate::Failure;

/// Loads and validates a config file (errors are usage errors, exit 2), and
/// starts logging as its `[logging]` says.
pub fn load_config(path: &Path) -> Result<ConfigFile, Failure> {
    let config = config::load_file(path).map_err(|e| Failure::Usage(e.into()))?;
    crate::output::init(&config);
    Ok(config)
}

/// The services of a store that must exist already: commands that only read
/// or feed a store never create one (a typo in `storage.path` is an error
/// naming the path, exit 2, not an empty new store).
pub async fn open_existing(config: &ConfigFile) -> Result<Services, Failure> {
    if config.storage.backend == StorageBackend::Sqlite {
        let path = Path::new(&config.storage.path);
        if !path.is_file() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "no engage-bridge store at {} (storage.path; `serve` or `workspaces apply` creates it)",
                path.display()
            )));
        }
    }
    open(config).await
}

/// The AWS settings an operator's machine or server has: aws-config's
/// chain (environment, profiles, SSO, web identity, container and instance
/// credentials), with engage-bridge's client, retries and timeouts; the
/// client trusts the platform's roots too (docs/architecture.md "TLS and
/// trust").
#[cfg(feature = "aws")]
async fn aws_sdk_config() -> aws_config::SdkConfig {
    use shared::store::aws::{Trust, http, settings};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http::client(Trust::AmazonAndPlatform))
        .retry_config(settings::retry_config())
        .timeout_config(settings::timeout_config())
        .load()
        .await
}

/// The services for the config's storage backend.
pub async fn open(config: &ConfigFile) -> Result<Services, Failure> {
    let schedule = config.retry.schedule_seconds.clone();
    let services = match config.storage.backend {
        StorageBackend::Sqlite => {
            let path = Path::new(&config.storage.path);
            Services::sqlite(path, schedule)
                .with_context(|| format!("cannot open the embedded store at {}", path.display()))
                .map_err(Failure::Runtime)?
        }
        #[cfg(feature = "aws")]
        StorageBackend::Aws => {
            let mut environment = shared::runtime::AwsEnvironment::from_env()
                .map_err(|e| Failure::Usage(e.into()))?;
            // The config file's retention wins over the environment's.
            environment.dead_letter_days = config.privacy.dead_letter_days;
            // The config file's schedule wins over the environment's.
            Services::aws_from(&environment, &aws_sdk_config().await).with_retry_schedule(schedule)
        }
        #[cfg(not(feature = "aws"))]
        StorageBackend::Aws => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "storage.backend = \"aws\" needs an engage-bridge built with the aws feature \
                 (this one is embedded-only)"
            )));
        }
    };
    // So do its destination policy (docs/interface/config.md "security"),
    // the delivery log's retention and its privacy settings
    // (docs/interface/privacy.md).
    let privacy = PrivacySettings::from_config(config).map_err(|e| Failure::Usage(e.into()))?;
    Ok(services
        .with_private_destinations(config.private_destinations())
        .with_delivery_log_days(config.console.delivery_log_days)
        .with_privacy(privacy))
}
