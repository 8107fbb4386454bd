//! Streams' operator states: one row per (workspace, stream) not in the
//! default state, its `StreamState` as JSON; a change reads and writes the
//! row in one immediate transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::savepoint::Savepoint;
use super::{SqliteStore, from_json, to_json};
use crate::domain::{StateChange, StreamState};
use crate::ports::{StoreResult, StreamStateStore};

#[async_trait]
impl StreamStateStore for SqliteStore {
    async fn stream_states(&self, workspace: &str) -> StoreResult<HashMap<String, StreamState>> {
        let workspace = workspace.to_owned();
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT stream, doc FROM stream_states WHERE workspace = ?1")?;
            let rows = stmt
                .query_map([workspace], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(stream, doc)| Ok((stream, from_json(&doc)?)))
                .collect()
        })
        .await
    }

    async fn change_stream_state(
        &self,
        workspace: &str,
        stream: &str,
        change: &StateChange,
    ) -> StoreResult<StreamState> {
        let (workspace, stream, change) = (workspace.to_owned(), stream.to_owned(), change.clone());
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let before: StreamState = tx
                .prepare_cached(
                    "SELECT doc FROM stream_states WHERE workspace = ?1 AND stream = ?2",
                )?
                .query_row(params![workspace, stream], |r| r.get::<_, String>(0))
                .optional()?
                .map(|doc| from_json(&doc))
                .transpose()?
                .unwrap_or_default();
            let after = before.clone().apply(&change);
            if after.is_active() {
                tx.execute(
                    "DELETE FROM stream_states WHERE workspace = ?1 AND stream = ?2",
                    params![workspace, stream],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO stream_states (workspace, stream, doc) VALUES (?1, ?2, ?3)
                     ON CONFLICT (workspace, stream) DO UPDATE SET doc = excluded.doc",
                    params![workspace, stream, to_json(&after)?],
                )?;
            }
            tx.commit()?;
            Ok(before)
        })
        .await
    }
}
