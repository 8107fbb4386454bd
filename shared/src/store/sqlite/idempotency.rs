use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::domain::time::now_ms;
use crate::ports::{IdempotencyStore, StoreResult};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, workspace: &str, key: &str, ttl: Duration) -> StoreResult<bool> {
        let (workspace, key) = (workspace.to_owned(), key.to_owned());
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        self.run(move |conn| {
            // Claims a free key, or takes over an expired one; a live claim
            // leaves the row untouched (0 changes).
            let changed = conn.execute(
                "INSERT INTO idempotency (workspace, key, expires_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workspace, key) DO UPDATE SET expires_at_ms = excluded.expires_at_ms
                 WHERE idempotency.expires_at_ms <= ?4",
                params![workspace, key, expires, now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release(&self, workspace: &str, key: &str) -> StoreResult<()> {
        let (workspace, key) = (workspace.to_owned(), key.to_owned());
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM idempotency WHERE workspace = ?1 AND key = ?2",
                params![workspace, key],
            )?;
            Ok(())
        })
        .await
    }
}
