//! Recording off the delivery path: a delivery seals its entries (secrets
//! masked, bodies packed) into a bounded buffer and goes on; one task writes
//! them in batches. A full buffer or a failing write never blocks or fails
//! a delivery: what is lost is counted (`engage_bridge_delivery_log_failures_total{workspace_id}`)
//! and logged (docs/interface/console.md "Delivery log").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::batch::LogBatch;
use super::pending::Pending;
use crate::domain::time::now_ms;
use crate::observability::metrics;
use crate::ports::DeliveryLog;

/// Bytes the buffer holds at most (bodies included, packed).
const MAX_BUFFERED_BYTES: usize = 32 * 1024 * 1024;
/// Messages the buffer holds at most.
const MAX_BUFFERED: usize = 8_192;
/// A batch is written once it holds this many entries, or after [`LINGER`].
const BATCH_ENTRIES: usize = 500;
const LINGER: Duration = Duration::from_millis(200);
/// How often the retention sweep runs (SQLite; DynamoDB's TTL needs none).
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often a failure is logged at most (each is counted).
const LOG_EVERY: Duration = Duration::from_secs(10);

enum Message {
    Record(LogBatch, usize),
    Flush(oneshot::Sender<()>),
}

/// The buffer and its writer (started on first use, inside the runtime).
pub struct Recorder {
    store: Arc<dyn DeliveryLog>,
    retention_days: u32,
    sender: OnceLock<mpsc::Sender<Message>>,
    buffered: Arc<AtomicUsize>,
    last_warning: Arc<Mutex<Option<Instant>>>,
    /// Deliveries whose records were lost (also counted in the metric).
    lost: Arc<AtomicUsize>,
}

impl Recorder {
    pub fn new(store: Arc<dyn DeliveryLog>, retention_days: u32) -> Self {
        Self {
            store,
            retention_days,
            sender: OnceLock::new(),
            buffered: Arc::default(),
            last_warning: Arc::default(),
            lost: Arc::default(),
        }
    }

    /// How many submissions (or written batches) were lost so far.
    pub fn lost_count(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }

    fn sender(&self) -> &mpsc::Sender<Message> {
        self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_BUFFERED);
            let writer = Writer {
                store: self.store.clone(),
                retention_days: self.retention_days,
                buffered: self.buffered.clone(),
                last_warning: self.last_warning.clone(),
                lost: self.lost.clone(),
                last_sweep: None,
            };
            tokio::spawn(writer.run(rx));
            tx
        })
    }

    /// Hands `pending` to the writer; never waits.
    pub fn submit(&self, pending: Pending) {
        if pending.is_empty() {
            return;
        }
        let sealed = pending.seal();
        let bytes = sealed.bytes();
        let held = self.buffered.fetch_add(bytes, Ordering::Relaxed);
        if held + bytes > MAX_BUFFERED_BYTES {
            self.buffered.fetch_sub(bytes, Ordering::Relaxed);
            lost(
                &self.lost,
                &self.last_warning,
                &sealed.workspaces(),
                "the buffer is full",
            );
            return;
        }
        if let Err(e) = self.sender().try_send(Message::Record(sealed, bytes)) {
            self.buffered.fetch_sub(bytes, Ordering::Relaxed);
            let sealed = match e {
                mpsc::error::TrySendError::Full(Message::Record(p, _))
                | mpsc::error::TrySendError::Closed(Message::Record(p, _)) => p,
                _ => return,
            };
            lost(
                &self.lost,
                &self.last_warning,
                &sealed.workspaces(),
                "the buffer is full",
            );
        }
    }

    /// Writes everything submitted so far (Lambda: before the invocation
    /// ends; `serve`: on shutdown), waiting at most `within`.
    pub async fn flush(&self, within: Duration) {
        let Some(sender) = self.sender.get() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if sender.send(Message::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(within, wait).await;
        }
    }
}

/// Counts and (at most every [`LOG_EVERY`]) logs entries that were lost.
fn lost(
    count: &AtomicUsize,
    last_warning: &Mutex<Option<Instant>>,
    workspaces: &[String],
    why: &str,
) {
    count.fetch_add(1, Ordering::Relaxed);
    for workspace in workspaces {
        metrics::delivery_log_failure(workspace);
    }
    let due = last_warning.lock().is_ok_and(|mut last| {
        let due = last.is_none_or(|t| t.elapsed() >= LOG_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    });
    if due {
        tracing::warn!(
            workspaces = workspaces.join(","),
            reason = why,
            "delivery log: entries not recorded (deliveries are unaffected)"
        );
    }
}

struct Writer {
    store: Arc<dyn DeliveryLog>,
    retention_days: u32,
    buffered: Arc<AtomicUsize>,
    last_warning: Arc<Mutex<Option<Instant>>>,
    lost: Arc<AtomicUsize>,
    last_sweep: Option<Instant>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        self.sweep().await;
        while let Some(first) = rx.recv().await {
            let mut batch = LogBatch::default();
            let mut flushes = Vec::new();
            let mut bytes = 0;
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Record(part, size) => {
                        bytes += size;
                        batch.merge(part);
                    }
                    Message::Flush(done) => {
                        flushes.push(done);
                        break;
                    }
                }
                if batch.entries.len() >= BATCH_ENTRIES {
                    break;
                }
                next = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(message)) => Some(message),
                    _ => None,
                };
            }
            self.write(batch).await;
            self.buffered.fetch_sub(bytes, Ordering::Relaxed);
            for done in flushes {
                let _ = done.send(());
            }
            if self.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                self.sweep().await;
            }
        }
    }

    async fn write(&self, batch: LogBatch) {
        if batch.is_empty() {
            return;
        }
        let workspaces = batch.workspaces();
        if let Err(e) = self.store.record(batch, self.retention_days).await {
            lost(&self.lost, &self.last_warning, &workspaces, &e.to_string());
        }
    }

    async fn sweep(&mut self) {
        self.last_sweep = Some(Instant::now());
        let before = now_ms() - i64::from(self.retention_days) * 24 * 3600 * 1000;
        match self.store.sweep(before).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "delivery log: entries past retention removed"),
            Err(e) => tracing::warn!(error = %e, "delivery log: the retention sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_log::model::{
        CountKind, LogEntry, LogPage, LogQuery, StoredBody, StreamCounts, StreamHealth, SyncRecord,
    };
    use crate::ports::{StoreError, StoreResult};
    use sha2::Digest;

    /// A log whose writes fail, or never finish.
    struct Broken {
        hang: bool,
    }

    #[async_trait::async_trait]
    impl DeliveryLog for Broken {
        async fn record(&self, _: LogBatch, _: u32) -> StoreResult<()> {
            if self.hang {
                futures::future::pending::<()>().await;
            }
            Err(StoreError::Invalid("the log is broken".into()))
        }
        async fn list(&self, _: &str, _: &LogQuery) -> StoreResult<LogPage> {
            Ok(LogPage::default())
        }
        async fn entry_by_id(&self, _: &str, _: &str) -> StoreResult<Option<LogEntry>> {
            Ok(None)
        }
        async fn body(&self, _: &str, _: &str) -> StoreResult<Option<StoredBody>> {
            Ok(None)
        }
        async fn counts(&self, _: &str, _: i64) -> StoreResult<Vec<StreamCounts>> {
            Ok(Vec::new())
        }
        async fn syncs(&self, _: &str, _: &str, _: usize) -> StoreResult<Vec<SyncRecord>> {
            Ok(Vec::new())
        }
        async fn health(&self, _: &str) -> StoreResult<Vec<StreamHealth>> {
            Ok(Vec::new())
        }
        async fn erase_user(&self, _: &str, _: &str, _: i64) -> StoreResult<u64> {
            Ok(0)
        }
        async fn sweep(&self, _: i64) -> StoreResult<u64> {
            Ok(0)
        }
    }

    fn pending() -> Pending {
        let mut pending = Pending::default();
        pending.add_count("ws", "s", CountKind::Delivered, 1, 0);
        pending
    }

    #[tokio::test]
    async fn a_failing_log_is_counted_and_never_fails_the_caller() {
        let recorder = Recorder::new(Arc::new(Broken { hang: false }), 7);
        recorder.submit(pending());
        recorder.flush(Duration::from_secs(30)).await;
        assert_eq!(recorder.lost_count(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_log_never_blocks_the_caller_once_its_buffer_is_full() {
        let recorder = Recorder::new(Arc::new(Broken { hang: true }), 7);
        // 50 MiB of bodies that do not pack (each cut at the 256 KiB the log
        // keeps) for a 32 MiB buffer whose writer never finishes: each
        // submit returns at once, and what does not fit is counted.
        // Hashes as printable text: nothing in it LZ4 can repeat.
        let body: String = (0u32..)
            .flat_map(|i| sha2::Sha256::digest(i.to_le_bytes()))
            .take(crate::delivery_log::model::REQUEST_BODY_LIMIT)
            .map(|byte| char::from(b'!' + byte % 90))
            .collect();
        for n in 0..200 {
            let mut pending = pending();
            pending
                .entries
                .push(crate::delivery_log::pending::PendingEntry {
                    entry: LogEntry {
                        id: crate::delivery_log::model::entry_id(0),
                        workspace_id: "ws".into(),
                        stream: "s".into(),
                        at_ms: 0,
                        moe_request_id: format!("r{n}"),
                        outcome: crate::delivery_log::model::AttemptOutcome::Delivered,
                        attempt: 1,
                        status: Some(200),
                        error: None,
                        latency_ms: None,
                        events: Default::default(),
                        request: None,
                        response: None,
                    },
                    body: Some(body.clone().into()),
                });
            recorder.submit(pending);
        }
        let lost = recorder.lost_count();
        assert!((60..=120).contains(&lost), "{lost} of 200 lost");
    }
}
