//! `engage-bridge validate` (docs/interface/cli.md "validate"): exit 0 when
//! the config is valid, 2 otherwise; warnings go to stderr and never change
//! the exit code.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::{CliResult, Failure};

pub fn run(config: Option<PathBuf>) -> CliResult {
    let path = config.unwrap_or_else(|| PathBuf::from("engage-bridge.toml"));
    if !path.is_file() {
        return Err(Failure::Usage(anyhow!(
            "no config file at {} (give one with --config)",
            path.display()
        )));
    }
    let config = shared::config::load_file(&path).map_err(|e| Failure::Usage(e.into()))?;
    for warning in shared::lint::warnings(&config) {
        eprintln!("warning: {warning}");
    }
    let streams: usize = config.workspaces.iter().map(|w| w.streams.len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "status": "success",
            "config": path.display().to_string(),
            "workspaces": config.workspaces.len(),
            "streams": streams,
        })
    );
    Ok(())
}
