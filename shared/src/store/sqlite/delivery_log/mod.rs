//! The delivery log on SQLite: a database file of its own beside the store
//! (`<store>-delivery-log.db`), so its batched writes never queue behind
//! ingest's writer nor ingest's behind them (BENCHMARKS.md "Delivery log").
//! Entry ids sort by time, so the id index serves newest-first listings,
//! time bounds and the retention sweep. Request bodies are kept in files
//! beside it ([`body_files`]). Writing is `write.rs`, reading
//! `read.rs`.

pub mod body_files;
mod read;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::Connection;

use self::body_files::{BodyFiles, BodyRef};
use super::{Role, SqliteStore, map_sqlite_error};
use crate::delivery_log::batch::LogBatch;
use crate::delivery_log::model::{
    LogEntry, LogPage, LogQuery, StoredBody, StreamCounts, StreamHealth, SyncRecord,
};
use crate::ports::{DeliveryLog, StoreResult};

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
    // Where the entry's request body lies in the body files
    // (`body_files`), and how far each file is committed;
    // `log_bodies` keeps the bodies written before.
    r#"
ALTER TABLE log_entries ADD COLUMN body_hour INTEGER;
ALTER TABLE log_entries ADD COLUMN body_offset INTEGER;
ALTER TABLE log_entries ADD COLUMN body_len INTEGER;
CREATE TABLE log_body_files (
    hour_ms INTEGER PRIMARY KEY,
    len     INTEGER NOT NULL
);
"#,
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    super::schema::run(conn, MIGRATIONS)
}

/// The delivery log's database, beside the store's, and its body files.
#[derive(Clone)]
pub struct SqliteDeliveryLog {
    db: SqliteStore,
    /// Only the log's writing thread appends, erases or sweeps (each in
    /// its work there), so the lock is never contended.
    bodies: Arc<Mutex<BodyFiles>>,
    bodies_dir: Arc<PathBuf>,
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
        let path = path_beside(store_path);
        let db = SqliteStore::open_with(&path, migrate, Role::DeliveryLog)?;
        let dir = body_files::dir_beside(&path);
        let mut bodies = BodyFiles::open(dir.clone())
            .map_err(|e| map_sqlite_error(io_failure("the body files", e)))?;
        // What a crash left past the last commit goes before anything
        // reads or writes the files.
        let committed = super::connect(&path)
            .and_then(|conn| {
                conn.prepare("SELECT hour_ms, len FROM log_body_files")?
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                    .map(|row| row.map(|(hour, len)| (hour, u64::try_from(len).unwrap_or(0))))
                    .collect::<rusqlite::Result<HashMap<i64, u64>>>()
            })
            .map_err(map_sqlite_error)?;
        bodies
            .cut_to_committed(&committed)
            .map_err(|e| map_sqlite_error(io_failure("cutting the body files", e)))?;
        Ok(Self {
            db,
            bodies: Arc::new(Mutex::new(bodies)),
            bodies_dir: Arc::new(dir),
        })
    }
}

/// An I/O error of the body files as SQLite's own kind of it, so that the
/// work around them fails as a write to the database would.
fn io_failure(what: &str, e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some(format!("{what}: {e}")),
    )
}

/// The body files, for the log's writing thread.
fn lock(bodies: &Mutex<BodyFiles>) -> rusqlite::Result<MutexGuard<'_, BodyFiles>> {
    bodies.lock().map_err(|_| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
            Some("the body files' lock is poisoned".into()),
        )
    })
}

/// A body reference as an entry's row holds it.
fn body_ref(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Option<BodyRef>> {
    let hour: Option<i64> = row.get(first)?;
    let offset: Option<i64> = row.get(first + 1)?;
    let len: Option<i64> = row.get(first + 2)?;
    Ok(match (hour, offset, len) {
        (Some(hour_ms), Some(offset), Some(len)) => Some(BodyRef {
            hour_ms,
            offset: u64::try_from(offset).unwrap_or(u64::MAX),
            len: u64::try_from(len).unwrap_or(0),
        }),
        _ => None,
    })
}

/// The lowest id of an entry at or after `at_ms`.
fn id_at(at_ms: i64) -> String {
    format!("{:015}", at_ms.max(0))
}

#[async_trait]
impl DeliveryLog for SqliteDeliveryLog {
    /// Retention is the sweep's (the recorder runs it).
    async fn record(&self, batch: LogBatch, _retention_days: u32) -> StoreResult<()> {
        write::record(self, batch).await
    }

    async fn list(&self, workspace: &str, query: &LogQuery) -> StoreResult<LogPage> {
        read::list(self, workspace, query).await
    }

    async fn entry_by_id(&self, workspace: &str, id: &str) -> StoreResult<Option<LogEntry>> {
        read::entry_by_id(self, workspace, id).await
    }

    async fn body(&self, workspace: &str, moe_request_id: &str) -> StoreResult<Option<StoredBody>> {
        read::body(self, workspace, moe_request_id).await
    }

    async fn counts(&self, workspace: &str, since_ms: i64) -> StoreResult<Vec<StreamCounts>> {
        read::counts(self, workspace, since_ms).await
    }

    async fn syncs(
        &self,
        workspace: &str,
        segment_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<SyncRecord>> {
        read::syncs(self, workspace, segment_id, limit).await
    }

    async fn health(&self, workspace: &str) -> StoreResult<Vec<StreamHealth>> {
        read::health(self, workspace).await
    }

    async fn erase_user(&self, workspace: &str, uid: &str, _since_ms: i64) -> StoreResult<u64> {
        write::erase_user(self, workspace, uid).await
    }

    async fn sweep(&self, before_ms: i64) -> StoreResult<u64> {
        write::sweep(self, before_ms).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_log::batch::PackedBody;
    use crate::delivery_log::model::{AttemptOutcome, EventSummary, entry_id};
    use crate::domain::time::now_ms;
    use crate::store::packed;

    fn attempt(request: &str, at_ms: i64) -> LogEntry {
        LogEntry {
            id: entry_id(at_ms),
            workspace_id: "ws".into(),
            stream: "s".into(),
            at_ms,
            moe_request_id: request.into(),
            outcome: AttemptOutcome::Delivered,
            attempt: 1,
            status: Some(200),
            error: None,
            latency_ms: Some(3),
            events: EventSummary {
                count: 1,
                uids: vec!["u1".into()],
                ..EventSummary::default()
            },
            request: None,
            response: None,
        }
    }

    fn with_body(entry: LogEntry, text: &str) -> LogBatch {
        let mut batch = LogBatch::default();
        batch.add_body(
            "ws",
            PackedBody {
                moe_request_id: entry.moe_request_id.clone(),
                at_ms: entry.at_ms,
                packed: packed::pack(text),
                truncated: false,
            },
        );
        batch.entries.push(entry);
        batch
    }

    #[tokio::test]
    async fn bodies_kept_in_the_database_before_the_body_files_read_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        let log = SqliteDeliveryLog::open_beside(&store).unwrap();
        // A body as the log stored it before migration 5: a `log_bodies`
        // row, its entry without a reference.
        let conn = Connection::open(path_beside(&store)).unwrap();
        conn.execute(
            "INSERT INTO log_bodies (workspace, moe_request_id, at_ms, body, packed, truncated)
             VALUES ('ws', 'old', 5, '', ?1, 1)",
            [packed::pack("{\"old\":1}")],
        )
        .unwrap();
        log.record(
            LogBatch {
                entries: vec![attempt("old", 5)],
                ..LogBatch::default()
            },
            7,
        )
        .await
        .unwrap();
        let old = log.body("ws", "old").await.unwrap().unwrap();
        assert_eq!(
            (old.body.as_str(), old.at_ms, old.truncated),
            ("{\"old\":1}", 5, true)
        );
        // A later attempt's body, in the files, is the request's now.
        log.record(with_body(attempt("old", 6), "{\"new\":2}"), 7)
            .await
            .unwrap();
        assert_eq!(
            log.body("ws", "old").await.unwrap().unwrap().body,
            "{\"new\":2}"
        );
    }

    #[tokio::test]
    async fn the_sweep_removes_past_hours_body_files_after_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        let log = SqliteDeliveryLog::open_beside(&store).unwrap();
        let now = now_ms();
        log.record(with_body(attempt("r1", now), "{\"n\":1}"), 7)
            .await
            .unwrap();
        let bodies = body_files::dir_beside(&path_beside(&store));
        assert_eq!(std::fs::read_dir(&bodies).unwrap().count(), 1);
        assert_eq!(log.sweep(now).await.unwrap(), 0);
        assert!(log.body("ws", "r1").await.unwrap().is_some());
        // Two hours on, the entry and its hour's file are past.
        assert_eq!(log.sweep(now + 2 * 3_600_000).await.unwrap(), 1);
        assert_eq!(std::fs::read_dir(&bodies).unwrap().count(), 0);
        assert_eq!(log.body("ws", "r1").await.unwrap(), None);
        // The log writes on into a new file.
        log.record(with_body(attempt("r2", now), "{\"n\":2}"), 7)
            .await
            .unwrap();
        assert_eq!(
            log.body("ws", "r2").await.unwrap().unwrap().body,
            "{\"n\":2}"
        );
    }

    #[tokio::test]
    async fn what_a_crash_left_past_the_last_commit_is_gone_when_the_log_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        let log = SqliteDeliveryLog::open_beside(&store).unwrap();
        log.record(with_body(attempt("r1", now_ms()), "{\"n\":1}"), 7)
            .await
            .unwrap();
        let bodies = body_files::dir_beside(&path_beside(&store));
        let file = std::fs::read_dir(&bodies)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let committed = std::fs::metadata(&file).unwrap().len();
        // As if a batch's bodies were written and the process killed
        // before its transaction committed.
        let mut orphan = std::fs::read(&file).unwrap();
        orphan.extend_from_slice(b"uid-never-committed-77c2");
        std::fs::write(&file, &orphan).unwrap();
        drop(log);
        let log = SqliteDeliveryLog::open_beside(&store).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), committed);
        assert_eq!(
            log.body("ws", "r1").await.unwrap().unwrap().body,
            "{\"n\":1}"
        );
    }
}
