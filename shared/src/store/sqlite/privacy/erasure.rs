//! Erasing a user's rows, rewriting queued bodies, and compaction.

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, params};

use crate::domain::DeadLetter;
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::{Rewrite, UserDataStore};
use crate::privacy::request::{RequestKind, RequestStatus};
use crate::store::sqlite::queue::{pack_body, read_body};
use crate::store::sqlite::savepoint::Savepoint;
use crate::store::sqlite::scrub::compact;
use crate::store::sqlite::{SqliteStore, from_json};
use crate::topology::QueueName;

/// Queued bodies read per round when rewriting a queue: memory stays
/// bounded however long the queue.
const REWRITE_PAGE: i64 = 200;
/// How long after an erasure the sweep keeps compacting: the erasure's own
/// messages (its job, its `User Deleted` event) go after it completes.
const COMPACT_AFTER_ERASURE_MS: i64 = 120_000;
#[async_trait]
impl UserDataStore for SqliteStore {
    async fn find_by_email(
        &self,
        workspace: &str,
        email: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        let (workspace, email) = (workspace.to_owned(), email.to_owned());
        self.read(move |conn| {
            conn.prepare(
                "SELECT id, uid FROM profiles
                 WHERE workspace = ?1 AND json_extract(doc, '$.attributes.email') = ?2",
            )?
            .query_map(params![workspace, email], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
        .await
    }

    async fn erase_profile(&self, workspace: &str, moengage_user_id: &str) -> StoreResult<bool> {
        let (workspace, id) = (workspace.to_owned(), moengage_user_id.to_owned());
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM profiles WHERE workspace = ?1 AND id = ?2",
                    params![workspace, id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(doc) = doc else {
                return Ok(false);
            };
            let profile: crate::domain::Profile = from_json(&doc)?;
            for anon in &profile.anonymous_ids {
                tx.execute(
                    "DELETE FROM anonymous_ids
                     WHERE workspace = ?1 AND anonymous_id = ?2 AND profile_id = ?3",
                    params![workspace, anon, id],
                )?;
            }
            tx.execute(
                "DELETE FROM profiles WHERE workspace = ?1 AND id = ?2",
                params![workspace, id],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn erase_memberships(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<usize> {
        let (workspace, id) = (workspace.to_owned(), moengage_user_id.to_owned());
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let member_of: Vec<String> = tx
                .prepare(
                    "DELETE FROM memberships WHERE workspace = ?1 AND profile_id = ?2
                     RETURNING segment_id, in_segment",
                )?
                .query_map(params![workspace, id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                })?
                .filter_map(|row| match row {
                    Ok((segment, true)) => Some(Ok(segment)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<rusqlite::Result<_>>()?;
            for segment in &member_of {
                tx.execute(
                    "UPDATE segments SET member_count = member_count - 1
                     WHERE workspace = ?1 AND id = ?2",
                    params![workspace, segment],
                )?;
            }
            tx.commit()?;
            Ok(member_of.len())
        })
        .await
    }

    async fn replace_dead_letter(&self, id: &str, letter: &DeadLetter) -> StoreResult<()> {
        let id = id.to_owned();
        let doc = serde_json::to_string(letter).map_err(StoreError::encode("a dead letter"))?;
        self.run(move |conn| {
            conn.execute(
                "UPDATE dead_letters SET doc = ?2 WHERE id = ?1",
                params![id, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn rewrite_queued(
        &self,
        queue: QueueName,
        rewrite: &(dyn for<'b> Fn(&'b str) -> Rewrite + Send + Sync),
    ) -> StoreResult<usize> {
        let mut after = 0i64;
        let mut changed = 0;
        loop {
            let name = queue.as_str();
            // Read on a reader: the writer is never held while bodies are read.
            let rows: Vec<(i64, String)> = self
                .read(move |conn| {
                    conn.prepare_cached(
                        "SELECT m.seq, b.body FROM queue_messages m
                         JOIN queue_bodies b ON b.seq = m.seq
                         WHERE m.queue = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3",
                    )?
                    .query_map(params![name, after, REWRITE_PAGE], |r| {
                        let body = read_body(r.get_ref(1)?).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(1, Type::Blob, Box::new(e))
                        })?;
                        Ok((r.get(0)?, body))
                    })?
                    .collect()
                })
                .await?;
            let Some(&(last, _)) = rows.last() else {
                return Ok(changed);
            };
            after = last;
            let edits: Vec<(i64, Rewrite)> = rows
                .iter()
                .map(|(seq, body)| (*seq, rewrite(body)))
                .filter(|(_, r)| *r != Rewrite::Unchanged)
                .collect();
            if edits.is_empty() {
                continue;
            }
            changed += edits.len();
            // Bodies never change but here; a message consumed meanwhile
            // is simply no longer there.
            self.run(move |conn| {
                let tx = Savepoint::open(conn)?;
                for (seq, edit) in &edits {
                    match edit {
                        Rewrite::Replace(body) => {
                            tx.execute(
                                "UPDATE queue_bodies SET body = ?2 WHERE seq = ?1",
                                params![seq, pack_body(body)],
                            )?;
                        }
                        Rewrite::Remove => {
                            tx.execute("DELETE FROM queue_messages WHERE seq = ?1", [seq])?;
                            tx.execute("DELETE FROM queue_bodies WHERE seq = ?1", [seq])?;
                        }
                        Rewrite::Unchanged => {}
                    }
                }
                tx.commit()
            })
            .await?;
        }
    }

    async fn compact(&self) -> StoreResult<()> {
        self.run_alone(compact).await
    }

    async fn sweep(&self, now_ms: i64) -> StoreResult<()> {
        // Alone: the compaction's TRUNCATE checkpoint runs outside any
        // transaction.
        self.run_alone(move |conn| {
            conn.execute(
                "DELETE FROM idempotency WHERE expires_at_ms <= ?1",
                [now_ms],
            )?;
            conn.execute(
                "DELETE FROM access_subjects WHERE expires_at_ms <= ?1",
                [now_ms],
            )?;
            let recent: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM privacy_requests
                   WHERE kind = ?1 AND status = ?2 AND updated_at_ms > ?3)",
                params![
                    RequestKind::Erasure.as_str(),
                    RequestStatus::Completed.as_str(),
                    now_ms - COMPACT_AFTER_ERASURE_MS
                ],
                |r| r.get(0),
            )?;
            if recent {
                compact(conn)?;
            }
            Ok(())
        })
        .await
    }
}
