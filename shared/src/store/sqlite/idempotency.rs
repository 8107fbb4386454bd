use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::domain::time::now_ms;
use crate::ports::{IdempotencyStore, StoreResult};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn is_recorded(&self, workspace: &str, key: &str) -> StoreResult<bool> {
        let (workspace, key) = (workspace.to_owned(), key.to_owned());
        self.read(move |conn| {
            let expires: Option<i64> = conn
                .prepare_cached(
                    "SELECT expires_at_ms FROM idempotency WHERE workspace = ?1 AND key = ?2",
                )?
                .query_row(params![workspace, key], |r| r.get(0))
                .optional()?;
            Ok(expires.is_some_and(|t| t > now_ms()))
        })
        .await
    }

    async fn record(&self, workspace: &str, key: &str, ttl: Duration) -> StoreResult<()> {
        let (workspace, key) = (workspace.to_owned(), key.to_owned());
        let expires = now_ms() + ttl.as_millis() as i64;
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO idempotency (workspace, key, expires_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workspace, key) DO UPDATE
                 SET expires_at_ms = MAX(idempotency.expires_at_ms, excluded.expires_at_ms)",
            )?
            .execute(params![workspace, key, expires])?;
            Ok(())
        })
        .await
    }
}
