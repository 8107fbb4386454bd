//! WAL checkpoints off the commit path. By default SQLite copies the WAL
//! back into the database (and syncs both files) inside whichever commit
//! crosses 1 000 pages, while that writer holds the write lock: every
//! request behind it waits. Here a thread of the store checkpoints ten times
//! a second, on its own connection, PASSIVE: it copies what the WAL holds
//! without blocking the writer or readers (the slow part: copying, syncing).
//!
//! A WAL checkpointed that way never starts over while commits keep coming
//! (each round ends with newer frames than it copied), so once it holds
//! [`RESTART_PAGES`] the thread checkpoints once more on the writing
//! connection, under its lock: only the frames committed since remain to
//! copy, the WAL is then wholly checkpointed and the next commit restarts it
//! from the beginning. Commits wait for that short pass once per
//! [`RESTART_PAGES`] of WAL instead of for every checkpoint.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the background thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) after which the WAL is made to start over (96 MiB).
/// The pass that does it holds the writer for two fsyncs, and the commit
/// after it syncs the WAL's new header: 7–22 ms here, and most requests
/// slower than 10 ms waited in one. At 28 000 events/s serve writes
/// ≈ 34 MiB of WAL a second, so 32 MiB meant one such stall a second and
/// an ack p99 of 12–15 ms; at 96 MiB, one every three seconds and 7–10 ms
/// (BENCHMARKS.md "Group commit", "Consumers on a runtime of their own").
/// The price is disk: the WAL file keeps its largest size.
const RESTART_PAGES: i64 = 24_000;
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
    pub fn start(path: &Path, writer: Arc<Mutex<Connection>>) -> rusqlite::Result<Self> {
        let conn = super::connect(path)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &writer, &stopped))
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

fn run(conn: &Connection, writer: &Mutex<Connection>, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if checkpoint(conn) >= RESTART_PAGES
            && let Ok(writer) = writer.lock()
        {
            checkpoint(&writer);
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
