//! The embedded store: one SQLite file (WAL) shared safely by `serve` and
//! concurrent CLI processes. Every port is implemented on the same handle:
//! one connection writes (SQLite has one writer at a time), on its own
//! thread, committing the writes that wait together ([`writer`]); a few
//! read beside it (WAL readers never wait for the writer), and a background
//! thread checkpoints the WAL so that no commit has to
//! (docs/architecture.md "Two ways to run").

mod attempts;
mod checkpoint;
mod dead_letters;
mod delivery_log;
mod idempotency;
mod ingest;
mod privacy;
mod profiles;
mod queue;
mod rate_limit;
mod savepoint;
mod schema;
mod scrub;
mod segments;
mod stream_states;
mod workspaces;
mod writer;

pub use delivery_log::{SqliteDeliveryLog, body_files};
pub use ingest::SqliteIngest;
pub use queue::SqliteQueue;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ports::{StoreError, StoreResult, Unavailability};

/// Read connections open at most: each holds a page cache (≤ 2 MiB), so
/// this bounds the store's memory whatever the traffic.
const READERS: usize = 4;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Which database a store's handle is on. Nobody waits on a delivery-log
/// write (the recorder buffers them), so the log's writing and
/// checkpointing threads run below the requests' (runtime/priority.rs): its
/// batches, every 200 ms, no longer take the CPU from an acknowledgement
/// (BENCHMARKS.md "The delivery log below the requests").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Store,
    DeliveryLog,
}

impl Role {
    /// The name of the database's thread that does `work` (at most 15
    /// bytes show in `top` and `perf`).
    fn thread_name(self, work: &str) -> String {
        match self {
            Self::Store => format!("sqlite-{work}"),
            Self::DeliveryLog => format!("log-{work}"),
        }
    }

    /// How often the database's checkpointing thread copies its WAL back
    /// (`checkpoint.rs`). The store's, often: its commits are acks, and a
    /// short WAL keeps them quick. The log's, every 2 s: nobody waits on its
    /// commits, and each of its batches (every 200 ms) rewrites the same
    /// pages (the tables' right edges, the trees' inner pages, the counts),
    /// which a checkpoint copies and syncs once however often they were
    /// written since. At 60 000 events/s its checkpoints wrote 6.7 KiB a
    /// request instead of 8.7, with half the thread's CPU (BENCHMARKS.md
    /// "Issue 22, twenty-third session").
    fn checkpoint_interval(self) -> std::time::Duration {
        match self {
            Self::Store => std::time::Duration::from_millis(100),
            Self::DeliveryLog => std::time::Duration::from_secs(2),
        }
    }

    /// Run first on each of the database's own threads.
    fn on_thread_start(self) {
        if self == Self::DeliveryLog {
            crate::runtime::priority::lower_calling_thread();
        }
    }
}

/// A handle on the database file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// Waits for one of `slots`' permits (held until the blocking work ends).
async fn take_turn(slots: &Arc<Semaphore>) -> StoreResult<OwnedSemaphorePermit> {
    slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| failed("the store's turns are closed", e))
}

/// A failure of the store itself (I/O, a closed or poisoned handle).
fn failed(detail: &str, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::unavailable(
        Unavailability::Failed,
        format!("SQLite: {detail}: {source}"),
        Some(Box::new(source) as crate::ports::BoxError),
    )
}

struct Inner {
    path: PathBuf,
    /// The writing connection's thread. Writes queue as tasks on its
    /// channel, not as threads parked on a mutex (each such thread holds its
    /// own allocator heap: BENCHMARKS.md "Load harness").
    writer: writer::Writer,
    /// Idle read connections, opened on first use.
    readers: Mutex<Vec<Connection>>,
    reader_slots: Arc<Semaphore>,
    _checkpoints: checkpoint::Checkpointer,
}

/// A connection with the settings every connection of the store shares.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // Another process may hold the write lock for a moment: wait, don't fail.
    conn.busy_timeout(Duration::from_secs(10))?;
    // Deleted content is zeroed where that costs no extra I/O (b-tree
    // pages); an erasure overwrites the free pages itself
    // (docs/interface/privacy.md "Erasure": privacy.rs `compact`).
    conn.pragma_update(None, "secure_delete", "FAST")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its directory.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, schema::migrate, Role::Store)
    }

    /// Opens a database of the store whose schema `migrate` brings up to date.
    fn open_with(
        path: impl AsRef<Path>,
        migrate: fn(&Connection) -> rusqlite::Result<()>,
        role: Role,
    ) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(&format!("cannot create {}", dir.display()), e))?;
        }
        let conn = connect(&path).map_err(map_sqlite_error)?;
        // WAL: readers never block the writer; synchronous=NORMAL in WAL mode
        // keeps every committed transaction across a process crash (kill -9).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(map_sqlite_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map_sqlite_error)?;
        // Each write of a group runs in a savepoint, whose undo pages SQLite
        // keeps in a sub-journal: a temporary file past 64 KiB, so a write
        // to the profiles was mostly pwrite calls (4 % of serve's CPU, 18 %
        // of the writer's: BENCHMARKS.md "Sub-journal in memory"). In memory
        // it holds one write's pages at a time (released with its
        // savepoint); nothing of a user is written to a temporary file.
        // Readers keep the default (their sorts may spill to disk).
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(map_sqlite_error)?;
        // Checkpoints run in the background; a commit checkpoints only if
        // they fall far behind (a net that bounds the WAL on disk).
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::FALLBACK_PAGES)
            .map_err(map_sqlite_error)?;
        migrate(&conn).map_err(map_sqlite_error)?;
        let conn = Arc::new(Mutex::new(conn));
        let checkpoints =
            checkpoint::Checkpointer::start(&path, conn.clone(), role).map_err(map_sqlite_error)?;
        let writer = writer::Writer::start(conn, role)
            .map_err(|e| failed("cannot start the writing thread", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer,
                readers: Mutex::new(Vec::new()),
                reader_slots: Arc::new(Semaphore::new(READERS)),
                _checkpoints: checkpoints,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A queue stored in this database.
    pub fn queue(&self, name: &str) -> SqliteQueue {
        SqliteQueue::new(self.clone(), name)
    }

    /// Runs blocking database work on the writing connection, off the
    /// async runtime, inside a transaction it may share with other writes
    /// (each is applied whole or not at all, and answered after the commit:
    /// [`writer`]). Work whose statements must apply together opens a
    /// savepoint (`Savepoint::open`), never a transaction; work that
    /// changes many pages runs in [`Self::run_transaction`] instead.
    async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.inner.writer.write(work).await
    }

    /// Runs blocking work on the writing connection outside any
    /// transaction: for what SQLite refuses inside one (a `TRUNCATE`
    /// checkpoint, as erasure's compaction runs).
    async fn run_alone<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.inner.writer.alone(work).await
    }

    /// Runs `work` in a transaction of its own, not in a savepoint of a
    /// group: for a write that may change many pages. A savepoint keeps
    /// the prior content of each page it changes in a sub-journal, in
    /// memory here (`temp_store`); a transaction needs none in WAL mode,
    /// and its changed pages spill to the WAL past the page cache. A
    /// delivery-log batch in a savepoint held 21 MiB of sub-journal
    /// (BENCHMARKS.md "Issue 22, tenth session").
    async fn run_transaction<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run_alone(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done = work(&tx)?;
            tx.commit()?;
            Ok(done)
        })
        .await
    }

    /// Runs a read on one of the read connections: it sees every
    /// transaction committed before it started, and never waits for the
    /// writer (nor for another reader).
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let slot = take_turn(&self.inner.reader_slots).await?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let idle = inner.readers.lock().ok().and_then(|mut idle| idle.pop());
            let conn = match idle {
                Some(conn) => conn,
                None => {
                    let conn = connect(&inner.path).map_err(map_sqlite_error)?;
                    // A read connection never writes.
                    conn.pragma_update(None, "query_only", true)
                        .map_err(map_sqlite_error)?;
                    conn
                }
            };
            let result = work(&conn).map_err(map_sqlite_error);
            if let Ok(mut idle) = inner.readers.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| failed("a read did not complete", e))?
    }
}

/// A SQLite error by kind: undecodable data is corrupt, a database another
/// process keeps locked past the busy timeout is busy, the rest a failure.
fn map_sqlite_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::corrupt_from("SQLite", e)
        }
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
            ) =>
        {
            let detail = format!("SQLite: the database stayed locked: {e}");
            StoreError::unavailable(Unavailability::Timeout, detail, Some(Box::new(e) as _))
        }
        other => failed("the database failed", other),
    }
}

/// JSON column helpers: documents are stored as JSON text.
fn to_json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// `?, ?, ?` for an IN clause of `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// SQLite's default limit on bound parameters is 32766; stay well below.
const IN_CHUNK: usize = 500;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::runtime::priority::{NICENESS, calling_thread_niceness, threads_named};

    /// The nice values of this process's threads whose names start with `prefix`.
    fn niceness_of(prefix: &str) -> Vec<i32> {
        threads_named(prefix).into_iter().map(|t| t.nice).collect()
    }

    #[test]
    /// The delivery log's threads run below the store's ([`Role`]).
    fn the_logs_threads_run_below_the_stores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let _store = SqliteStore::open(&path).unwrap();
        let _log = SqliteDeliveryLog::open_beside(&path).unwrap();
        let own = calling_thread_niceness();
        let lowered = (own + NICENESS).min(19);
        // A thread names and lowers itself as it starts: give it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (log, store) = loop {
            let (log, store) = (niceness_of("log-"), niceness_of("sqlite-"));
            let started = log.len() >= 2 && store.len() >= 2;
            if started && log.iter().all(|&n| n == lowered) || std::time::Instant::now() > deadline
            {
                break (log, store);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(log.len() >= 2, "the log's writer and checkpointer: {log:?}");
        assert!(log.iter().all(|&n| n == lowered), "{log:?}");
        assert!(
            store.len() >= 2 && store.iter().all(|&n| n == own),
            "{store:?}"
        );
    }
}
