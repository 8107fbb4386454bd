use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use super::savepoint::Savepoint;
use crate::domain::time::now_ms;
use crate::ports::{RateDecision, RateLimiter, StoreResult};
use crate::store::window::FixedWindow;

#[async_trait]
impl RateLimiter for SqliteStore {
    async fn hit(
        &self,
        workspace: &str,
        scope: &str,
        window: Duration,
        limit: u64,
    ) -> StoreResult<RateDecision> {
        let window = FixedWindow::at(now_ms(), window);
        let key = window.counter_key(workspace, scope);
        let expires = window.expires_at_ms();
        let now = now_ms();
        let count: u64 = self
            .run(move |conn| {
                let tx = Savepoint::open(conn)?;
                // Expired counters are garbage: drop them as we go (indexed).
                tx.prepare_cached("DELETE FROM rate_counters WHERE expires_at_ms < ?1")?
                    .execute([now])?;
                let count = tx
                    .prepare_cached(
                        "INSERT INTO rate_counters (key, count, expires_at_ms) VALUES (?1, 1, ?2)
                         ON CONFLICT (key) DO UPDATE SET count = count + 1
                         RETURNING count",
                    )?
                    .query_row(params![key, expires], |r| r.get(0))?;
                tx.commit()?;
                Ok(count)
            })
            .await?;
        Ok(window.decide(count, limit))
    }
}
