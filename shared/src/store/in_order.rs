//! The ingest writes over any profile store and queue: step by step, each
//! after the one before succeeded (the AWS backend's; DynamoDB and SQS share
//! no transaction). A failure leaves the steps before it applied, which a
//! retry of the request applies again unchanged: profile updates are
//! idempotent, and events keep their uuids (docs/architecture.md "One
//! write per request").

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{Encoded, EventsMessage, ProfileUpdate};
use crate::ports::{
    Corrections, IngestWriter, IngestWritten, OutgoingMessage, ProfileStore, Queue, StoreResult,
};

pub struct InOrder {
    profiles: Arc<dyn ProfileStore>,
    events: Arc<dyn Queue>,
}

impl InOrder {
    pub fn new(profiles: Arc<dyn ProfileStore>, events: Arc<dyn Queue>) -> Self {
        Self { profiles, events }
    }
}

#[async_trait]
impl IngestWriter for InOrder {
    async fn write(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
        correct: Corrections,
        events: Vec<Encoded<EventsMessage>>,
    ) -> StoreResult<IngestWritten> {
        let mut written = IngestWritten::default();
        if !updates.is_empty() {
            written.profiles = self.profiles.update_profiles(workspace, updates).await?;
            written.corrections = correct(updates, &written.profiles);
            if !written.corrections.is_empty() {
                self.profiles
                    .update_profiles(workspace, &written.corrections)
                    .await?;
            }
        }
        let events: Vec<OutgoingMessage> = events.into_iter().map(OutgoingMessage::from).collect();
        if !events.is_empty() {
            self.events.send(&events).await?;
        }
        Ok(written)
    }
}
