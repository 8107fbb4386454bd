//! WAL checkpoints off the commit path. By default SQLite copies the WAL
//! back into the database (and syncs both files) inside whichever commit
//! crosses 1 000 pages, while that writer holds the write lock: every
//! request behind it waits. Here a thread of the store checkpoints ten times
//! a second, in two steps:
//!
//! 1. on its own connection, PASSIVE: copies what the WAL holds without
//!    blocking the writer or readers (the slow part: copying and syncing);
//! 2. on the writing connection, under its lock: copies the few frames
//!    committed meanwhile, so the WAL is wholly checkpointed and the next
//!    commit starts it over from the beginning (a WAL checkpointed only by
//!    step 1 never restarts while commits keep coming, and grows).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the background thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) after which a commit checkpoints anyway: reached only
/// if the background checkpoints fall behind (e.g. a reader holding an old
/// snapshot), it bounds the WAL on disk to ~16 MiB.
pub const FALLBACK_PAGES: u32 = 4_000;

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

/// `PRAGMA wal_checkpoint(PASSIVE)`: whether the WAL held frames. A busy or
/// failed checkpoint is left to the next round (or the fallback).
fn checkpoint(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(frames) => frames > 0,
        Err(e) => {
            tracing::debug!(error = %e, "background WAL checkpoint failed");
            false
        }
    }
}

fn run(conn: &Connection, writer: &Mutex<Connection>, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if checkpoint(conn)
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
