//! Applying a config file's workspaces (docs/interface/cli.md "workspaces
//! apply"): what changes, and (unless a dry run) doing it. Workspaces absent
//! from the file are deleted only when pruning.

use super::Workspaces;
use crate::config::WorkspaceConfig;
use crate::ports::StoreResult;

/// Whether workspaces absent from the file are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    Yes,
    No,
}

/// Whether a plan is carried out or only shown (a dry run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    Yes,
    DryRun,
}

/// What applying a set of workspaces changes, by workspace id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkspacePlan {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// Deleted (`--prune`).
    pub removed: Vec<String>,
    /// In the store but not in the file, and kept (no `--prune`).
    pub kept: Vec<String>,
}

impl Workspaces {
    /// Makes the stored workspaces exactly `workspaces` (the config file is
    /// the source of truth, as `serve --config` does): upserts each, deletes
    /// the others.
    pub async fn apply(&self, workspaces: &[WorkspaceConfig]) -> StoreResult<WorkspacePlan> {
        self.sync(workspaces, Prune::Yes, Apply::Yes).await
    }

    /// What applying `workspaces` changes, and (unless a dry run) does it.
    pub async fn sync(
        &self,
        workspaces: &[WorkspaceConfig],
        prune: Prune,
        apply: Apply,
    ) -> StoreResult<WorkspacePlan> {
        let mut plan = WorkspacePlan::default();
        for workspace in workspaces {
            let stored = self.store.get_workspace(&workspace.id).await?;
            let wanted = workspace.clone().into_stored();
            let list = match stored {
                None => &mut plan.added,
                Some(stored) if stored == wanted => &mut plan.unchanged,
                Some(_) => &mut plan.updated,
            };
            list.push(workspace.id.clone());
        }
        for id in self.store.list_workspace_ids().await? {
            if !workspaces.iter().any(|w| w.id == id) {
                match prune {
                    Prune::Yes => plan.removed.push(id),
                    Prune::No => plan.kept.push(id),
                }
            }
        }
        if apply == Apply::Yes {
            for workspace in workspaces {
                if !plan.unchanged.contains(&workspace.id) {
                    self.store.put_workspace(workspace).await?;
                }
            }
            for id in &plan.removed {
                self.store.delete_workspace(id).await?;
            }
            self.cache.clear();
        }
        Ok(plan)
    }
}
