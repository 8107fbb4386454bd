use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use super::savepoint::Savepoint;
use crate::domain::FixedWindow;
use crate::domain::time::now_ms;
use crate::ports::{RateCounter, StoreResult};

#[async_trait]
impl RateCounter for SqliteStore {
    async fn add(
        &self,
        workspace: &str,
        scope: &str,
        window: &FixedWindow,
        requests: u64,
    ) -> StoreResult<u64> {
        let key = window.counter_key(workspace, scope);
        let expires = window.expires_at_ms();
        let now = now_ms();
        let requests = i64::try_from(requests).unwrap_or(i64::MAX);
        let total: i64 = self
            .run(move |conn| {
                let tx = Savepoint::open(conn)?;
                // Expired counters are garbage: drop them as we go (indexed).
                tx.prepare_cached("DELETE FROM rate_counters WHERE expires_at_ms < ?1")?
                    .execute([now])?;
                let total = tx
                    .prepare_cached(
                        "INSERT INTO rate_counters (key, count, expires_at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET count = count + excluded.count
                         RETURNING count",
                    )?
                    .query_row(params![key, requests, expires], |r| r.get(0))?;
                tx.commit()?;
                Ok(total)
            })
            .await?;
        Ok(total.max(0) as u64)
    }
}
