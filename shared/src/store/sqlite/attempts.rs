use async_trait::async_trait;
use rusqlite::params;

use super::savepoint::Savepoint;
use super::{SqliteStore, from_json, to_json};
use crate::domain::Attempt;
use crate::domain::time::now_ms;
use crate::ports::{ATTEMPT_LOG_TTL, AttemptLog, StoreResult};

#[async_trait]
impl AttemptLog for SqliteStore {
    async fn attempts(&self, workspace: &str, request_id: &str) -> StoreResult<Vec<Attempt>> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM delivery_attempts WHERE workspace = ?1 AND request_id = ?2
                 AND expires_at_ms > ?3 ORDER BY seq",
            )?;
            let docs = stmt
                .query_map(params![workspace, request_id, now_ms()], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            docs.iter().map(|d| from_json(d)).collect()
        })
        .await
    }

    async fn append_attempt(
        &self,
        workspace: &str,
        request_id: &str,
        expected_len: usize,
        attempt: &Attempt,
    ) -> StoreResult<bool> {
        let (workspace, request_id, attempt) =
            (workspace.to_owned(), request_id.to_owned(), attempt.clone());
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let now = now_ms();
            tx.execute(
                "DELETE FROM delivery_attempts WHERE expires_at_ms <= ?1",
                [now],
            )?;
            let len: usize = tx.query_row(
                "SELECT COUNT(*) FROM delivery_attempts WHERE workspace = ?1 AND request_id = ?2",
                params![workspace, request_id],
                |r| r.get(0),
            )?;
            if len != expected_len {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO delivery_attempts (workspace, request_id, seq, doc, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    workspace,
                    request_id,
                    len,
                    to_json(&attempt)?,
                    now + ATTEMPT_LOG_TTL.as_millis() as i64
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn clear_attempts(&self, workspace: &str, request_id: &str) -> StoreResult<()> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM delivery_attempts WHERE workspace = ?1 AND request_id = ?2",
                params![workspace, request_id],
            )?;
            Ok(())
        })
        .await
    }
}
