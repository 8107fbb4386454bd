//! Opening the configured backend.

use std::path::Path;

use anyhow::Context;
use shared::config::{self, ConfigFile, StorageBackend};
use shared::runtime::Services;

use crate::Failure;

/// Loads and validates a config file; errors are usage errors (exit 2).
pub fn load_config(path: &Path) -> Result<ConfigFile, Failure> {
    config::load_file(path).map_err(|e| Failure::Usage(e.into()))
}

/// The services for the config's storage backend.
pub async fn open(config: &ConfigFile) -> Result<Services, Failure> {
    let schedule = config.retry.schedule_seconds.clone();
    match config.storage.backend {
        StorageBackend::Sqlite => {
            let path = Path::new(&config.storage.path);
            Services::sqlite(path, schedule)
                .with_context(|| format!("cannot open the embedded store at {}", path.display()))
                .map_err(Failure::Runtime)
        }
        StorageBackend::Aws => {
            let mut services = Services::aws_from_env()
                .await
                .map_err(|e| Failure::Usage(e.into()))?;
            // The config file's schedule wins over the environment's.
            services.retry_schedule = schedule;
            Ok(services)
        }
    }
}
