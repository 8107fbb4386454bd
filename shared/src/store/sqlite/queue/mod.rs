//! An SQS-like queue in the database: visibility timeouts, per-message delays,
//! receive counts. A received message that is never deleted (its consumer
//! died) becomes visible again when its visibility timeout ends.
//! How bodies are stored: body.rs.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, params_from_iter};

mod body;

use body::{TakenBody, unreadable};
pub(super) use body::{pack_body, read_body};

use super::savepoint::Savepoint;
use super::{SqliteStore, placeholders};
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::ports::{
    OutgoingMessage, Queue, Received, StoreError, StoreResult, check_body, check_delay,
};

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
        let rows = self.rows(hold, messages)?;
        self.store.run(move |conn| rows.insert(conn)).await
    }

    /// `messages` checked and packed, to insert into this queue on the
    /// writing connection (here, or in another write of the store).
    pub(in crate::store::sqlite) fn rows(
        &self,
        hold: Option<String>,
        messages: &[OutgoingMessage],
    ) -> StoreResult<NewRows> {
        let mut packed = Vec::with_capacity(messages.len());
        for m in messages {
            check_delay(m.delay)?;
            check_body(&m.body)?;
            packed.push((m.delay, pack_body(&m.body)));
        }
        Ok(NewRows {
            queue: self.name.clone(),
            hold,
            packed,
        })
    }

    async fn receive_now(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Received>> {
        let queue = self.name.clone();
        let max = max.clamp(1, 10);
        let taken = self
            .store
            .run(move |conn| {
                let now = now_ms();
                let hidden_until = now + visibility.as_millis() as i64;
                let tx = Savepoint::open(conn)?;
                let mut out = Vec::new();
                {
                    let mut due = tx.prepare_cached(&due_sql(max))?;
                    let rows = due
                        .query_map(params![queue, now], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                TakenBody::of(r.get_ref(2)?),
                                r.get::<_, u32>(3)?,
                                r.get::<_, i64>(4)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let mut take = tx.prepare_cached(
                        "UPDATE queue_messages SET receipt = ?2, visible_at_ms = ?3,
                           receive_count = receive_count + 1 WHERE seq = ?1",
                    )?;
                    for (seq, id, stored, count, sent_at_ms) in rows {
                        let receipt = random_id();
                        take.execute(params![seq, receipt, hidden_until])?;
                        out.push((id, receipt, stored, count + 1, sent_at_ms));
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await?;
        // Unpacked here, on the receiver's thread, once the writing
        // connection is free for the writes waiting for it.
        let received = taken
            .into_iter()
            .map(
                |(id, receipt, stored, receive_count, sent_at_ms)| Received {
                    body: stored
                        .and_then(TakenBody::read)
                        .unwrap_or_else(|e| unreadable(&id, &e)),
                    message_id: id,
                    receipt_handle: receipt,
                    receive_count,
                    sent_at_ms,
                },
            )
            .collect();
        Ok(received)
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

/// Messages ready to insert into one queue: checked, bodies packed.
pub(in crate::store::sqlite) struct NewRows {
    queue: String,
    hold: Option<String>,
    packed: Vec<(Duration, Vec<u8>)>,
}

impl NewRows {
    pub(in crate::store::sqlite) fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// Inserts the messages, all or none (one savepoint).
    pub(in crate::store::sqlite) fn insert(
        &self,
        conn: &mut rusqlite::Connection,
    ) -> rusqlite::Result<()> {
        let now = now_ms();
        let tx = Savepoint::open(conn)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO queue_messages (id, queue, visible_at_ms, sent_at_ms, hold_key)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut insert_body =
                tx.prepare_cached("INSERT INTO queue_bodies (seq, body) VALUES (?1, ?2)")?;
            for (delay, body) in &self.packed {
                let visible_at = now + delay.as_millis() as i64;
                insert.execute(params![random_id(), self.queue, visible_at, now, self.hold])?;
                insert_body.execute(params![tx.last_insert_rowid(), body])?;
            }
        }
        tx.commit()
    }
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
pub(super) mod tests {
    use super::*;
    use crate::ports::MAX_MESSAGE_BODY_BYTES;

    pub(super) const VISIBILITY: Duration = Duration::from_secs(30);

    pub(super) fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
        (dir, store)
    }

    pub(super) async fn stored(store: &SqliteStore) -> Vec<(String, usize)> {
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
