//! The embedded schema. `user_version` records which migrations ran.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE workspaces (
    id   TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);
CREATE TABLE profiles (
    workspace TEXT NOT NULL,
    id        TEXT NOT NULL,
    uid       TEXT,
    doc       TEXT NOT NULL,
    PRIMARY KEY (workspace, id)
);
CREATE INDEX profiles_by_uid ON profiles (workspace, uid) WHERE uid IS NOT NULL;
CREATE TABLE anonymous_ids (
    workspace    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    profile_id   TEXT NOT NULL,
    PRIMARY KEY (workspace, anonymous_id)
);
CREATE TABLE segments (
    workspace      TEXT NOT NULL,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    segment_type   TEXT NOT NULL,
    source         TEXT NOT NULL,
    cohort_id      TEXT NOT NULL,
    member_count   INTEGER NOT NULL DEFAULT 0,
    sync_count     INTEGER NOT NULL DEFAULT 0,
    last_synced_at TEXT,
    PRIMARY KEY (workspace, id)
);
CREATE TABLE memberships (
    workspace     TEXT NOT NULL,
    segment_id    TEXT NOT NULL,
    profile_id    TEXT NOT NULL,
    uid           TEXT,
    anonymous_id  TEXT,
    in_segment    INTEGER NOT NULL,
    computed_time INTEGER NOT NULL,
    PRIMARY KEY (workspace, segment_id, profile_id)
);
CREATE INDEX memberships_by_profile ON memberships (workspace, profile_id);
CREATE TABLE idempotency (
    workspace     TEXT NOT NULL,
    key           TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workspace, key)
);
CREATE TABLE rate_counters (
    key           TEXT PRIMARY KEY,
    count         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX rate_counters_by_expiry ON rate_counters (expires_at_ms);
CREATE TABLE queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT UNIQUE,
    sent_at_ms    INTEGER NOT NULL
);
CREATE INDEX queue_messages_due ON queue_messages (queue, visible_at_ms);
"#,
    r#"
CREATE TABLE delivery_attempts (
    workspace     TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    doc           TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workspace, request_id, seq)
);
CREATE INDEX delivery_attempts_by_expiry ON delivery_attempts (expires_at_ms);
"#,
    r#"
CREATE TABLE dead_letters (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    id    TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    doc   TEXT NOT NULL
);
"#,
    // Membership versions become (time in ms, arrival sequence); stored
    // versions keep their time and arrived "before" every new one (sequence
    // 0). Segments get their arrival clock (docs/rules/member-matching.md
    // "Ordering: versions").
    r#"
ALTER TABLE memberships RENAME COLUMN computed_time TO time_ms;
UPDATE memberships SET time_ms = time_ms * 1000;
ALTER TABLE memberships ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN arrival_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN arrival_ms INTEGER NOT NULL DEFAULT 0;
"#,
    // Message bodies (up to 200 KiB) apart from the state a receive updates:
    // an update rewrites the whole row, body and all, when its size changes.
    r#"
CREATE TABLE queue_bodies (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
INSERT INTO queue_bodies (seq, body) SELECT seq, body FROM queue_messages;
ALTER TABLE queue_messages DROP COLUMN body;
"#,
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    run(conn, MIGRATIONS)
}

/// Runs the `migrations` the database has not run yet, each in a
/// transaction (the delivery log's file has its own list).
pub fn run(conn: &Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        // Re-check under the write lock: another process may have migrated.
        let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current <= i {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
        }
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberships_from_before_sequences_keep_their_time_in_ms() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO segments (workspace, id, name, segment_type, source, cohort_id)
               VALUES ('ws', 'amplitude-c', 'C', 'Partner - Amplitude', 'Amplitude', 'c');
             INSERT INTO memberships (workspace, segment_id, profile_id, in_segment, computed_time)
               VALUES ('ws', 'amplitude-c', 'm1', 1, 1692206763);",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let (time_ms, seq): (i64, i64) = conn
            .query_row("SELECT time_ms, seq FROM memberships", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((time_ms, seq), (1_692_206_763_000, 0));
        let clock: (i64, i64) = conn
            .query_row("SELECT arrival_seq, arrival_ms FROM segments", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(clock, (0, 0));
    }
}
