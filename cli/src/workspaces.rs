use std::path::Path;

use crate::{CliResult, backend};

pub async fn apply(config_path: &Path) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open(&config).await?;
    services.apply_workspaces(&config.workspaces).await?;
    let ids: Vec<&str> = config.workspaces.iter().map(|w| w.id.as_str()).collect();
    println!(
        "{}",
        serde_json::json!({"status": "success", "applied": ids})
    );
    Ok(())
}
