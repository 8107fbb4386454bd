//! Reading the SQLite delivery log: the console's listings, an entry, a
//! request's body, counts, syncs and each stream's health.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};

use super::{SqliteDeliveryLog, body_files, body_ref, id_at, io_failure};
use crate::delivery_log::model::{
    LastAttempt, LastKind, LogEntry, LogPage, LogQuery, REQUEST_BODY_LIMIT, StoredBody,
    StreamCounts, StreamHealth, SyncRecord,
};
use crate::ports::StoreResult;
use crate::store::sqlite::{from_json, map_sqlite_error};
use crate::store::{packed, uuids};

/// An entry as a row holds it: its JSON, and its event uuids apart
/// when they were stored as bytes.
struct StoredEntry {
    doc: String,
    uuids: Option<Vec<u8>>,
}

fn stored_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        doc: row.get(0)?,
        uuids: row.get(1)?,
    })
}

impl StoredEntry {
    fn entry(self) -> rusqlite::Result<LogEntry> {
        let mut entry: LogEntry = from_json(&self.doc)?;
        if let Some(packed) = self.uuids {
            entry.events.uuids = uuids::unpack(&packed).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, e.into())
            })?;
        }
        Ok(entry)
    }
}

pub(super) async fn list(
    log: &SqliteDeliveryLog,
    workspace: &str,
    query: &LogQuery,
) -> StoreResult<LogPage> {
    let limit = query.limit.clamp(1, 1000);
    let mut sql = String::from("SELECT e.doc, e.uuids FROM ");
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(uid) = &query.uid {
        sql.push_str(
            "log_entry_users u JOIN log_entries e ON e.id = u.id
             WHERE u.workspace = ? AND u.uid = ? AND e.workspace = u.workspace",
        );
        args.push(workspace.to_owned().into());
        args.push(uid.clone().into());
    } else {
        sql.push_str("log_entries e WHERE e.workspace = ?");
        args.push(workspace.to_owned().into());
    }
    let mut bound = |clause: &str, value: SqlValue| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(stream) = &query.stream {
        bound(" AND e.stream = ?", stream.clone().into());
    }
    if let Some(outcome) = query.outcome {
        bound(" AND e.outcome = ?", outcome.as_str().to_owned().into());
    }
    if let Some(request) = &query.moe_request_id {
        bound(" AND e.moe_request_id = ?", request.clone().into());
    }
    if let Some(event) = &query.event {
        bound(" AND instr(e.names, ?) > 0", format!("\n{event}\n").into());
    }
    if let Some(since) = query.since_ms {
        bound(" AND e.id >= ?", id_at(since).into());
    }
    if let Some(until) = query.until_ms {
        bound(" AND e.id < ?", id_at(until.saturating_add(1)).into());
    }
    if let Some(before) = &query.before {
        bound(" AND e.id < ?", before.clone().into());
    }
    sql.push_str(" ORDER BY e.id DESC LIMIT ?");
    args.push((limit as i64 + 1).into());
    let docs = log
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map(params_from_iter(args), stored_entry)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    let more = docs.len() > limit;
    let entries = docs
        .into_iter()
        .take(limit)
        .map(|stored| stored.entry().map_err(map_sqlite_error))
        .collect::<StoreResult<Vec<_>>>()?;
    let next_before = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
    Ok(LogPage {
        entries,
        next_before,
    })
}

pub(super) async fn entry_by_id(
    log: &SqliteDeliveryLog,
    workspace: &str,
    id: &str,
) -> StoreResult<Option<LogEntry>> {
    let (workspace, id) = (workspace.to_owned(), id.to_owned());
    let doc = log
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT doc, uuids FROM log_entries WHERE workspace = ?1 AND id = ?2",
            )?;
            let mut rows = stmt.query_map(params![workspace, id], stored_entry)?;
            rows.next().transpose()
        })
        .await?;
    doc.map(|stored| stored.entry().map_err(map_sqlite_error))
        .transpose()
}

pub(super) async fn body(
    log: &SqliteDeliveryLog,
    workspace: &str,
    moe_request_id: &str,
) -> StoreResult<Option<StoredBody>> {
    let (workspace, request) = (workspace.to_owned(), moe_request_id.to_owned());
    let dir = log.bodies_dir.clone();
    log.db
        .read(move |conn| {
            let unpack = |bytes: &[u8]| {
                packed::unpack(bytes, REQUEST_BODY_LIMIT).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Blob,
                        Box::new(e),
                    )
                })
            };
            // The newest attempt's body: in the body files since they
            // exist, in `log_bodies` before.
            let newest = conn
                .prepare_cached(
                    "SELECT body_hour, body_offset, body_len FROM log_entries
                     WHERE workspace = ?1 AND moe_request_id = ?2 AND body_hour IS NOT NULL
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_map(params![workspace, request], |r| body_ref(r, 0))?
                .next()
                .transpose()?
                .flatten();
            if let Some(at) = newest {
                let Some(record) = body_files::read(&dir, at)
                    .map_err(|e| io_failure("reading a request body", e))?
                else {
                    return Ok(None);
                };
                return Ok(Some(StoredBody {
                    moe_request_id: request,
                    at_ms: record.at_ms,
                    body: unpack(&record.packed)?,
                    truncated: record.truncated,
                }));
            }
            let mut stmt = conn.prepare_cached(
                "SELECT at_ms, body, packed, truncated FROM log_bodies
                 WHERE workspace = ?1 AND moe_request_id = ?2",
            )?;
            let mut rows = stmt.query_map(params![workspace, request], |r| {
                let body = match r.get_ref(2)?.as_blob_or_null()? {
                    Some(bytes) => unpack(bytes)?,
                    None => r.get(1)?,
                };
                Ok(StoredBody {
                    moe_request_id: request.clone(),
                    at_ms: r.get(0)?,
                    body,
                    truncated: r.get(3)?,
                })
            })?;
            rows.next().transpose()
        })
        .await
}

pub(super) async fn counts(
    log: &SqliteDeliveryLog,
    workspace: &str,
    since_ms: i64,
) -> StoreResult<Vec<StreamCounts>> {
    let workspace = workspace.to_owned();
    let since = crate::delivery_log::model::bucket_of(since_ms);
    let rows = log
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT stream, kind, SUM(n) FROM log_counts
                 WHERE workspace = ?1 AND bucket_ms >= ?2 GROUP BY stream, kind",
            )?;
            stmt.query_map(params![workspace, since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    let mut by_stream: HashMap<String, StreamCounts> = HashMap::new();
    for (stream, kind, n) in rows {
        by_stream
            .entry(stream.clone())
            .or_insert_with(|| StreamCounts {
                stream,
                ..StreamCounts::default()
            })
            .counts
            .insert(kind, n.max(0) as u64);
    }
    let mut out: Vec<StreamCounts> = by_stream.into_values().collect();
    out.sort_by(|a, b| a.stream.cmp(&b.stream));
    Ok(out)
}

pub(super) async fn syncs(
    log: &SqliteDeliveryLog,
    workspace: &str,
    segment_id: &str,
    limit: usize,
) -> StoreResult<Vec<SyncRecord>> {
    let (workspace, segment) = (workspace.to_owned(), segment_id.to_owned());
    let docs = log
        .db
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM log_syncs WHERE workspace = ?1 AND segment = ?2
                 ORDER BY id DESC LIMIT ?3",
            )?;
            stmt.query_map(params![workspace, segment, limit as i64], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    docs.iter()
        .map(|d| from_json(d).map_err(map_sqlite_error))
        .collect()
}

pub(super) async fn health(
    log: &SqliteDeliveryLog,
    workspace: &str,
) -> StoreResult<Vec<StreamHealth>> {
    let workspace = workspace.to_owned();
    let (last, waiting) = log
        .db
        .read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT stream, kind, doc FROM log_last WHERE workspace = ?1")?;
            let last = stmt
                .query_map(params![workspace], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = conn.prepare_cached(
                "SELECT stream, COUNT(*), SUM(events) FROM log_waiting
                 WHERE workspace = ?1 GROUP BY stream",
            )?;
            let waiting = stmt
                .query_map(params![workspace], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((last, waiting))
        })
        .await?;
    let mut by_stream: HashMap<String, StreamHealth> = HashMap::new();
    for (stream, kind, doc) in last {
        let attempt: LastAttempt = from_json(&doc).map_err(map_sqlite_error)?;
        let health = StreamHealth::of(&mut by_stream, stream);
        if kind == LastKind::Success.as_str() {
            health.last_success = Some(attempt);
        } else {
            health.last_error = Some(attempt);
        }
    }
    for (stream, requests, events) in waiting {
        let health = StreamHealth::of(&mut by_stream, stream);
        health.waiting_requests = requests.max(0) as u64;
        health.waiting_events = events.max(0) as u64;
    }
    let mut out: Vec<StreamHealth> = by_stream.into_values().collect();
    out.sort_by(|a, b| a.stream.cmp(&b.stream));
    Ok(out)
}
