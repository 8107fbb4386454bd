//! WAL checkpoints off the commit path. By default SQLite copies the WAL
//! back into the database (and syncs both files) inside whichever commit
//! crosses 1 000 pages, while that writer holds the write lock: every
//! request behind it waits. Here a thread of the store checkpoints ten times
//! a second, on its own connection, PASSIVE: it copies what the WAL holds
//! without blocking the writer or readers (the slow part: copying, syncing).
//! (The delivery log's thread, every 2 s: `Role::checkpoint_interval`.)
//!
//! A WAL checkpointed that way never starts over while commits keep coming
//! (each round ends with newer frames than it copied), so once it holds
//! [`RESTART_PAGES`] the thread checkpoints once more on the writing
//! connection, under its lock: only the frames committed since remain to
//! copy, the WAL is then wholly checkpointed and the next commit restarts it
//! from the beginning. Commits wait for that short pass once per
//! [`RESTART_PAGES`] of WAL instead of for every checkpoint.
//!
//! That pass ends by syncing the database file, and a sync takes as long
//! as the data it flushes (≈ 20 ms for 8 MiB on this VM, 0.1 ms for one
//! page): the pages the background rounds copied since the last sync were
//! what the writer waited for. So before taking the writer the thread
//! flushes them itself, copies what came meanwhile and flushes again; the
//! locked pass is left with one moment's pages (BENCHMARKS.md "The WAL
//! restart without the flush").

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// WAL pages (4 KiB) after which the WAL is made to start over (96 MiB).
/// The pass that does it holds the writer for two fsyncs, and the commit
/// after it syncs the WAL's new header: 7–22 ms before the flushes below
/// (0–12 ms, mostly 1–4, with them). At 28 000 events/s serve writes
/// ≈ 34 MiB of WAL a second, so 32 MiB meant one such stall a second and
/// an ack p99 of 12–15 ms; at 96 MiB, one every three seconds and 7–10 ms
/// (BENCHMARKS.md "Group commit", "Packed queue bodies, …").
/// The price is disk: the WAL file keeps its largest size.
const RESTART_PAGES: i64 = 24_000;
/// Copy-and-flush rounds before the locked pass: each leaves the pages
/// committed while the one before it flushed.
const CATCH_UP_ROUNDS: usize = 2;
/// WAL pages (4 KiB) after which a commit checkpoints anyway: reached only
/// if the background checkpoints fall behind (e.g. a reader holding an old
/// snapshot), it bounds the WAL on disk to ~192 MiB.
pub const FALLBACK_PAGES: u32 = 48_000;

/// The checkpointing thread; stopped (and joined) when dropped.
pub struct Checkpointer {
    /// Dropping it wakes the thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(
        path: &Path,
        writer: Arc<Mutex<Connection>>,
        role: super::Role,
    ) -> rusqlite::Result<Self> {
        let conn = super::connect(path)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(role.thread_name("checkpoint"))
            .spawn(move || {
                role.on_thread_start();
                run(&conn, &writer, &stopped, role.checkpoint_interval())
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: the pages the WAL holds. A busy or
/// failed checkpoint is left to the next round (or the fallback).
fn checkpoint(conn: &Connection) -> i64 {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(pages) => pages,
        Err(e) => {
            tracing::debug!(error = %e, "background WAL checkpoint failed");
            0
        }
    }
}

/// Flushes what was written to the database file to disk, through
/// SQLite's own handle of it: a second descriptor of the file, once
/// closed, would drop the locks SQLite holds on it (POSIX advisory locks
/// belong to the process, not the descriptor). Fails with SQLite's code.
fn sync_database(conn: &Connection) -> Result<(), i32> {
    use rusqlite::ffi;
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is this thread's open connection; FILE_POINTER
    // only writes the address of its main database file into `file`.
    let found = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    if found != ffi::SQLITE_OK || file.is_null() {
        return Err(found);
    }
    // SAFETY: the file stays open as long as the connection, which this
    // thread holds; xSync is its VFS's own sync of it.
    let synced = unsafe {
        match (*file).pMethods.as_ref().and_then(|m| m.xSync) {
            Some(sync) => sync(file, ffi::SQLITE_SYNC_NORMAL),
            None => ffi::SQLITE_OK,
        }
    };
    match synced {
        ffi::SQLITE_OK => Ok(()),
        code => Err(code),
    }
}

/// [`sync_database`]; a failure only costs the locked pass its time.
fn flush(conn: &Connection) {
    if let Err(code) = sync_database(conn) {
        tracing::debug!(
            code,
            "syncing the database file before a WAL restart failed"
        );
    }
}

fn run(
    conn: &Connection,
    writer: &Mutex<Connection>,
    stopped: &mpsc::Receiver<()>,
    every: Duration,
) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
        if checkpoint(conn) < RESTART_PAGES {
            continue;
        }
        flush(conn);
        for _ in 0..CATCH_UP_ROUNDS {
            checkpoint(conn);
            flush(conn);
        }
        if let Ok(writer) = writer.lock() {
            let started = std::time::Instant::now();
            checkpoint(&writer);
            tracing::debug!(
                held_ms = started.elapsed().as_secs_f64() * 1e3,
                "WAL checkpointed on the writing connection; the next commit restarts it"
            );
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_file_is_synced_through_sqlites_own_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = super::super::connect(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        checkpoint(&conn);
        assert_eq!(sync_database(&conn), Ok(()));
        // SQLite's locks are intact: a second connection still waits for
        // this one's write transaction instead of writing beside it.
        conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);")
            .unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        let busy = other.execute("INSERT INTO t VALUES (3)", []).unwrap_err();
        assert_eq!(
            busy.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(sync_database(&conn), Ok(()));
        let rows: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
    }
}
