//! The ingest writes as one write of the group commit (docs/architecture.md
//! "One write per request"): profile updates, their corrections and the
//! events' queue rows in one closure, which the writer applies inside a
//! savepoint of its own (`writer.rs`): all or none, and answered once.
//! Done step by step, a request waited for two group commits.

use async_trait::async_trait;

use super::queue::SqliteQueue;
use super::{SqliteStore, profiles};
use crate::domain::{Encoded, EventsMessage, ProfileUpdate};
use crate::ports::{Corrections, IngestWriter, IngestWritten, OutgoingMessage, StoreResult};

pub struct SqliteIngest {
    store: SqliteStore,
    events: SqliteQueue,
}

impl SqliteIngest {
    /// Writes to `store`'s profiles and to `events`, a queue of the same
    /// database.
    pub fn new(store: SqliteStore, events: SqliteQueue) -> Self {
        Self { store, events }
    }
}

#[async_trait]
impl IngestWriter for SqliteIngest {
    async fn write(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
        correct: Corrections,
        events: Vec<Encoded<EventsMessage>>,
    ) -> StoreResult<IngestWritten> {
        let events: Vec<OutgoingMessage> = events.into_iter().map(OutgoingMessage::from).collect();
        let rows = self.events.rows(None, &events)?;
        drop(events);
        if updates.is_empty() && rows.is_empty() {
            return Ok(IngestWritten::default());
        }
        let (workspace, updates) = (workspace.to_owned(), updates.to_vec());
        self.store
            .run(move |conn| {
                let mut written = IngestWritten::default();
                if !updates.is_empty() {
                    written.profiles = profiles::update_profiles(conn, &workspace, &updates)?;
                    written.corrections = correct(&updates, &written.profiles);
                    if !written.corrections.is_empty() {
                        profiles::update_profiles(conn, &workspace, &written.corrections)?;
                    }
                }
                rows.insert(conn)?;
                Ok(written)
            })
            .await
    }
}
