//! The delivery log's port (docs/interface/console.md "Delivery log"):
//! written in batches off the delivery path by the recorder
//! (`crate::delivery_log`), read by the console.

use async_trait::async_trait;

use super::StoreResult;
use crate::delivery_log::batch::LogBatch;
use crate::delivery_log::model::{
    LogEntry, LogPage, LogQuery, StoredBody, StreamCounts, StreamHealth, SyncRecord,
};

#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Writes a batch: entries and bodies kept `retention_days`, counts
    /// added to their buckets, each stream's last success and error moved
    /// forward (never back), waiting requests set or cleared.
    async fn record(&self, batch: LogBatch, retention_days: u32) -> StoreResult<()>;

    /// A workspace's entries matching `query`, newest first. A page may
    /// hold fewer than `limit` entries and still continue (`next_before`):
    /// an adapter reads a bounded amount per call. Give `since_ms` (the
    /// retention's start at the latest): DynamoDB reads time partitions.
    async fn list(&self, workspace: &str, query: &LogQuery) -> StoreResult<LogPage>;

    async fn entry_by_id(&self, workspace: &str, id: &str) -> StoreResult<Option<LogEntry>>;

    /// The body of a request (`moe_request_id`), while it is kept.
    async fn body(&self, workspace: &str, moe_request_id: &str) -> StoreResult<Option<StoredBody>>;

    /// Counts per stream (`""`: the workspace) summed over the buckets
    /// from `since_ms` on.
    async fn counts(&self, workspace: &str, since_ms: i64) -> StoreResult<Vec<StreamCounts>>;

    /// A segment's applied syncs, newest first (at most `limit`).
    async fn syncs(
        &self,
        workspace: &str,
        segment_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<SyncRecord>>;

    /// Last success, last error and waiting requests per stream.
    async fn health(&self, workspace: &str) -> StoreResult<Vec<StreamHealth>>;

    /// Removes every entry naming `uid` (those from `since_ms` on: the
    /// retention's start) and the bodies of their requests, beyond recovery
    /// from the store's files (privacy erasure); returns how many entries
    /// went.
    async fn erase_user(&self, workspace: &str, uid: &str, since_ms: i64) -> StoreResult<u64>;

    /// Removes what is older than `before_ms`; returns how many entries
    /// went. DynamoDB's TTL does this on its own (0).
    async fn sweep(&self, before_ms: i64) -> StoreResult<u64>;
}
