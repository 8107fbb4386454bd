//! Ports: the small traits the domain and handlers depend on. Each has an
//! embedded (SQLite) and an AWS (DynamoDB / SQS) adapter under `store/`, and
//! one contract test suite run against both (tests/contract).

mod delivery_log;

pub use delivery_log::DeliveryLog;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::WorkspaceConfig;
use crate::domain::{
    Arrival, Attempt, DeadLetter, Encoded, EventsMessage, FixedWindow, Member, MembershipChange,
    MembershipOutcome, Page, PageRequest, Profile, ProfileKey, ProfileUpdate, Segment, StateChange,
    StreamState,
};

mod error;
pub use error::{BoxError, StoreError, StoreResult, Unavailability};

/// Workspace configurations, stored with the secret as a SHA-256 only.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    async fn put_workspace(&self, workspace: &WorkspaceConfig) -> StoreResult<()>;
    async fn get_workspace(&self, id: &str) -> StoreResult<Option<WorkspaceConfig>>;
    async fn list_workspace_ids(&self) -> StoreResult<Vec<String>>;
    async fn delete_workspace(&self, id: &str) -> StoreResult<()>;
}

/// User profiles, addressed by `moengage_user_id`, findable by uid and by any
/// of their anonymous ids. All calls are batched.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn get_profiles(&self, workspace: &str, ids: &[String]) -> StoreResult<Vec<Profile>>;
    /// uid → moengage_user_id for the uids that have a profile.
    async fn find_by_uids(
        &self,
        workspace: &str,
        uids: &[String],
    ) -> StoreResult<HashMap<String, String>>;
    /// anonymous id → moengage_user_id for the ids some profile carries.
    async fn find_by_anonymous_ids(
        &self,
        workspace: &str,
        anonymous_ids: &[String],
    ) -> StoreResult<HashMap<String, String>>;
    /// Applies each update atomically (creating absent profiles) and returns
    /// the resulting profiles in input order.
    async fn update_profiles(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
    ) -> StoreResult<Vec<Profile>>;
    /// Creates the profiles that do not exist yet, without attributes (an
    /// existing profile is left as it is), and returns the keys whose
    /// profile this call created. Adapters batch the writes (DynamoDB: 100
    /// per TransactWriteItems, created on the condition that the profile is
    /// absent); this default reads first and is not atomic with the writes.
    async fn ensure_profiles(
        &self,
        workspace: &str,
        keys: &[ProfileKey],
    ) -> StoreResult<HashSet<ProfileKey>> {
        let id = |key: &ProfileKey| crate::domain::ids::moengage_user_id(workspace, key);
        let ids: Vec<String> = keys.iter().map(id).collect();
        let existing: HashSet<String> = self
            .get_profiles(workspace, &ids)
            .await?
            .into_iter()
            .map(|p| p.moengage_user_id)
            .collect();
        let absent: HashSet<ProfileKey> = keys
            .iter()
            .filter(|key| !existing.contains(&id(key)))
            .cloned()
            .collect();
        let updates: Vec<ProfileUpdate> = absent.iter().cloned().map(ProfileUpdate::new).collect();
        self.update_profiles(workspace, &updates).await?;
        Ok(absent)
    }
}

/// Corrections to profiles just updated: from each update and the profile
/// it resulted in, the updates that take back what a profile may not keep
/// (none when all may stay).
pub type Corrections = fn(&[ProfileUpdate], &[Profile]) -> Vec<ProfileUpdate>;

/// What an ingest request writes, in this order: its profile updates, the
/// corrections the resulting profiles call for, then its events. The
/// embedded store writes them as one write of its group commit, all or
/// none; the AWS adapter, step by step, each after the one before succeeded
/// (docs/architecture.md "One write per request").
#[async_trait]
pub trait IngestWriter: Send + Sync {
    async fn write(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
        correct: Corrections,
        events: Vec<Encoded<EventsMessage>>,
    ) -> StoreResult<IngestWritten>;
}

/// The profiles an ingest write resulted in (before their corrections, in
/// the order of the updates) and the corrections applied.
#[derive(Debug, Default)]
pub struct IngestWritten {
    pub profiles: Vec<Profile>,
    pub corrections: Vec<ProfileUpdate>,
}

/// Segments and their memberships, each membership versioned by the change
/// that set it (docs/rules/member-matching.md "Ordering: versions").
#[async_trait]
pub trait SegmentStore: Send + Sync {
    /// Creates the segment if absent (idempotent); renames it if the partner
    /// renamed it. Returns the stored segment.
    async fn ensure_segment(&self, workspace: &str, segment: &Segment) -> StoreResult<Segment>;
    async fn get_segment(&self, workspace: &str, id: &str) -> StoreResult<Option<Segment>>;
    async fn list_segments(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Segment>>;
    /// Takes `count` (≥ 1) arrival sequence numbers of an existing segment,
    /// atomically across processes and Lambda instances, and its arrival
    /// time: `now_ms`, or the latest time handed out before if that is later
    /// (a clock behind another instance's never makes a later arrival look
    /// older). An unknown segment is `NotFound`.
    async fn reserve_arrivals(
        &self,
        workspace: &str,
        segment_id: &str,
        count: usize,
        now_ms: i64,
    ) -> StoreResult<Arrival>;
    /// Applies the changes of one request (in arrival order) that are newer
    /// than the stored membership versions, each member's changes replayed
    /// in order (`domain::replay::replay`), updating `member_count`; reports,
    /// in input order, those applied and those that were already the stored
    /// state (a redelivery), so the caller can re-announce them idempotently.
    async fn apply_membership_changes(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome>;
    /// Counts one sync request and stamps `last_synced_at` (RFC 3339).
    async fn record_sync(&self, workspace: &str, segment_id: &str, at: &str) -> StoreResult<()>;
    /// Current members (removed ones excluded), in a stable order.
    async fn list_members(
        &self,
        workspace: &str,
        segment_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Member>>;
    /// Ids of the segments a profile is currently in.
    async fn segments_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<String>>;
}

/// Idempotency keys with expiry (e.g. Amplitude `message_id`s for 8 days).
/// A key is recorded only once the work it names is durable, so a crash
/// before that leaves the key free and the sender's retry does the work
/// (docs/architecture.md "Nothing acknowledged is lost").
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Whether the key was recorded and has not expired.
    async fn is_recorded(&self, workspace: &str, key: &str) -> StoreResult<bool>;
    /// Records the key for `ttl` (again: the later expiry wins).
    async fn record(&self, workspace: &str, key: &str, ttl: Duration) -> StoreResult<()>;
}

/// The delivery attempts of one stream request, kept outside the retry
/// message (SQS cannot rewrite a message body, and ApproximateReceiveCount is
/// inflated by Lambda throttling, so attempts are counted here).
#[async_trait]
pub trait AttemptLog: Send + Sync {
    async fn attempts(&self, workspace: &str, request_id: &str) -> StoreResult<Vec<Attempt>>;
    /// Appends `attempt` if the log still holds `expected_len` attempts; false
    /// if a concurrent delivery of the same request appended first.
    async fn append_attempt(
        &self,
        workspace: &str,
        request_id: &str,
        expected_len: usize,
        attempt: &Attempt,
    ) -> StoreResult<bool>;
    async fn clear_attempts(&self, workspace: &str, request_id: &str) -> StoreResult<()>;
}

/// A dead letter as kept: an id (for `dlq replay --id`) and when.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptDeadLetter {
    pub id: String,
    pub at_ms: i64,
    pub letter: DeadLetter,
}

/// Dead letters, kept until replayed (docs/interface/cli.md "dlq"). Reading
/// them is a plain read: listing never hides one from anyone.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Keeps the letters, each under a new id, in the order given; returns
    /// the ids.
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<Vec<String>>;
    /// A page of dead letters, oldest first.
    async fn list_dead_letters(&self, page: &PageRequest) -> StoreResult<Page<KeptDeadLetter>>;
    /// Removes dead letters by id; unknown ids are ignored.
    async fn remove_dead_letters(&self, ids: &[String]) -> StoreResult<()>;
}

/// Streams' operator states (paused, disabled after a 410), apart from the
/// workspace configuration so they survive restarts and `workspaces apply`
/// (docs/interface/streams.md "Pause, resume and 410 Gone"). A stream in
/// the default state has no record.
#[async_trait]
pub trait StreamStateStore: Send + Sync {
    /// The states of a workspace's streams that are not the default, by
    /// stream name (a strongly consistent read).
    async fn stream_states(&self, workspace: &str) -> StoreResult<HashMap<String, StreamState>>;
    /// Applies `change` atomically ([`StreamState::apply`]) and returns the
    /// state before it.
    async fn change_stream_state(
        &self,
        workspace: &str,
        stream: &str,
        change: &StateChange,
    ) -> StoreResult<StreamState>;
}

/// How long an attempt log outlives its last write (then expires).
pub const ATTEMPT_LOG_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// Fixed-window request counters shared by every process / Lambda instance
/// (the limiter that reads them: `rate_limit::RateLimiter`).
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Adds `requests` to the counter of (workspace, scope) in `window`,
    /// atomically across processes, and returns its new total.
    async fn add(
        &self,
        workspace: &str,
        scope: &str,
        window: &FixedWindow,
        requests: u64,
    ) -> StoreResult<u64>;
}

/// A message to enqueue, visible after `delay` ([`check_delay`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub delay: Duration,
}

impl OutgoingMessage {
    pub fn now(body: String) -> Self {
        Self {
            body,
            delay: Duration::ZERO,
        }
    }
}

/// An encoded message for immediate delivery.
impl<M> From<Encoded<M>> for OutgoingMessage {
    fn from(message: Encoded<M>) -> Self {
        Self::now(message.into_string())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Valid for this receipt only; used to delete or re-time the message.
    pub receipt_handle: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    /// When the message was first sent (epoch ms).
    pub sent_at_ms: i64,
}

/// The longest delay a queue applies (SQS `DelaySeconds`).
pub use crate::config::MAX_RETRY_DELAY as MAX_DELAY;

/// A delay a queue accepts: 0..=900 s. The one place that bound is checked;
/// every adapter calls it, so both backends refuse the same messages.
pub fn check_delay(delay: Duration) -> StoreResult<Duration> {
    if delay > MAX_DELAY {
        return Err(StoreError::Invalid(format!(
            "a delay of {} s exceeds the queue maximum of {} s",
            delay.as_secs(),
            MAX_DELAY.as_secs()
        )));
    }
    Ok(delay)
}

/// The longest body a queue message may have: SQS's limit for one message.
pub const MAX_MESSAGE_BODY_BYTES: usize = 1024 * 1024;

/// A body a queue accepts: at most [`MAX_MESSAGE_BODY_BYTES`]. Checked by
/// every adapter, so both backends refuse the same messages (and the
/// SQLite queue knows the most a stored body can unpack to).
pub fn check_body(body: &str) -> StoreResult<()> {
    if body.len() > MAX_MESSAGE_BODY_BYTES {
        return Err(StoreError::Invalid(format!(
            "a {}-byte message exceeds the queue maximum of {MAX_MESSAGE_BODY_BYTES} bytes",
            body.len()
        )));
    }
    Ok(())
}

pub const MAX_QUEUE_BATCH: usize = 10;

/// SQS semantics: at-least-once, visibility timeouts, per-message delays.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends all messages (batched by the adapter, 10 per call on SQS).
    async fn send(&self, messages: &[OutgoingMessage]) -> StoreResult<()>;
    /// Receives up to `max` (≤ 10) visible messages, hiding them for
    /// `visibility`; waits up to `wait` for one to arrive.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> StoreResult<Vec<Received>>;
    /// Deletes received messages by receipt handle. Stale handles are ignored.
    async fn delete(&self, receipt_handles: &[String]) -> StoreResult<()>;
    /// Makes a received message visible again after `visibility` from now.
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> StoreResult<()>;
    /// Sends messages that wait for a stream (its `hold` key,
    /// `domain::stream_state::hold_key`), so that [`Queue::wake`] can make
    /// them due when it resumes. Where the queue cannot wake, a plain send.
    async fn send_held(&self, hold: &str, messages: &[OutgoingMessage]) -> StoreResult<()> {
        let _ = hold;
        self.send(messages).await
    }
    /// Whether [`Queue::wake`] does anything (the embedded queue; SQS cannot
    /// re-time a message it has not handed out).
    fn can_wake(&self) -> bool {
        false
    }
    /// Makes the messages sent with `hold` that are waiting (not received
    /// since) visible now; returns how many.
    async fn wake(&self, hold: &str) -> StoreResult<u64> {
        let _ = hold;
        Ok(0)
    }
    /// Approximate number of messages (visible + in flight + delayed).
    async fn approximate_len(&self) -> StoreResult<u64>;
    /// An ARN-like name for SQS events built from this queue.
    fn source_arn(&self) -> String;
}
