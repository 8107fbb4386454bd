//! Writing the SQLite delivery log: a batch of the recorder's, a user's
//! erasure, the retention sweep. All run on the log's writing thread.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::body_files::{self, BodyRef};
use super::{SqliteDeliveryLog, body_ref, id_at, io_failure, lock};
use crate::delivery_log::batch::LogBatch;
use crate::delivery_log::model::LogEntry;
use crate::ports::StoreResult;
use crate::store::sqlite::to_json;
use crate::store::uuids;

/// Names as one text, each between newlines, for `instr`.
fn names_text(entry: &LogEntry) -> String {
    let mut text = String::from("\n");
    for name in &entry.events.names {
        text.push_str(name);
        text.push('\n');
    }
    text
}
pub(super) async fn record(log: &SqliteDeliveryLog, batch: LogBatch) -> StoreResult<()> {
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
    let files = log.bodies.clone();
    // A transaction of its own: each entry's users go to pages spread
    // over the whole user index, and a savepoint would keep a copy of
    // each in memory (`SqliteStore::run_transaction`).
    log.db
        .run_transaction(move |tx| {
            // Bodies first, at the end the database says their file has,
            // and that end moved in this transaction: if it never commits,
            // the next batch writes over them (`body_files::BodyFiles`).
            let written: HashMap<(&str, &str), BodyRef> = {
                let list: Vec<_> = bodies.iter().map(|(_, body)| body).collect();
                let hour_ms = body_files::hour_at(crate::domain::time::now_ms());
                let committed: i64 = tx
                    .query_row(
                        "SELECT len FROM log_body_files WHERE hour_ms = ?1",
                        [hour_ms],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                let refs = lock(&files)?
                    .append(hour_ms, u64::try_from(committed).unwrap_or(0), &list)
                    .map_err(|e| io_failure("appending request bodies", e))?;
                if let Some(last) = refs.last() {
                    tx.execute(
                        "INSERT INTO log_body_files (hour_ms, len) VALUES (?1, ?2)
                         ON CONFLICT DO UPDATE SET len = excluded.len",
                        params![hour_ms, (last.offset + last.len) as i64],
                    )?;
                }
                bodies
                    .iter()
                    .map(|(w, b)| (w.as_str(), b.moe_request_id.as_str()))
                    .zip(refs)
                    .collect()
            };
            // Encoding and compressing here keeps them off the async
            // runtime: only the log's own writer waits for them.
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO log_entries
                       (id, workspace, stream, outcome, moe_request_id, names, doc, uuids,
                        body_hour, body_offset, body_len)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                    let body = written
                        .get(&(entry.workspace_id.as_str(), entry.moe_request_id.as_str()));
                    insert.execute(params![
                        entry.id,
                        entry.workspace_id,
                        entry.stream,
                        entry.outcome.as_str(),
                        entry.moe_request_id,
                        names_text(entry),
                        to_json(entry)?,
                        uuids,
                        body.map(|b| b.hour_ms),
                        body.map(|b| b.offset as i64),
                        body.map(|b| b.len as i64)
                    ])?;
                    for uid in &entry.events.uids {
                        user.execute(params![entry.workspace_id, uid, entry.id])?;
                    }
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

pub(super) async fn erase_user(
    log: &SqliteDeliveryLog,
    workspace: &str,
    uid: &str,
) -> StoreResult<u64> {
    let (workspace, uid) = (workspace.to_owned(), uid.to_owned());
    let files = log.bodies.clone();
    // Alone: the compaction's TRUNCATE checkpoint runs outside any
    // transaction.
    log.db
        .run_alone(move |conn| {
            let tx = conn.transaction()?;
            let found: Vec<(String, String, Option<BodyRef>)> = {
                let mut stmt = tx.prepare(
                    "SELECT e.id, e.moe_request_id, e.body_hour, e.body_offset, e.body_len
                     FROM log_entry_users u JOIN log_entries e ON e.id = u.id
                     WHERE u.workspace = ?1 AND u.uid = ?2",
                )?;
                stmt.query_map(params![workspace, uid], |r| {
                    Ok((r.get(0)?, r.get(1)?, body_ref(r, 2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            // The bodies go first, flushed: an erasure cut short after
            // this finds the entries again and overwrites them again.
            let refs: Vec<BodyRef> = found.iter().filter_map(|(.., at)| *at).collect();
            lock(&files)?
                .erase(&refs)
                .map_err(|e| io_failure("erasing request bodies", e))?;
            for (id, request, _) in &found {
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
            crate::store::sqlite::scrub::compact(conn)?;
            Ok(found.len() as u64)
        })
        .await
}

pub(super) async fn sweep(log: &SqliteDeliveryLog, before_ms: i64) -> StoreResult<u64> {
    // In chunks, each its own transaction: the writer is never held long.
    const CHUNK: i64 = 2_000;
    let before = id_at(before_ms);
    let files = log.bodies.clone();
    let mut removed = 0;
    loop {
        let before = before.clone();
        let gone = log
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
    log.db
        .run_transaction(move |conn| {
            conn.execute("DELETE FROM log_bodies WHERE at_ms < ?1", [before_ms])?;
            conn.execute("DELETE FROM log_counts WHERE bucket_ms < ?1", [before_ms])?;
            conn.execute("DELETE FROM log_waiting WHERE at_ms < ?1", [before_ms])?;
            conn.execute("DELETE FROM log_syncs WHERE id < ?1", [id_at(before_ms)])?;
            // After the entries that refer to them.
            lock(&files)?
                .sweep(before_ms)
                .map_err(|e| io_failure("removing body files", e))?;
            conn.execute(
                "DELETE FROM log_body_files WHERE hour_ms <= ?1 - 3600000",
                [before_ms],
            )?;
            Ok(())
        })
        .await?;
    Ok(removed)
}
