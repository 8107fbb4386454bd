//! What SQLite holds in memory while the delivery log writes a batch:
//! bounded by the page cache, not by how much of the log the batch
//! touches. Alone in its test binary: SQLite counts its memory for the
//! whole process (BENCHMARKS.md "Issue 22, tenth session").

use rusqlite::ffi;
use shared::delivery_log::batch::LogBatch;
use shared::delivery_log::model::{AttemptOutcome, EventSummary, LogEntry, entry_id};
use shared::ports::DeliveryLog;
use shared::store::sqlite::SqliteDeliveryLog;

const USERS: usize = 100_000;
const ENTRIES: usize = 500;
const UIDS_PER_ENTRY: usize = 10;

/// A delivery of ten users' events; uids long enough that the user index
/// spreads over many pages.
fn entry(n: usize) -> LogEntry {
    let at_ms = 1_700_000_000_000 + n as i64;
    let uids: Vec<String> = (0..UIDS_PER_ENTRY)
        .map(|i| {
            // Spread over the users as deliveries of a busy stream are.
            let user = (n * 7_919 + i * 104_729) % USERS;
            format!("user-{user:06}-{}", "x".repeat(160))
        })
        .collect();
    LogEntry {
        id: entry_id(at_ms),
        workspace_id: "ws".into(),
        stream: "hook".into(),
        at_ms,
        moe_request_id: format!("req-{n}"),
        outcome: AttemptOutcome::Delivered,
        attempt: 1,
        status: Some(200),
        error: None,
        latency_ms: Some(3),
        events: EventSummary {
            count: uids.len(),
            uuids: Vec::new(),
            names: vec!["Purchase".into()],
            uids,
        },
        request: None,
        response: None,
    }
}

fn batch(first: usize) -> LogBatch {
    LogBatch {
        entries: (first..first + ENTRIES).map(entry).collect(),
        ..LogBatch::default()
    }
}

/// SQLite's memory in use now and at its highest since the last reset;
/// `reset` starts a new high-water mark from now.
fn memory_used(reset: bool) -> (i64, i64) {
    let (mut current, mut highest) = (0, 0);
    // SAFETY: plain out-parameters; SQLite's status is thread-safe.
    unsafe {
        ffi::sqlite3_status64(
            ffi::SQLITE_STATUS_MEMORY_USED,
            &mut current,
            &mut highest,
            i32::from(reset),
        )
    };
    (current, highest)
}

#[tokio::test]
async fn a_log_batch_holds_no_copy_of_the_pages_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteDeliveryLog::open_beside(&dir.path().join("store.db")).unwrap();
    // A log of 20 000 deliveries: 200 000 user rows over thousands of pages.
    for n in 0..40 {
        log.record(batch(n * ENTRIES), 7).await.unwrap();
    }
    let (before, _) = memory_used(true);
    // One more batch: 5 000 user rows spread over those pages.
    log.record(batch(40 * ENTRIES), 7).await.unwrap();
    let grew_mib = (memory_used(false).1 - before) as f64 / 1_048_576.0;
    // The page cache (2 MiB a connection) and the batch's values; a copy
    // of each page changed was 24.7 MiB.
    assert!(
        grew_mib < 8.0,
        "SQLite's memory grew by {grew_mib:.1} MiB while the log wrote one batch"
    );
}
