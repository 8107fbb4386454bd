//! `dlq list`, `dlq show` and `dlq replay` (docs/interface/cli.md "dlq").

use std::path::Path;

use shared::streams::dlq::{self, Filter};

use crate::{CliResult, Failure, backend};

pub async fn list(config_path: &Path, filter: Filter) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    for letter in dlq::list(&services, &filter).await? {
        println!("{}", serde_json::to_string(&letter)?);
    }
    for (workspace, stream) in dlq::paused_streams(&services, &filter).await? {
        eprintln!(
            "note: stream {stream:?} of workspace {workspace:?} is paused (enabled = false): \
             its batches wait on the retry queue, are not dead letters, and are sent once it is enabled again"
        );
    }
    let waiting = dlq::redriven_waiting(&services.queues).await?;
    if waiting > 0 {
        eprintln!(
            "note: about {waiting} message(s) that SQS moved to the redrive queue are not listed yet; \
             `engage-bridge dlq replay --dry-run` takes them in"
        );
    }
    Ok(())
}

pub async fn show(config_path: &Path, id: &str) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    match dlq::show(&services, id).await? {
        Some(letter) => {
            println!("{}", serde_json::to_string(&letter)?);
            Ok(())
        }
        None => Err(Failure::Runtime(anyhow::anyhow!(
            "no dead letter with id {id:?} (`engage-bridge dlq list` shows the ids)"
        ))),
    }
}

pub async fn replay(config_path: &Path, filter: Filter, dry_run: bool) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    let progress = |done: usize, total: usize| {
        if total > 100 {
            eprintln!("replayed {done} of {total}");
        }
    };
    let replayed = dlq::replay(&services, &filter, dry_run, &progress).await?;
    let summary = if dry_run {
        for letter in &replayed {
            println!("{}", serde_json::to_string(letter)?);
        }
        serde_json::json!({"status": "success", "dry_run": true, "would_replay": replayed.len()})
    } else {
        serde_json::json!({"status": "success", "replayed": replayed.len()})
    };
    println!("{summary}");
    Ok(())
}
