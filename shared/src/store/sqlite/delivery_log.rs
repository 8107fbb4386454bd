//! The delivery log on SQLite: a database file of its own beside the store
//! (`<store>-delivery-log.db`), so its batched writes never queue behind
//! ingest's writer nor ingest's behind them (BENCHMARKS.md "Delivery log").
//! Entry ids sort by time, so the id index serves newest-first listings,
//! time bounds and the retention sweep.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};

use super::{Role, SqliteStore, from_json, map_sqlite_error, to_json};
use crate::delivery_log::batch::LogBatch;
use crate::delivery_log::model::{
    LastAttempt, LastKind, LogEntry, LogPage, LogQuery, REQUEST_BODY_LIMIT, StoredBody,
    StreamCounts, StreamHealth, SyncRecord,
};
use crate::ports::{DeliveryLog, StoreResult};
use crate::store::{packed, uuids};

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE log_entries (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    workspace      TEXT NOT NULL,
    stream         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    moe_request_id TEXT NOT NULL,
    names          TEXT NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX log_entries_by_workspace ON log_entries (workspace, id);
CREATE INDEX log_entries_by_request ON log_entries (workspace, moe_request_id);
CREATE TABLE log_entry_users (
    workspace TEXT NOT NULL,
    uid       TEXT NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (workspace, uid, id)
) WITHOUT ROWID;
CREATE INDEX log_entry_users_by_id ON log_entry_users (id);
CREATE TABLE log_bodies (
    workspace      TEXT NOT NULL,
    moe_request_id TEXT NOT NULL,
    at_ms          INTEGER NOT NULL,
    body           TEXT NOT NULL,
    truncated      INTEGER NOT NULL,
    PRIMARY KEY (workspace, moe_request_id)
);
CREATE INDEX log_bodies_by_time ON log_bodies (at_ms);
CREATE TABLE log_counts (
    workspace TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    stream    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (workspace, bucket_ms, stream, kind)
) WITHOUT ROWID;
CREATE TABLE log_last (
    workspace TEXT NOT NULL,
    stream    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (workspace, stream, kind)
) WITHOUT ROWID;
CREATE TABLE log_waiting (
    workspace      TEXT NOT NULL,
    stream         TEXT NOT NULL,
    moe_request_id TEXT NOT NULL,
    events         INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL,
    PRIMARY KEY (workspace, stream, moe_request_id)
) WITHOUT ROWID;
CREATE TABLE log_syncs (
    workspace TEXT NOT NULL,
    segment   TEXT NOT NULL,
    id        TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (workspace, segment, id)
) WITHOUT ROWID;
CREATE INDEX log_syncs_by_id ON log_syncs (id);
"#,
    // Bodies LZ4-compressed (`delivery_log::packed`); `body` is '' then.
    r#"
ALTER TABLE log_bodies ADD COLUMN packed BLOB;
"#,
    // Where an erasure overwrites the free pages (`super::scrub`).
    r#"
CREATE TABLE scrub (zeros BLOB);
"#,
    // Event uuids, 16 bytes each (`store::uuids`); `doc` holds none then.
    r#"
ALTER TABLE log_entries ADD COLUMN uuids BLOB;
"#,
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    super::schema::run(conn, MIGRATIONS)
}

/// The delivery log's database, beside the store's.
#[derive(Clone)]
pub struct SqliteDeliveryLog {
    db: SqliteStore,
}

/// `<dir>/<store name>-delivery-log.db`.
pub fn path_beside(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "engage-bridge".into());
    store.with_file_name(format!("{stem}-delivery-log.db"))
}

impl SqliteDeliveryLog {
    /// Opens (creating) the log beside the store at `store_path`.
    pub fn open_beside(store_path: &Path) -> StoreResult<Self> {
        Ok(Self {
            db: SqliteStore::open_with(path_beside(store_path), migrate, Role::DeliveryLog)?,
        })
    }
}

/// The lowest id of an entry at or after `at_ms`.
fn id_at(at_ms: i64) -> String {
    format!("{:015}", at_ms.max(0))
}

/// An entry as a row holds it: its JSON, and its event uuids apart
/// when they were stored as bytes.
struct StoredEntry {
    doc: String,
    uuids: Option<Vec<u8>>,
}

fn stored_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        doc: row.get(0)?,
        uuids: row.get(1)?,
    })
}

impl StoredEntry {
    fn entry(self) -> rusqlite::Result<LogEntry> {
        let mut entry: LogEntry = from_json(&self.doc)?;
        if let Some(packed) = self.uuids {
            entry.events.uuids = uuids::unpack(&packed).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, e.into())
            })?;
        }
        Ok(entry)
    }
}

/// Names as one text, each between newlines, for `instr`.
fn names_text(entry: &LogEntry) -> String {
    let mut text = String::from("\n");
    for name in &entry.events.names {
        text.push_str(name);
        text.push('\n');
    }
    text
}

#[async_trait]
impl DeliveryLog for SqliteDeliveryLog {
    /// Retention is the sweep's (the recorder runs it).
    async fn record(&self, batch: LogBatch, _retention_days: u32) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let last = batch.last_attempts();
        let LogBatch {
            entries,
            bodies,
            counts,
            waiting,
            syncs,
        } = batch;
        // A transaction of its own: each entry's users go to pages spread
        // over the whole user index, and a savepoint would keep a copy of
        // each in memory (`SqliteStore::run_transaction`).
        self.db
            .run_transaction(move |tx| {
                // Encoding and compressing here keeps them off the async
                // runtime: only the log's own writer waits for them.
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR IGNORE INTO log_entries
                           (id, workspace, stream, outcome, moe_request_id, names, doc, uuids)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?;
                    let mut user = tx.prepare_cached(
                        "INSERT OR IGNORE INTO log_entry_users (workspace, uid, id) VALUES (?1, ?2, ?3)",
                    )?;
                    for mut entry in entries {
                        let uuids = uuids::pack(&entry.events.uuids);
                        if uuids.is_some() {
                            entry.events.uuids = Vec::new();
                        }
                        let entry = &entry;
                        insert.execute(params![
                            entry.id,
                            entry.workspace_id,
                            entry.stream,
                            entry.outcome.as_str(),
                            entry.moe_request_id,
                            names_text(entry),
                            to_json(entry)?,
                            uuids
                        ])?;
                        for uid in &entry.events.uids {
                            user.execute(params![entry.workspace_id, uid, entry.id])?;
                        }
                    }
                    let mut body = tx.prepare_cached(
                        "INSERT OR REPLACE INTO log_bodies
                           (workspace, moe_request_id, at_ms, body, packed, truncated)
                         VALUES (?1, ?2, ?3, '', ?4, ?5)",
                    )?;
                    for (workspace, stored) in &bodies {
                        body.execute(params![
                            workspace,
                            stored.moe_request_id,
                            stored.at_ms,
                            stored.packed,
                            stored.truncated
                        ])?;
                    }
                    let mut count = tx.prepare_cached(
                        "INSERT INTO log_counts (workspace, bucket_ms, stream, kind, n)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT DO UPDATE SET n = n + excluded.n",
                    )?;
                    for delta in &counts {
                        count.execute(params![
                            delta.workspace_id,
                            delta.bucket_ms,
                            delta.stream,
                            delta.kind.as_str(),
                            delta.n as i64
                        ])?;
                    }
                    let mut newest = tx.prepare_cached(
                        "INSERT INTO log_last (workspace, stream, kind, at_ms, doc)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT DO UPDATE SET at_ms = excluded.at_ms, doc = excluded.doc
                         WHERE excluded.at_ms >= log_last.at_ms",
                    )?;
                    for (workspace, stream, kind, attempt) in &last {
                        let doc = to_json(attempt)?;
                        newest.execute(params![workspace, stream, kind.as_str(), attempt.at_ms, doc])?;
                    }
                    let mut wait = tx.prepare_cached(
                        "INSERT OR REPLACE INTO log_waiting (workspace, stream, moe_request_id, events, at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
                    let mut done = tx.prepare_cached(
                        "DELETE FROM log_waiting WHERE workspace = ?1 AND stream = ?2 AND moe_request_id = ?3",
                    )?;
                    for change in &waiting {
                        match change.waiting_events {
                            Some(events) => wait.execute(params![
                                change.workspace_id,
                                change.stream,
                                change.moe_request_id,
                                events as i64,
                                change.at_ms
                            ])?,
                            None => done.execute(params![
                                change.workspace_id,
                                change.stream,
                                change.moe_request_id
                            ])?,
                        };
                    }
                    let mut sync = tx.prepare_cached(
                        "INSERT OR REPLACE INTO log_syncs (workspace, segment, id, doc) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for record in &syncs {
                        let doc = to_json(record)?;
                        sync.execute(params![record.workspace_id, record.segment_id, record.id, doc])?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn list(&self, workspace: &str, query: &LogQuery) -> StoreResult<LogPage> {
        let limit = query.limit.clamp(1, 1000);
        let mut sql = String::from("SELECT e.doc, e.uuids FROM ");
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(uid) = &query.uid {
            sql.push_str(
                "log_entry_users u JOIN log_entries e ON e.id = u.id
                 WHERE u.workspace = ? AND u.uid = ? AND e.workspace = u.workspace",
            );
            args.push(workspace.to_owned().into());
            args.push(uid.clone().into());
        } else {
            sql.push_str("log_entries e WHERE e.workspace = ?");
            args.push(workspace.to_owned().into());
        }
        let mut bound = |clause: &str, value: SqlValue| {
            sql.push_str(clause);
            args.push(value);
        };
        if let Some(stream) = &query.stream {
            bound(" AND e.stream = ?", stream.clone().into());
        }
        if let Some(outcome) = query.outcome {
            bound(" AND e.outcome = ?", outcome.as_str().to_owned().into());
        }
        if let Some(request) = &query.moe_request_id {
            bound(" AND e.moe_request_id = ?", request.clone().into());
        }
        if let Some(event) = &query.event {
            bound(" AND instr(e.names, ?) > 0", format!("\n{event}\n").into());
        }
        if let Some(since) = query.since_ms {
            bound(" AND e.id >= ?", id_at(since).into());
        }
        if let Some(until) = query.until_ms {
            bound(" AND e.id < ?", id_at(until.saturating_add(1)).into());
        }
        if let Some(before) = &query.before {
            bound(" AND e.id < ?", before.clone().into());
        }
        sql.push_str(" ORDER BY e.id DESC LIMIT ?");
        args.push((limit as i64 + 1).into());
        let docs = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare(&sql)?;
                stmt.query_map(params_from_iter(args), stored_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let more = docs.len() > limit;
        let entries = docs
            .into_iter()
            .take(limit)
            .map(|stored| stored.entry().map_err(map_sqlite_error))
            .collect::<StoreResult<Vec<_>>>()?;
        let next_before = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
        Ok(LogPage {
            entries,
            next_before,
        })
    }

    async fn entry_by_id(&self, workspace: &str, id: &str) -> StoreResult<Option<LogEntry>> {
        let (workspace, id) = (workspace.to_owned(), id.to_owned());
        let doc = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT doc, uuids FROM log_entries WHERE workspace = ?1 AND id = ?2",
                )?;
                let mut rows = stmt.query_map(params![workspace, id], stored_entry)?;
                rows.next().transpose()
            })
            .await?;
        doc.map(|stored| stored.entry().map_err(map_sqlite_error))
            .transpose()
    }

    async fn body(&self, workspace: &str, moe_request_id: &str) -> StoreResult<Option<StoredBody>> {
        let (workspace, request) = (workspace.to_owned(), moe_request_id.to_owned());
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT at_ms, body, packed, truncated FROM log_bodies
                     WHERE workspace = ?1 AND moe_request_id = ?2",
                )?;
                let mut rows = stmt.query_map(params![workspace, request], |r| {
                    let body = match r.get_ref(2)?.as_blob_or_null()? {
                        Some(bytes) => packed::unpack(bytes, REQUEST_BODY_LIMIT).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                2,
                                rusqlite::types::Type::Blob,
                                Box::new(e),
                            )
                        })?,
                        None => r.get(1)?,
                    };
                    Ok(StoredBody {
                        moe_request_id: request.clone(),
                        at_ms: r.get(0)?,
                        body,
                        truncated: r.get(3)?,
                    })
                })?;
                rows.next().transpose()
            })
            .await
    }

    async fn counts(&self, workspace: &str, since_ms: i64) -> StoreResult<Vec<StreamCounts>> {
        let workspace = workspace.to_owned();
        let since = crate::delivery_log::model::bucket_of(since_ms);
        let rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT stream, kind, SUM(n) FROM log_counts
                     WHERE workspace = ?1 AND bucket_ms >= ?2 GROUP BY stream, kind",
                )?;
                stmt.query_map(params![workspace, since], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let mut by_stream: HashMap<String, StreamCounts> = HashMap::new();
        for (stream, kind, n) in rows {
            by_stream
                .entry(stream.clone())
                .or_insert_with(|| StreamCounts {
                    stream,
                    ..StreamCounts::default()
                })
                .counts
                .insert(kind, n.max(0) as u64);
        }
        let mut out: Vec<StreamCounts> = by_stream.into_values().collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }

    async fn syncs(
        &self,
        workspace: &str,
        segment_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<SyncRecord>> {
        let (workspace, segment) = (workspace.to_owned(), segment_id.to_owned());
        let docs = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT doc FROM log_syncs WHERE workspace = ?1 AND segment = ?2
                     ORDER BY id DESC LIMIT ?3",
                )?;
                stmt.query_map(params![workspace, segment, limit as i64], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        docs.iter()
            .map(|d| from_json(d).map_err(map_sqlite_error))
            .collect()
    }

    async fn health(&self, workspace: &str) -> StoreResult<Vec<StreamHealth>> {
        let workspace = workspace.to_owned();
        let (last, waiting) = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT stream, kind, doc FROM log_last WHERE workspace = ?1",
                )?;
                let last = stmt
                    .query_map(params![workspace], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut stmt = conn.prepare_cached(
                    "SELECT stream, COUNT(*), SUM(events) FROM log_waiting
                     WHERE workspace = ?1 GROUP BY stream",
                )?;
                let waiting = stmt
                    .query_map(params![workspace], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((last, waiting))
            })
            .await?;
        let mut by_stream: HashMap<String, StreamHealth> = HashMap::new();
        for (stream, kind, doc) in last {
            let attempt: LastAttempt = from_json(&doc).map_err(map_sqlite_error)?;
            let health = StreamHealth::of(&mut by_stream, stream);
            if kind == LastKind::Success.as_str() {
                health.last_success = Some(attempt);
            } else {
                health.last_error = Some(attempt);
            }
        }
        for (stream, requests, events) in waiting {
            let health = StreamHealth::of(&mut by_stream, stream);
            health.waiting_requests = requests.max(0) as u64;
            health.waiting_events = events.max(0) as u64;
        }
        let mut out: Vec<StreamHealth> = by_stream.into_values().collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }

    async fn erase_user(&self, workspace: &str, uid: &str, _since_ms: i64) -> StoreResult<u64> {
        let (workspace, uid) = (workspace.to_owned(), uid.to_owned());
        // Alone: the compaction's TRUNCATE checkpoint runs outside any
        // transaction.
        self.db
            .run_alone(move |conn| {
                let tx = conn.transaction()?;
                let found: Vec<(String, String)> = {
                    let mut stmt = tx.prepare(
                        "SELECT e.id, e.moe_request_id FROM log_entry_users u
                         JOIN log_entries e ON e.id = u.id
                         WHERE u.workspace = ?1 AND u.uid = ?2",
                    )?;
                    stmt.query_map(params![workspace, uid], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                };
                for (id, request) in &found {
                    tx.execute("DELETE FROM log_entries WHERE id = ?1", [id])?;
                    tx.execute("DELETE FROM log_entry_users WHERE id = ?1", [id])?;
                    tx.execute(
                        "DELETE FROM log_bodies WHERE workspace = ?1 AND moe_request_id = ?2",
                        params![workspace, request],
                    )?;
                }
                tx.commit()?;
                // Nothing of the entries stays in the free pages or the
                // WAL (docs/interface/privacy.md "Erasure"); also when none
                // was found: a run cut short after the delete resumes here.
                super::scrub::compact(conn)?;
                Ok(found.len() as u64)
            })
            .await
    }

    async fn sweep(&self, before_ms: i64) -> StoreResult<u64> {
        // In chunks, each its own transaction: the writer is never held long.
        const CHUNK: i64 = 2_000;
        let before = id_at(before_ms);
        let mut removed = 0;
        loop {
            let before = before.clone();
            let gone = self
                .db
                .run_transaction(move |tx| {
                    tx.execute(
                        "DELETE FROM log_entry_users WHERE id IN
                           (SELECT id FROM log_entries WHERE id < ?1 ORDER BY id LIMIT ?2)",
                        params![before, CHUNK],
                    )?;
                    let gone = tx.execute(
                        "DELETE FROM log_entries WHERE id IN
                           (SELECT id FROM log_entries WHERE id < ?1 ORDER BY id LIMIT ?2)",
                        params![before, CHUNK],
                    )?;
                    Ok(gone as u64)
                })
                .await?;
            removed += gone;
            if gone < CHUNK as u64 {
                break;
            }
        }
        self.db
            .run_transaction(move |conn| {
                conn.execute("DELETE FROM log_bodies WHERE at_ms < ?1", [before_ms])?;
                conn.execute("DELETE FROM log_counts WHERE bucket_ms < ?1", [before_ms])?;
                conn.execute("DELETE FROM log_waiting WHERE at_ms < ?1", [before_ms])?;
                conn.execute("DELETE FROM log_syncs WHERE id < ?1", [id_at(before_ms)])?;
                Ok(())
            })
            .await?;
        Ok(removed)
    }
}
