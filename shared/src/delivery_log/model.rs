//! What the delivery log keeps (docs/interface/console.md "Delivery log"):
//! one entry per delivery attempt, the request body once per request,
//! windowed counts for the funnel and the overview, each stream's last
//! success and error, and the requests waiting for a retry.

use serde::{Deserialize, Serialize};

/// What came of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// The receiver accepted the request (2xx).
    Delivered,
    /// It failed and is retried on the schedule.
    Failed,
    /// The destination was refused (a private or metadata address).
    Refused,
    /// It failed for good: its events are dead letters now.
    DeadLettered,
    /// Not sent: the stream is paused or disabled; the batch waits.
    Waiting,
}

impl AttemptOutcome {
    pub const ALL: [Self; 5] = [
        Self::Delivered,
        Self::Failed,
        Self::Refused,
        Self::DeadLettered,
        Self::Waiting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::DeadLettered => "dead-lettered",
            Self::Waiting => "waiting",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// The events of one attempt, as far as the console filters on them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    pub count: usize,
    pub uuids: Vec<String>,
    /// Distinct event names and codes.
    pub names: Vec<String>,
    /// Distinct uids.
    pub uids: Vec<String>,
}

impl EventSummary {
    pub fn of(events: &[&crate::domain::Event]) -> Self {
        let mut summary = Self {
            count: events.len(),
            uuids: Vec::with_capacity(events.len()),
            ..Self::default()
        };
        let mut uids: Vec<&str> = Vec::with_capacity(events.len());
        for event in events {
            summary.uuids.push(event.event_uuid.clone());
            for name in [&event.event_name, &event.event_code] {
                if !name.is_empty() && !summary.names.contains(name) {
                    summary.names.push(name.clone());
                }
            }
            if let Some(uid) = event.uid.as_deref().filter(|u| !u.is_empty()) {
                uids.push(uid);
            }
        }
        uids.sort_unstable();
        uids.dedup();
        // Copied once each, and kept in the log's buffer until written
        // without the room of the duplicates (a delivery of 100 events by
        // 10 users kept 3 KiB more).
        summary.uids = uids.into_iter().map(str::to_owned).collect();
        summary
    }

    /// Whether an event of these is named or coded `name`.
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// A request as sent: the secret header values masked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRequest {
    pub method: String,
    /// The URL, its query string masked.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Bytes of the body sent; the body itself is kept once per request
    /// (`moe_request_id`), see [`StoredBody`].
    pub body_bytes: usize,
}

/// An answer as received: its first [`RESPONSE_BODY_LIMIT`] bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body was longer than what is kept.
    pub truncated: bool,
}

/// The first bytes of a response body the log keeps.
pub const RESPONSE_BODY_LIMIT: usize = 4096;
/// The largest request body the log keeps (a DynamoDB item holds 400 KB).
pub const REQUEST_BODY_LIMIT: usize = 256 * 1024;

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sortable by time: `<epoch ms, 15 digits>-<shard>-<random>`.
    pub id: String,
    pub workspace_id: String,
    pub stream: String,
    pub at_ms: i64,
    pub moe_request_id: String,
    pub outcome: AttemptOutcome,
    /// Attempt n of this request (1 = the first; a wait is not an attempt
    /// and repeats the number of the next one).
    pub attempt: u32,
    pub status: Option<u16>,
    /// Why it failed, or why it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    pub events: EventSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ReceivedResponse>,
}

/// Entry ids: sortable by time, spread over [`SHARDS`] (DynamoDB partitions).
pub const SHARDS: u32 = 4;

pub fn entry_id(at_ms: i64) -> String {
    let random = crate::domain::ids::random_id();
    let shard = u32::from_str_radix(&random[..2], 16).unwrap_or(0) % SHARDS;
    format!("{at_ms:015}-{shard}-{}", &random[..8])
}

/// The time and shard an entry id carries.
pub fn parse_entry_id(id: &str) -> Option<(i64, u32)> {
    let mut parts = id.splitn(3, '-');
    let at = parts.next()?.parse().ok()?;
    let shard = parts.next()?.parse().ok().filter(|s| *s < SHARDS)?;
    parts.next().filter(|r| !r.is_empty())?;
    Some((at, shard))
}

/// A request body, kept once per request (the latest attempt's wins).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBody {
    pub moe_request_id: String,
    pub at_ms: i64,
    pub body: String,
    pub truncated: bool,
}

/// The counts behind the funnel and the overview, each recorded where the
/// metric of the same name is (docs/interface/observability.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountKind {
    /// Events dispatch received for the workspace.
    Received,
    /// Received events no stream selects.
    NotSelected,
    /// Events a receiver accepted (`engage_bridge_events_delivered_total`).
    Delivered,
    /// Failed attempts (`engage_bridge_delivery_attempts_failed_total`).
    FailedAttempts,
    /// Events whose first attempt failed: they entered the retries.
    Retrying,
    /// Events kept as dead letters.
    DeadLettered,
    /// Events a stream cannot carry (`engage_bridge_events_dropped_total`).
    Dropped,
}

impl CountKind {
    pub const ALL: [Self; 7] = [
        Self::Received,
        Self::NotSelected,
        Self::Delivered,
        Self::FailedAttempts,
        Self::Retrying,
        Self::DeadLettered,
        Self::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::NotSelected => "not_selected",
            Self::Delivered => "delivered",
            Self::FailedAttempts => "failed_attempts",
            Self::Retrying => "retrying",
            Self::DeadLettered => "dead_lettered",
            Self::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Counts are kept in buckets of this many milliseconds (5 minutes).
pub const BUCKET_MS: i64 = 5 * 60 * 1000;

pub fn bucket_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(BUCKET_MS)
}

/// `n` more of `kind` for a stream (`""`: the workspace as a whole) in a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountDelta {
    pub workspace_id: String,
    pub stream: String,
    pub bucket_ms: i64,
    pub kind: CountKind,
    pub n: u64,
}

/// Counts of one stream (`""`: the workspace) over a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub stream: String,
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl StreamCounts {
    pub fn get(&self, kind: CountKind) -> u64 {
        self.counts.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// The last success or error of a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub at_ms: i64,
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stream's health as the log knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHealth {
    pub stream: String,
    pub last_success: Option<LastAttempt>,
    pub last_error: Option<LastAttempt>,
    /// Requests waiting for a retry (or for the stream to be resumed).
    pub waiting_requests: u64,
    pub waiting_events: u64,
}

impl StreamHealth {
    /// The stream's health in `map`, made on first use.
    pub fn of(
        map: &mut std::collections::HashMap<String, StreamHealth>,
        stream: String,
    ) -> &mut StreamHealth {
        map.entry(stream.clone()).or_insert_with(|| StreamHealth {
            stream,
            ..StreamHealth::default()
        })
    }
}

/// A request that waits (Some events) or no longer waits (None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingChange {
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    pub waiting_events: Option<u64>,
    pub at_ms: i64,
}

/// One applied segment sync (a cohort-queue message, an mParticle
/// audience change), for the segment's history in the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// Sortable by time, as entry ids are.
    pub id: String,
    pub workspace_id: String,
    pub segment_id: String,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `add`, `remove`, or `change` (mixed).
    pub action: String,
    pub users: u64,
    pub applied: u64,
    pub created: u64,
    pub dropped: u64,
    pub duplicates: u64,
}

/// Whether an entry is a stream's latest success or error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LastKind {
    Success,
    Error,
}

impl LastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

/// Which entries a listing returns (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub stream: Option<String>,
    pub outcome: Option<AttemptOutcome>,
    pub uid: Option<String>,
    /// An event name or code.
    pub event: Option<String>,
    pub moe_request_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Entries older than this id (the previous page's `next_after`).
    pub before: Option<String>,
    pub limit: usize,
}

impl LogQuery {
    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.stream.as_ref().is_none_or(|s| *s == entry.stream)
            && self.outcome.is_none_or(|o| o == entry.outcome)
            && self
                .uid
                .as_ref()
                .is_none_or(|u| entry.events.uids.contains(u))
            && self.event.as_ref().is_none_or(|e| entry.events.has_name(e))
            && self
                .moe_request_id
                .as_ref()
                .is_none_or(|r| *r == entry.moe_request_id)
            && self.since_ms.is_none_or(|t| entry.at_ms >= t)
            && self.until_ms.is_none_or(|t| entry.at_ms <= t)
            && self.before.as_ref().is_none_or(|b| entry.id < *b)
    }
}

/// A page of entries; `next_before` continues it (older ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub next_before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_sort_by_time_and_carry_their_shard() {
        let a = entry_id(1_700_000_000_000);
        let b = entry_id(1_700_000_000_001);
        assert!(a < b);
        let (at, shard) = parse_entry_id(&a).unwrap();
        assert_eq!(at, 1_700_000_000_000);
        assert!(shard < SHARDS);
        assert_eq!(parse_entry_id("nonsense"), None);
        assert_eq!(parse_entry_id("000000000000001-9-abc"), None);
    }

    #[test]
    fn a_summary_names_each_user_and_name_once() {
        let event = |uuid: &str, name: &str, uid: Option<&str>| crate::domain::Event {
            event_uuid: uuid.into(),
            event_name: name.into(),
            event_code: name.into(),
            uid: uid.map(str::to_owned),
            ..crate::streams::test_event::event()
        };
        let events = [
            event("e1", "Viewed", Some("u2")),
            event("e2", "Bought", Some("u1")),
            event("e3", "Viewed", Some("u2")),
            event("e4", "", Some("")),
            event("e5", "Viewed", None),
        ];
        let summary = EventSummary::of(&events.iter().collect::<Vec<_>>());
        assert_eq!(summary.count, 5);
        assert_eq!(summary.uuids, ["e1", "e2", "e3", "e4", "e5"]);
        assert_eq!(summary.names, ["Viewed", "Bought"]);
        assert_eq!(summary.uids, ["u1", "u2"]);
        assert_eq!(summary.uids.capacity(), 2);
    }

    #[test]
    fn outcomes_read_as_they_are_written() {
        for outcome in AttemptOutcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
