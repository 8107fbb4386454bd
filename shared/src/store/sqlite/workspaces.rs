use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_json, to_json};
use crate::config::WorkspaceConfig;
use crate::ports::{StoreResult, WorkspaceStore};

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn put_workspace(&self, workspace: &WorkspaceConfig) -> StoreResult<()> {
        let stored = workspace.clone().into_stored();
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO workspaces (id, doc) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                params![stored.id, to_json(&stored)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_workspace(&self, id: &str) -> StoreResult<Option<WorkspaceConfig>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM workspaces WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            doc.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn list_workspace_ids(&self) -> StoreResult<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id FROM workspaces ORDER BY id")?;
            let ids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(ids)
        })
        .await
    }

    async fn delete_workspace(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |conn| {
            conn.execute("DELETE FROM workspaces WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }
}
