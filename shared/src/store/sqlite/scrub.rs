//! Making deleted rows unrecoverable from a database's files
//! (docs/interface/privacy.md "Erasure"): every connection sets
//! `secure_delete = FAST`, which zeroes deleted content inside b-tree
//! pages; [`compact`] overwrites the free pages and empties the WAL. The
//! store and the delivery log each have the `scrub` table it writes.

use rusqlite::Connection;

/// Zeros written per row when overwriting free pages (a blob is ≤ 1 GB).
const SCRUB_BYTES: i64 = 64 * 1024 * 1024;
/// Overwrites every free page with zeros (blobs as large as the free list
/// take its pages, then give them back zeroed), then checkpoints the WAL
/// into the file and truncates it: no deleted row survives in either file.
pub(super) fn compact(conn: &mut Connection) -> rusqlite::Result<()> {
    let free = |conn: &Connection| -> rusqlite::Result<i64> {
        conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
    };
    if free(conn)? > 0 {
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Until the free list is used up: an overflow page carries
        // page_size - 4 bytes of a blob, and part of each blob stays on its
        // row's own page, so each takes a page more than the free list
        // holds (the file may grow by it; the page is free and zero after).
        loop {
            let left = free(&tx)?;
            if left == 0 {
                break;
            }
            let bytes = (left * (page - 4) + page).min(SCRUB_BYTES);
            tx.execute("INSERT INTO scrub (zeros) VALUES (zeroblob(?1))", [bytes])?;
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
