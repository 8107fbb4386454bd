//! WAL checkpoints off the commit path. By default SQLite copies the WAL
//! back into the database inside whichever commit crosses 1 000 pages, while
//! that writer holds the write lock: every request behind it waits
//! (bench/PROFILE-before.md). Here a thread of the store checkpoints
//! (PASSIVE: it never blocks the writer nor readers) a few times a second,
//! so commits only append to the WAL.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the background thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) after which a commit checkpoints anyway: reached only
/// when the background checkpoints fall far behind (e.g. a reader holding
/// an old snapshot), it bounds the WAL on disk to ~40 MiB.
pub const FALLBACK_PAGES: u32 = 10_000;

/// The checkpointing thread; stopped (and joined) when dropped.
pub struct Checkpointer {
    /// Dropping it wakes the thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> rusqlite::Result<Self> {
        let conn = super::connect(path)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        // Busy (another process checkpointing) or failed: the next round,
        // or the fallback in a commit, does it.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "background WAL checkpoint failed");
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
