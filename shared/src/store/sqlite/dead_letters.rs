//! Dead letters: one row each, read in the order they were kept.

use async_trait::async_trait;
use rusqlite::{params, params_from_iter};

use super::savepoint::Savepoint;
use super::{SqliteStore, from_json, placeholders, to_json};
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::domain::{DeadLetter, Page, PageRequest};
use crate::ports::{DeadLetterStore, KeptDeadLetter, StoreResult};

#[async_trait]
impl DeadLetterStore for SqliteStore {
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<Vec<String>> {
        if letters.is_empty() {
            return Ok(Vec::new());
        }
        let docs = letters
            .iter()
            .map(to_json)
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(super::map_sqlite_error)?;
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let mut ids = Vec::with_capacity(docs.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO dead_letters (id, at_ms, doc) VALUES (?1, ?2, ?3)",
                )?;
                for doc in &docs {
                    let id = random_id();
                    insert.execute(params![id, now_ms(), doc])?;
                    ids.push(id);
                }
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    async fn list_dead_letters(&self, page: &PageRequest) -> StoreResult<Page<KeptDeadLetter>> {
        let after: i64 = page
            .after
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let limit = page.limit;
        let rows = self
            .read(move |conn| {
                let mut query = conn.prepare_cached(
                    "SELECT seq, id, at_ms, doc FROM dead_letters WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                query
                    .query_map(params![after, limit as i64 + 1], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut last_seq = None;
        for (seq, id, at_ms, doc) in rows.into_iter().take(limit) {
            let letter = from_json(&doc).map_err(super::map_sqlite_error)?;
            items.push(KeptDeadLetter { id, at_ms, letter });
            last_seq = Some(seq);
        }
        Ok(Page {
            items,
            next_after: more.then(|| last_seq.map(|s| s.to_string())).flatten(),
        })
    }

    async fn remove_dead_letters(&self, ids: &[String]) -> StoreResult<()> {
        let ids = ids.to_vec();
        self.run(move |conn| {
            for chunk in ids.chunks(super::IN_CHUNK) {
                let sql = format!(
                    "DELETE FROM dead_letters WHERE id IN ({})",
                    placeholders(chunk.len())
                );
                conn.execute(&sql, params_from_iter(chunk))?;
            }
            Ok(())
        })
        .await
    }
}
