//! The delivery log (docs/interface/console.md "Delivery log"): every
//! delivery attempt with its request and answer, secrets masked, recorded
//! off the delivery path in batches and kept `[console] delivery_log_days`;
//! and the live tail of dispatched events `serve`'s console shows.

pub mod batch;
pub mod heap;
pub mod model;
pub mod pending;
pub mod recorder;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::domain::time::now_ms;
use crate::ports::{DeliveryLog, StoreResult};
use model::{LogEntry, LogPage, LogQuery};
pub use pending::Pending;
use recorder::Recorder;

/// Days kept by default (`[console] delivery_log_days`).
pub const DEFAULT_DAYS: u32 = 7;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// One dispatched event, as the live tail shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LiveEvent {
    pub workspace_id: String,
    pub at_ms: i64,
    pub event_name: String,
    pub event_code: String,
    pub uid: Option<String>,
    pub source: String,
    pub streams: Vec<String>,
}

/// Events the live tail holds for a slow reader before it skips some.
const LIVE_BUFFER: usize = 1_024;

/// The log as the rest of the code uses it: the store, the recorder in
/// front of it, the retention, and the live tail.
#[derive(Clone)]
pub struct DeliveryLogHandle {
    pub store: Arc<dyn DeliveryLog>,
    recorder: Arc<Recorder>,
    retention_days: u32,
    live: broadcast::Sender<Arc<LiveEvent>>,
}

impl DeliveryLogHandle {
    pub fn new(store: Arc<dyn DeliveryLog>, retention_days: u32) -> Self {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Self {
            recorder: Arc::new(Recorder::new(store.clone(), retention_days)),
            store,
            retention_days,
            live,
        }
    }

    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The oldest time the log still holds.
    pub fn retention_start_ms(&self) -> i64 {
        now_ms() - i64::from(self.retention_days) * DAY_MS
    }

    /// Hands a delivery's records to the writer; never waits, never fails.
    pub fn submit(&self, pending: Pending) {
        self.recorder.submit(pending);
    }

    /// Writes what was submitted, waiting at most `within`.
    pub async fn flush(&self, within: Duration) {
        self.recorder.flush(within).await;
    }

    /// Entries newest first, within the retention.
    pub async fn list(&self, workspace: &str, query: &LogQuery) -> StoreResult<LogPage> {
        let mut query = query.clone();
        let start = self.retention_start_ms();
        query.since_ms = Some(query.since_ms.map_or(start, |s| s.max(start)));
        self.store.list(workspace, &query).await
    }

    pub async fn entry_by_id(&self, workspace: &str, id: &str) -> StoreResult<Option<LogEntry>> {
        self.store.entry_by_id(workspace, id).await
    }

    /// Removes a user's entries and their requests' bodies (privacy erasure).
    pub async fn erase_user(&self, workspace: &str, uid: &str) -> StoreResult<u64> {
        self.store
            .erase_user(workspace, uid, self.retention_start_ms())
            .await
    }

    /// Whether anyone watches the live tail (nothing is built otherwise).
    pub fn live_watched(&self) -> bool {
        self.live.receiver_count() > 0
    }

    pub fn publish_live(&self, event: LiveEvent) {
        let _ = self.live.send(Arc::new(event));
    }

    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.live.subscribe()
    }
}

/// Records an applied segment sync for the console's history: `counts` are
/// users, applied, created, dropped and duplicates (never blocks or fails
/// the sync).
pub fn record_sync(
    services: &crate::runtime::Services,
    workspace_id: &str,
    segment_id: &str,
    message_id: Option<String>,
    action: &str,
    counts: [usize; 5],
) {
    let at_ms = now_ms();
    let [users, applied, created, dropped, duplicates] = counts.map(|n| n as u64);
    let record = model::SyncRecord {
        id: model::entry_id(at_ms),
        workspace_id: workspace_id.to_owned(),
        segment_id: segment_id.to_owned(),
        at_ms,
        message_id,
        action: action.to_owned(),
        users,
        applied,
        created,
        dropped,
        duplicates,
    };
    services.delivery_log.submit(Pending {
        syncs: vec![record],
        ..Pending::default()
    });
}
