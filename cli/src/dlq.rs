use std::path::Path;

use shared::streams::dlq::{self, Filter};

use crate::{CliResult, backend};

pub async fn list(config_path: &Path, filter: Filter) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open(&config).await?;
    for letter in dlq::list(&services, &filter).await? {
        println!("{}", serde_json::to_string(&letter)?);
    }
    Ok(())
}

pub async fn replay(config_path: &Path, filter: Filter) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open(&config).await?;
    let replayed = dlq::replay(&services, &filter).await?;
    println!(
        "{}",
        serde_json::json!({"status": "success", "replayed": replayed})
    );
    Ok(())
}
