//! Bodies as the queue stores them: LZ4-packed, as BLOBs. A body of JSON
//! events shrinks several times over, and it was half of the WAL a request
//! wrote (BENCHMARKS.md "Packed queue bodies"). A TEXT body is one stored
//! before they were packed, and is read as it is.

use rusqlite::types::{FromSql, FromSqlError, ValueRef};

use crate::ports::MAX_MESSAGE_BODY_BYTES;
use crate::store::packed;

/// A body as the queue stores it.
pub(in crate::store::sqlite) fn pack_body(body: &str) -> Vec<u8> {
    packed::pack(body)
}

/// A stored body: packed, or TEXT from before bodies were packed. One that
/// cannot be unpacked is an error, never a panic or an allocation past the
/// queue's largest body.
pub(in crate::store::sqlite) fn read_body(value: ValueRef<'_>) -> Result<String, FromSqlError> {
    match value {
        ValueRef::Blob(bytes) => unpack_body(bytes),
        other => String::column_result(other),
    }
}

fn unpack_body(bytes: &[u8]) -> Result<String, FromSqlError> {
    packed::unpack(bytes, MAX_MESSAGE_BODY_BYTES).map_err(|e| FromSqlError::Other(Box::new(e)))
}

/// A received body as its row holds it, copied out to be read
/// ([`read_body`]) after the writing connection is free: unpacked on it,
/// the bodies were a tenth of its time, and every write waited behind them
/// (BENCHMARKS.md "Issue 22, twelfth session").
pub(super) enum TakenBody {
    Packed(Vec<u8>),
    Text(String),
}

impl TakenBody {
    pub(super) fn of(value: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match value {
            ValueRef::Blob(bytes) => Ok(Self::Packed(bytes.to_vec())),
            other => String::column_result(other).map(Self::Text),
        }
    }

    pub(super) fn read(self) -> Result<String, FromSqlError> {
        match self {
            Self::Packed(bytes) => unpack_body(&bytes),
            Self::Text(text) => Ok(text),
        }
    }
}

/// What a consumer receives for a body that cannot be read (a damaged
/// database file): text no consumer decodes, so the message becomes a dead
/// letter that says why, instead of failing every receive of its queue.
pub(super) fn unreadable(message_id: &str, error: &FromSqlError) -> String {
    tracing::error!(message_id, %error, "a queued message's stored body cannot be read");
    format!("(the stored body of message {message_id} cannot be read: {error})")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{VISIBILITY, open, stored};
    use crate::ports::{OutgoingMessage, Queue};

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
}
