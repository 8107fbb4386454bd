//! Typed queues and the one loop that consumes them (docs/architecture.md
//! "Queues"). Each queue carries one message type; Lambda's SQS event source
//! and `serve`'s embedded consumer both hand batches to [`batch::handle`].

pub mod batch;
pub mod consumer;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Encoded, EventsMessage, RetryMessage, StagedChanges};
use crate::ports::{OutgoingMessage, Queue, StoreError, StoreResult};
use crate::privacy::message::PrivacyJob;
use crate::topology::QueueName;

/// A message type and the queue that carries it.
pub trait QueueMessage: Serialize + DeserializeOwned + Send + Sync + 'static {
    const QUEUE: QueueName;
}

impl QueueMessage for EventsMessage {
    const QUEUE: QueueName = QueueName::Events;
}
impl QueueMessage for RetryMessage {
    const QUEUE: QueueName = QueueName::Retry;
}
impl QueueMessage for StagedChanges {
    const QUEUE: QueueName = QueueName::Cohort;
}
impl QueueMessage for PrivacyJob {
    const QUEUE: QueueName = QueueName::Privacy;
}

/// A queue that only takes `M`s. It dereferences to the raw [`Queue`] for
/// receiving, deleting and re-timing.
pub struct TypedQueue<M> {
    raw: Arc<dyn Queue>,
    _message: PhantomData<fn(M)>,
}

impl<M> Clone for TypedQueue<M> {
    fn clone(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> std::ops::Deref for TypedQueue<M> {
    type Target = dyn Queue;
    fn deref(&self) -> &(dyn Queue + 'static) {
        self.raw.as_ref()
    }
}

impl<M> AsRef<dyn Queue> for TypedQueue<M> {
    fn as_ref(&self) -> &(dyn Queue + 'static) {
        self.raw.as_ref()
    }
}

impl<M: QueueMessage> TypedQueue<M> {
    pub fn new(raw: Arc<dyn Queue>) -> Self {
        Self {
            raw,
            _message: PhantomData,
        }
    }

    pub fn raw(&self) -> &Arc<dyn Queue> {
        &self.raw
    }

    /// Sends messages for immediate delivery (batched by the adapter).
    pub async fn send(&self, messages: &[M]) -> StoreResult<()> {
        let encoded = messages
            .iter()
            .map(Encoded::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::encode("a queue message"))?;
        self.send_encoded(encoded).await
    }

    /// Sends bodies already encoded as `M`s (packers build them).
    pub async fn send_encoded(&self, messages: Vec<Encoded<M>>) -> StoreResult<()> {
        self.send_later(messages.into_iter().map(|m| (m, Duration::ZERO)))
            .await
    }

    /// Sends each message visible after its delay (≤ 900 s).
    pub async fn send_later(
        &self,
        messages: impl IntoIterator<Item = (Encoded<M>, Duration)>,
    ) -> StoreResult<()> {
        let outgoing = outgoing(messages);
        if outgoing.is_empty() {
            return Ok(());
        }
        self.raw.send(&outgoing).await
    }
}

/// Encoded messages with their delays, as the raw queue takes them.
fn outgoing<M>(messages: impl IntoIterator<Item = (Encoded<M>, Duration)>) -> Vec<OutgoingMessage> {
    messages
        .into_iter()
        .map(|(m, delay)| OutgoingMessage {
            body: m.into_string(),
            delay,
        })
        .collect()
}

impl<M: QueueMessage> TypedQueue<M> {
    /// Sends messages that wait for a stream's resume ([`Queue::send_held`]),
    /// each visible after its delay.
    pub async fn send_held(
        &self,
        hold: &str,
        messages: impl IntoIterator<Item = (Encoded<M>, Duration)>,
    ) -> StoreResult<()> {
        let outgoing = outgoing(messages);
        if outgoing.is_empty() {
            return Ok(());
        }
        self.raw.send_held(hold, &outgoing).await
    }
}

/// The queues, each typed by what it carries.
#[derive(Clone)]
pub struct Queues {
    pub events: TypedQueue<EventsMessage>,
    pub retry: TypedQueue<RetryMessage>,
    pub cohort: TypedQueue<StagedChanges>,
    pub privacy: TypedQueue<PrivacyJob>,
    /// Where SQS itself moves retry messages it gave up on (its redrive
    /// policy, a net below the consumers' own dead-lettering; AWS only).
    /// `engage-bridge dlq` takes them into the dead-letter store.
    pub redriven: Arc<dyn Queue>,
}

impl Queues {
    /// Opens each queue by name.
    pub fn open(open: impl Fn(QueueName) -> Arc<dyn Queue>) -> Self {
        Self {
            events: TypedQueue::new(open(QueueName::Events)),
            retry: TypedQueue::new(open(QueueName::Retry)),
            redriven: open(QueueName::DeadLetter),
            cohort: TypedQueue::new(open(QueueName::Cohort)),
            privacy: TypedQueue::new(open(QueueName::Privacy)),
        }
    }

    /// A queue by name, untyped (consumers, depth gauges, tests).
    pub fn raw(&self, name: QueueName) -> &Arc<dyn Queue> {
        match name {
            QueueName::Events => self.events.raw(),
            QueueName::Retry => self.retry.raw(),
            QueueName::DeadLetter => &self.redriven,
            QueueName::Cohort => self.cohort.raw(),
            QueueName::Privacy => self.privacy.raw(),
        }
    }
}
