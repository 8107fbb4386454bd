//! The suppression list and each workspace's hash key.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{params, params_from_iter};

use crate::domain::{Page, PageRequest};
use crate::ports::StoreResult;
use crate::privacy::ports::SuppressionStore;
use crate::privacy::request::Suppression;
use crate::store::sqlite::{IN_CHUNK, SqliteStore, placeholders};

#[async_trait]
impl SuppressionStore for SqliteStore {
    async fn suppression_key(&self, workspace: &str) -> StoreResult<Vec<u8>> {
        let workspace = workspace.to_owned();
        let fresh: [u8; 32] = rand::random();
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO privacy_keys (workspace, key) VALUES (?1, ?2)
                 ON CONFLICT (workspace) DO NOTHING",
                params![workspace, fresh.to_vec()],
            )?;
            conn.query_row(
                "SELECT key FROM privacy_keys WHERE workspace = ?1",
                [workspace],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn suppress(&self, workspace: &str, hash: &str, since_ms: i64) -> StoreResult<i64> {
        let (workspace, hash) = (workspace.to_owned(), hash.to_owned());
        self.run(move |conn| {
            conn.query_row(
                "INSERT INTO suppressions (workspace, hash, since_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workspace, hash) DO UPDATE SET since_ms = suppressions.since_ms
                 RETURNING since_ms",
                params![workspace, hash, since_ms],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn lift(&self, workspace: &str, hash: &str) -> StoreResult<bool> {
        let (workspace, hash) = (workspace.to_owned(), hash.to_owned());
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM suppressions WHERE workspace = ?1 AND hash = ?2",
                params![workspace, hash],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn suppressed(
        &self,
        workspace: &str,
        hashes: &[String],
    ) -> StoreResult<HashMap<String, i64>> {
        let (workspace, hashes) = (workspace.to_owned(), hashes.to_vec());
        self.read(move |conn| {
            let mut out = HashMap::new();
            for chunk in hashes.chunks(IN_CHUNK) {
                let sql = format!(
                    "SELECT hash, since_ms FROM suppressions WHERE workspace = ? AND hash IN ({})",
                    placeholders(chunk.len())
                );
                let args =
                    std::iter::once(workspace.as_str()).chain(chunk.iter().map(String::as_str));
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
                for row in rows {
                    let (hash, since): (String, i64) = row?;
                    out.insert(hash, since);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn list_suppressions(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>> {
        let (workspace, page) = (workspace.to_owned(), page.clone());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT hash, since_ms FROM suppressions WHERE workspace = ?1 AND hash > ?2
                 ORDER BY hash LIMIT ?3",
            )?;
            let mut items = stmt
                .query_map(
                    params![
                        workspace,
                        page.after.unwrap_or_default(),
                        page.limit as i64 + 1
                    ],
                    |r| {
                        Ok(Suppression {
                            hash: r.get(0)?,
                            since_ms: r.get(1)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next_after = (items.len() > page.limit).then(|| {
                items.truncate(page.limit);
                items.last().map(|s| s.hash.clone())
            });
            Ok(Page {
                items,
                next_after: next_after.flatten(),
            })
        })
        .await
    }
}
