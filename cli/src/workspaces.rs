//! `workspaces apply` (docs/interface/cli.md "workspaces apply"): what
//! changes is printed; nothing is deleted without `--prune`; `--dry-run`
//! changes nothing (and creates no store).

use std::path::Path;

use shared::config::StorageBackend;
use shared::workspaces::{Apply, Prune, WorkspacePlan};

use crate::{CliResult, backend};

pub async fn apply(config_path: &Path, dry_run: bool, prune: bool) -> CliResult {
    let config = backend::load_config(config_path)?;
    let prune = if prune { Prune::Yes } else { Prune::No };
    let no_store_yet = config.storage.backend == StorageBackend::Sqlite
        && !Path::new(&config.storage.path).is_file();
    let plan = if dry_run && no_store_yet {
        WorkspacePlan {
            added: config.workspaces.iter().map(|w| w.id.clone()).collect(),
            ..WorkspacePlan::default()
        }
    } else {
        let services = backend::open(&config).await?;
        let apply = if dry_run { Apply::DryRun } else { Apply::Yes };
        services
            .workspaces
            .sync(&config.workspaces, prune, apply)
            .await?
    };
    if !plan.kept.is_empty() {
        eprintln!(
            "note: not in {}, kept (use --prune to delete them): {}",
            config_path.display(),
            plan.kept.join(", ")
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "status": "success",
            "dry_run": dry_run,
            "added": plan.added,
            "updated": plan.updated,
            "unchanged": plan.unchanged,
            "removed": plan.removed,
            "kept": plan.kept,
        })
    );
    Ok(())
}
