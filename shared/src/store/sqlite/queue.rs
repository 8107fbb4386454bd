//! An SQS-like queue in the database: visibility timeouts, per-message delays,
//! receive counts. A received message that is never deleted (its consumer
//! died) becomes visible again when its visibility timeout ends.
//!
//! Bodies are stored LZ4-packed, as BLOBs: a body of JSON events shrinks
//! several times over, and it was half of the WAL a request wrote
//! (BENCHMARKS.md "Packed queue bodies"). A TEXT body is one stored before
//! they were packed, and is read as it is.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{FromSql, FromSqlError, ValueRef};
use rusqlite::{params, params_from_iter};

use super::savepoint::Savepoint;
use super::{SqliteStore, placeholders};
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::ports::{
    MAX_MESSAGE_BODY_BYTES, OutgoingMessage, Queue, Received, StoreError, StoreResult, check_body,
    check_delay,
};
use crate::store::packed;

/// How often an empty receive looks again while waiting: well inside the
/// 0.5 s delivery promise for due messages.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct SqliteQueue {
    store: SqliteStore,
    name: String,
}

impl SqliteQueue {
    pub fn new(store: SqliteStore, name: &str) -> Self {
        Self {
            store,
            name: name.to_owned(),
        }
    }

    /// Sends `messages`, held under `hold` when given ([`Queue::send_held`]).
    async fn insert(&self, hold: Option<String>, messages: &[OutgoingMessage]) -> StoreResult<()> {
        let mut packed = Vec::with_capacity(messages.len());
        for m in messages {
            check_delay(m.delay)?;
            check_body(&m.body)?;
            packed.push((m.delay, pack_body(&m.body)));
        }
        let queue = self.name.clone();
        self.store
            .run(move |conn| {
                let now = now_ms();
                let tx = Savepoint::open(conn)?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO queue_messages (id, queue, visible_at_ms, sent_at_ms, hold_key)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
                    let mut insert_body =
                        tx.prepare_cached("INSERT INTO queue_bodies (seq, body) VALUES (?1, ?2)")?;
                    for (delay, body) in &packed {
                        let visible_at = now + delay.as_millis() as i64;
                        insert.execute(params![random_id(), queue, visible_at, now, hold])?;
                        insert_body.execute(params![tx.last_insert_rowid(), body])?;
                    }
                }
                tx.commit()
            })
            .await
    }

    async fn receive_now(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Received>> {
        let queue = self.name.clone();
        let max = max.clamp(1, 10);
        self.store
            .run(move |conn| {
                let now = now_ms();
                let hidden_until = now + visibility.as_millis() as i64;
                let tx = Savepoint::open(conn)?;
                let mut out = Vec::new();
                {
                    let mut due = tx.prepare_cached(&due_sql(max))?;
                    let rows = due
                        .query_map(params![queue, now], |r| {
                            let id: String = r.get(1)?;
                            let body =
                                read_body(r.get_ref(2)?).unwrap_or_else(|e| unreadable(&id, &e));
                            Ok((
                                r.get::<_, i64>(0)?,
                                id,
                                body,
                                r.get::<_, u32>(3)?,
                                r.get::<_, i64>(4)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let mut take = tx.prepare_cached(
                        "UPDATE queue_messages SET receipt = ?2, visible_at_ms = ?3,
                           receive_count = receive_count + 1 WHERE seq = ?1",
                    )?;
                    for (seq, id, body, count, sent_at_ms) in rows {
                        let receipt = random_id();
                        take.execute(params![seq, receipt, hidden_until])?;
                        out.push(Received {
                            message_id: id,
                            receipt_handle: receipt,
                            body,
                            receive_count: count + 1,
                            sent_at_ms,
                        });
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await
    }
}

/// The due messages of a queue, `max` (1 to 10) of them. The limit is
/// written into the statement, not bound: SQLite plans a bound `LIMIT` with
/// its value, so binding it again re-prepares the statement on every
/// receive: 40 % of the writing thread's instructions at 800 events/s, and
/// more when idle, as consumers poll (BENCHMARKS.md "Issue 22, ninth
/// session"). Ten statements at most, each prepared once.
fn due_sql(max: usize) -> String {
    format!(
        "SELECT m.seq, m.id, b.body, m.receive_count, m.sent_at_ms
         FROM queue_messages m JOIN queue_bodies b ON b.seq = m.seq
         WHERE m.queue = ?1 AND m.visible_at_ms <= ?2
         ORDER BY m.visible_at_ms, m.seq LIMIT {max}"
    )
}

/// A body as the queue stores it.
pub(super) fn pack_body(body: &str) -> Vec<u8> {
    packed::pack(body)
}

/// A stored body: packed, or TEXT from before bodies were packed. One that
/// cannot be unpacked is an error, never a panic or an allocation past the
/// queue's largest body.
pub(super) fn read_body(value: ValueRef<'_>) -> Result<String, FromSqlError> {
    match value {
        ValueRef::Blob(bytes) => packed::unpack(bytes, MAX_MESSAGE_BODY_BYTES)
            .map_err(|e| FromSqlError::Other(Box::new(e))),
        other => String::column_result(other),
    }
}

/// What a consumer receives for a body that cannot be read (a damaged
/// database file): text no consumer decodes, so the message becomes a dead
/// letter that says why, instead of failing every receive of its queue.
fn unreadable(message_id: &str, error: &FromSqlError) -> String {
    tracing::error!(message_id, %error, "a queued message's stored body cannot be read");
    format!("(the stored body of message {message_id} cannot be read: {error})")
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> StoreResult<()> {
        self.insert(None, messages).await
    }

    async fn send_held(&self, hold: &str, messages: &[OutgoingMessage]) -> StoreResult<()> {
        self.insert(Some(hold.to_owned()), messages).await
    }

    fn can_wake(&self) -> bool {
        true
    }

    async fn wake(&self, hold: &str) -> StoreResult<u64> {
        let (queue, hold) = (self.name.clone(), hold.to_owned());
        // Only messages nobody has received since they were sent: one in
        // flight (received, being handled) keeps its visibility timeout.
        let woken = self
            .store
            .run(move |conn| {
                let now = now_ms();
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at_ms = ?3
                     WHERE queue = ?1 AND hold_key = ?2 AND receive_count = 0
                       AND visible_at_ms > ?3",
                )?
                .execute(params![queue, hold, now])
            })
            .await?;
        Ok(woken as u64)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> StoreResult<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = self.receive_now(max, visibility).await?;
            if !received.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    async fn delete(&self, receipt_handles: &[String]) -> StoreResult<()> {
        let queue = self.name.clone();
        let handles = receipt_handles.to_vec();
        self.store
            .run(move |conn| {
                let tx = Savepoint::open(conn)?;
                for chunk in handles.chunks(super::IN_CHUNK) {
                    let sql = format!(
                        "DELETE FROM queue_messages WHERE queue = ? AND receipt IN ({})
                         RETURNING seq",
                        placeholders(chunk.len())
                    );
                    let args =
                        std::iter::once(queue.as_str()).chain(chunk.iter().map(String::as_str));
                    let deleted = tx
                        .prepare_cached(&sql)?
                        .query_map(params_from_iter(args), |r| r.get::<_, i64>(0))?
                        .collect::<rusqlite::Result<Vec<i64>>>()?;
                    let mut delete_body =
                        tx.prepare_cached("DELETE FROM queue_bodies WHERE seq = ?1")?;
                    for seq in deleted {
                        delete_body.execute([seq])?;
                    }
                }
                tx.commit()
            })
            .await
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> StoreResult<()> {
        let queue = self.name.clone();
        let handle = receipt_handle.to_owned();
        let changed = self
            .store
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at_ms = ?3 WHERE queue = ?1 AND receipt = ?2",
                )?
                .execute(params![queue, handle, now_ms() + visibility.as_millis() as i64])
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(
                "receipt handle is not in flight on this queue".into(),
            ));
        }
        Ok(())
    }

    async fn approximate_len(&self) -> StoreResult<u64> {
        let queue = self.name.clone();
        self.store
            .read(move |conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                    [queue],
                    |r| r.get(0),
                )
            })
            .await
    }

    fn source_arn(&self) -> String {
        format!("arn:engage-bridge:sqlite:local:{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISIBILITY: Duration = Duration::from_secs(30);

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
        (dir, store)
    }

    async fn stored(store: &SqliteStore) -> Vec<(String, usize)> {
        store
            .read(|conn| {
                conn.prepare("SELECT typeof(body), length(body) FROM queue_bodies ORDER BY seq")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .await
            .unwrap()
    }

    /// How often the statement `sql` was prepared again since it was
    /// first cached on the writing connection.
    async fn reprepared(store: &SqliteStore, sql: String) -> i32 {
        store
            .run(move |conn| {
                let statement = conn.prepare_cached(&sql)?;
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn receiving_again_does_not_prepare_the_statement_again() {
        let (_dir, store) = open();
        let queue = store.queue("q");
        let messages: Vec<_> = (0..9)
            .map(|i| OutgoingMessage::now(format!("m{i}")))
            .collect();
        queue.send(&messages).await.unwrap();
        for max in [1, 2, 1, 2, 1, 2] {
            let got = queue
                .receive(max, VISIBILITY, Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(got.len(), max);
        }
        assert_eq!(reprepared(&store, due_sql(1)).await, 0);
        assert_eq!(reprepared(&store, due_sql(2)).await, 0);

        // Why the limit is not bound: the same statement with `LIMIT ?3`
        // is prepared again each time it is bound.
        let bound = "SELECT m.seq FROM queue_messages m
                     WHERE m.queue = ?1 AND m.visible_at_ms <= ?2
                     ORDER BY m.visible_at_ms, m.seq LIMIT ?3";
        for max in [1, 2, 1] {
            store
                .run(move |conn| {
                    let mut statement = conn.prepare_cached(bound)?;
                    let rows =
                        statement.query_map(params!["q", now_ms(), max], |r| r.get::<_, i64>(0))?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                })
                .await
                .unwrap();
        }
        assert!(reprepared(&store, bound.to_owned()).await >= 2);
    }

    #[tokio::test]
    async fn bodies_are_stored_packed_and_read_back_as_sent() {
        let (_dir, store) = open();
        let queue = store.queue("q");
        let body = format!(
            r#"{{"events":[{}]}}"#,
            r#"{"uid":"ü-1","n":1},"#.repeat(2000)
        );
        queue
            .send(&[OutgoingMessage::now(body.clone())])
            .await
            .unwrap();

        let [(kind, len)] = &stored(&store).await[..] else {
            panic!("one body stored")
        };
        assert_eq!(kind, "blob");
        assert!(
            len * 4 < body.len(),
            "{len} bytes stored for {}",
            body.len()
        );
        let got = queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, body);
    }

    #[tokio::test]
    async fn a_text_body_stored_before_packing_is_read_as_it_is() {
        let (_dir, store) = open();
        store
            .run(|conn| {
                conn.execute(
                    "INSERT INTO queue_messages (id, queue, visible_at_ms, sent_at_ms)
                     VALUES ('m-1', 'q', 0, 0)",
                    [],
                )?;
                conn.execute(
                    "INSERT INTO queue_bodies (seq, body) VALUES (last_insert_rowid(), ?1)",
                    [r#"{"events":[]}"#],
                )
            })
            .await
            .unwrap();
        let got = store
            .queue("q")
            .receive(10, VISIBILITY, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got[0].body, r#"{"events":[]}"#);
    }

    #[tokio::test]
    async fn a_body_that_cannot_be_read_reaches_its_consumer_undecodable_alone() {
        let (_dir, store) = open();
        let queue = store.queue("q");
        let sent = [r#"{"n":1}"#, r#"{"n":2}"#].map(|b| OutgoingMessage::now(b.into()));
        queue.send(&sent).await.unwrap();
        // The first claims 4 GiB: refused before any allocation.
        store
            .run(|conn| {
                conn.execute(
                    "UPDATE queue_bodies SET body = X'FFFFFFFF10'
                     WHERE seq = (SELECT MIN(seq) FROM queue_bodies)",
                    [],
                )
            })
            .await
            .unwrap();
        let got = queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(serde_json::from_str::<serde_json::Value>(&got[0].body).is_err());
        assert!(got[0].body.contains(&got[0].message_id), "{}", got[0].body);
        assert_eq!(got[1].body, r#"{"n":2}"#);
    }

    #[tokio::test]
    async fn a_body_over_the_queue_maximum_is_refused() {
        let (_dir, store) = open();
        let queue = store.queue("q");
        let err = queue
            .send(&[OutgoingMessage::now("x".repeat(MAX_MESSAGE_BODY_BYTES + 1))])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert_eq!(stored(&store).await, vec![]);
    }
}
