//! The privacy ports on SQLite (docs/interface/privacy.md): suppressions,
//! requests and access subjects in their tables; erasure of the rows other
//! ports keep; and `compact`, which makes what was deleted unrecoverable
//! from the file: `secure_delete = FAST` (every connection) zeroes deleted
//! content inside b-tree pages, `compact` overwrites the free pages with
//! zeros and empties the WAL.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{IN_CHUNK, SqliteStore, from_json, placeholders};
use crate::domain::{DeadLetter, Page, PageRequest};
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::{PrivacyRequestStore, Rewrite, SuppressionStore, UserDataStore};
use crate::privacy::request::{
    AccessSubject, PrivacyRequest, RequestKind, RequestStatus, Suppression,
};
use crate::topology::QueueName;

/// Queued bodies read per round when rewriting a queue: memory stays
/// bounded however long the queue.
const REWRITE_PAGE: i64 = 200;
/// Zeros written per row when overwriting free pages (a blob is ≤ 1 GB).
const SCRUB_BYTES: i64 = 64 * 1024 * 1024;
/// How long after an erasure the sweep keeps compacting: the erasure's own
/// messages (its job, its `User Deleted` event) go after it completes.
const COMPACT_AFTER_ERASURE_MS: i64 = 120_000;

fn status_name(status: RequestStatus) -> &'static str {
    status.as_str()
}

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

    async fn any_suppressed(&self, workspace: &str) -> StoreResult<bool> {
        let workspace = workspace.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM suppressions WHERE workspace = ?1)")?
                .query_row([workspace], |r| r.get(0))
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

#[async_trait]
impl PrivacyRequestStore for SqliteStore {
    async fn create_request(&self, request: &PrivacyRequest) -> StoreResult<PrivacyRequest> {
        let request = request.clone();
        let doc =
            serde_json::to_string(&request).map_err(StoreError::encode("a privacy request"))?;
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO privacy_requests (workspace, id, kind, status, updated_at_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (workspace, id) DO NOTHING",
                params![
                    request.workspace_id,
                    request.id,
                    request.kind.as_str(),
                    status_name(request.status),
                    request.updated_at_ms,
                    doc
                ],
            )?;
            let doc: String = conn.query_row(
                "SELECT doc FROM privacy_requests WHERE workspace = ?1 AND id = ?2",
                params![request.workspace_id, request.id],
                |r| r.get(0),
            )?;
            from_json(&doc)
        })
        .await
    }

    async fn get_request(&self, workspace: &str, id: &str) -> StoreResult<Option<PrivacyRequest>> {
        let (workspace, id) = (workspace.to_owned(), id.to_owned());
        self.read(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached(
                    "SELECT doc FROM privacy_requests WHERE workspace = ?1 AND id = ?2",
                )?
                .query_row(params![workspace, id], |r| r.get(0))
                .optional()?;
            doc.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn update_request(
        &self,
        request: &PrivacyRequest,
        expected: RequestStatus,
    ) -> StoreResult<bool> {
        let request = request.clone();
        let doc =
            serde_json::to_string(&request).map_err(StoreError::encode("a privacy request"))?;
        self.run(move |conn| {
            conn.execute(
                "UPDATE privacy_requests SET status = ?3, updated_at_ms = ?4, doc = ?5
                 WHERE workspace = ?1 AND id = ?2 AND status = ?6",
                params![
                    request.workspace_id,
                    request.id,
                    status_name(request.status),
                    request.updated_at_ms,
                    doc,
                    status_name(expected)
                ],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn put_access_subject(
        &self,
        workspace: &str,
        request_id: &str,
        subject: &AccessSubject,
    ) -> StoreResult<()> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        let doc =
            serde_json::to_string(subject).map_err(StoreError::encode("an access subject"))?;
        let expires = subject.expires_at_ms;
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO access_subjects (workspace, request_id, doc, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace, request_id) DO UPDATE
                 SET doc = excluded.doc, expires_at_ms = excluded.expires_at_ms",
                params![workspace, request_id, doc, expires],
            )?;
            Ok(())
        })
        .await
    }

    async fn access_subject(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> StoreResult<Option<AccessSubject>> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        let now = crate::domain::time::now_ms();
        self.read(move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM access_subjects
                     WHERE workspace = ?1 AND request_id = ?2 AND expires_at_ms > ?3",
                    params![workspace, request_id, now],
                    |r| r.get(0),
                )
                .optional()?;
            doc.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn forget_access_subjects(&self, workspace: &str, hash: &str) -> StoreResult<usize> {
        let (workspace, hash) = (workspace.to_owned(), hash.to_owned());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let subjects: Vec<(String, String)> = tx
                .prepare("SELECT request_id, doc FROM access_subjects WHERE workspace = ?1")?
                .query_map([&workspace], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut forgotten = 0;
            for (request_id, doc) in subjects {
                let subject: AccessSubject = from_json(&doc)?;
                if subject.hashes.contains(&hash) {
                    tx.execute(
                        "DELETE FROM access_subjects WHERE workspace = ?1 AND request_id = ?2",
                        params![workspace, request_id],
                    )?;
                    forgotten += 1;
                }
            }
            tx.commit()?;
            Ok(forgotten)
        })
        .await
    }
}

/// Overwrites every free page with zeros (a blob as large as the free list
/// takes its pages, then gives them back zeroed), then checkpoints the WAL
/// into the file and truncates it: no deleted row survives in either file.
fn compact(conn: &mut Connection) -> rusqlite::Result<()> {
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    if free > 0 {
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        // An overflow page carries page_size - 4 bytes of a blob.
        let mut left = free * (page - 4);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        while left > 0 {
            let bytes = left.min(SCRUB_BYTES);
            tx.execute("INSERT INTO scrub (zeros) VALUES (zeroblob(?1))", [bytes])?;
            left -= bytes;
        }
        tx.execute("DELETE FROM scrub", [])?;
        tx.commit()?;
    }
    // A reader holding an old snapshot makes the truncation wait or fail:
    // then the next compaction does it.
    for _ in 0..3 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

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
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
                        Ok((r.get(0)?, r.get(1)?))
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
                let tx = conn.transaction()?;
                for (seq, edit) in &edits {
                    match edit {
                        Rewrite::Replace(body) => {
                            tx.execute(
                                "UPDATE queue_bodies SET body = ?2 WHERE seq = ?1",
                                params![seq, body],
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
        self.run(compact).await
    }

    async fn sweep(&self, now_ms: i64) -> StoreResult<()> {
        self.run(move |conn| {
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
                    status_name(RequestStatus::Completed),
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
