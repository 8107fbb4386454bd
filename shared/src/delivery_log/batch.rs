//! What one write of the log carries. A delivery's part of it is sealed
//! where the delivery is made (secrets masked, bodies cut and packed,
//! `pending.rs`), so the recorder's buffer holds bodies packed: about a
//! fifth of their text (BENCHMARKS.md "Packed delivery-log buffer").

use super::heap::{HeapBytes, heap_bytes_of_fields};
use super::model::{
    AttemptOutcome, CountDelta, LastAttempt, LastKind, LogEntry, StoredBody, SyncRecord,
    WaitingChange,
};
use crate::store::packed;

/// A request body on its way to the log: masked, cut at
/// [`super::model::REQUEST_BODY_LIMIT`] and packed (`store/packed.rs`).
/// The adapters store `packed` as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedBody {
    pub moe_request_id: String,
    pub at_ms: i64,
    pub packed: Vec<u8>,
    pub truncated: bool,
}

impl From<StoredBody> for PackedBody {
    fn from(body: StoredBody) -> Self {
        Self {
            packed: packed::pack(&body.body),
            moe_request_id: body.moe_request_id,
            at_ms: body.at_ms,
            truncated: body.truncated,
        }
    }
}

heap_bytes_of_fields!(PackedBody { owning: moe_request_id, packed; plain: at_ms, truncated });

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBatch {
    pub entries: Vec<LogEntry>,
    /// One body per workspace and request (the latest attempt's wins).
    pub bodies: Vec<(String, PackedBody)>,
    /// At most one delta per workspace, stream, bucket and kind.
    pub counts: Vec<CountDelta>,
    pub waiting: Vec<WaitingChange>,
    pub syncs: Vec<SyncRecord>,
}

heap_bytes_of_fields!(LogBatch { owning: entries, bodies, counts, waiting, syncs; plain: });

impl LogBatch {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.bodies.is_empty()
            && self.counts.is_empty()
            && self.waiting.is_empty()
            && self.syncs.is_empty()
    }

    /// What it holds in memory, as allocated (the recorder's buffer is
    /// bounded by this; `heap.rs`).
    pub fn bytes(&self) -> usize {
        size_of::<Self>() + self.heap_bytes()
    }

    /// The workspaces this batch writes for (failures are counted per workspace).
    pub fn workspaces(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.workspace_id.clone())
            .chain(self.bodies.iter().map(|(w, _)| w.clone()))
            .chain(self.counts.iter().map(|c| c.workspace_id.clone()))
            .chain(self.waiting.iter().map(|w| w.workspace_id.clone()))
            .chain(self.syncs.iter().map(|s| s.workspace_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Keeps `body` as its request's body, replacing an earlier attempt's.
    pub fn add_body(&mut self, workspace_id: &str, body: PackedBody) {
        self.bodies
            .retain(|(w, b)| !(w == workspace_id && b.moe_request_id == body.moe_request_id));
        self.bodies.push((workspace_id.to_owned(), body));
    }

    /// Adds `delta` to the count it shares a key with, or keeps it.
    pub fn add_count(&mut self, delta: CountDelta) {
        match self.counts.iter_mut().find(|c| {
            c.workspace_id == delta.workspace_id
                && c.stream == delta.stream
                && c.bucket_ms == delta.bucket_ms
                && c.kind == delta.kind
        }) {
            Some(existing) => existing.n += delta.n,
            None => self.counts.push(delta),
        }
    }

    /// Takes in `other`, written after what this batch holds.
    pub fn merge(&mut self, other: LogBatch) {
        self.entries.extend(other.entries);
        for (workspace, body) in other.bodies {
            self.add_body(&workspace, body);
        }
        for delta in other.counts {
            self.add_count(delta);
        }
        self.waiting.extend(other.waiting);
        self.syncs.extend(other.syncs);
    }

    /// The newest success and error per (workspace, stream) among the
    /// entries (a wait is neither).
    pub fn last_attempts(&self) -> Vec<(String, String, LastKind, LastAttempt)> {
        let mut newest: std::collections::HashMap<(&str, &str, LastKind), &LogEntry> =
            std::collections::HashMap::new();
        for entry in &self.entries {
            let kind = match entry.outcome {
                AttemptOutcome::Delivered => LastKind::Success,
                AttemptOutcome::Waiting => continue,
                _ => LastKind::Error,
            };
            let key = (entry.workspace_id.as_str(), entry.stream.as_str(), kind);
            let slot = newest.entry(key).or_insert(entry);
            if entry.at_ms > slot.at_ms {
                *slot = entry;
            }
        }
        newest
            .into_iter()
            .map(|((w, s, kind), e)| {
                let last = LastAttempt {
                    at_ms: e.at_ms,
                    status: e.status,
                    error: e.error.clone(),
                };
                (w.to_owned(), s.to_owned(), kind, last)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_log::model::CountKind;

    fn body(request: &str, text: &str) -> PackedBody {
        StoredBody {
            moe_request_id: request.into(),
            at_ms: 1,
            body: text.into(),
            truncated: false,
        }
        .into()
    }

    fn delta(stream: &str, n: u64) -> CountDelta {
        CountDelta {
            workspace_id: "ws".into(),
            stream: stream.into(),
            bucket_ms: 0,
            kind: CountKind::Delivered,
            n,
        }
    }

    #[test]
    fn merging_keeps_the_latest_body_of_a_request_and_sums_counts() {
        let mut first = LogBatch::default();
        first.add_body("ws", body("r1", "first"));
        first.add_body("ws", body("r2", "other"));
        first.add_count(delta("s", 2));
        let mut second = LogBatch::default();
        second.add_body("ws", body("r1", "second"));
        second.add_body("elsewhere", body("r1", "not the same request"));
        second.add_count(delta("s", 3));
        second.add_count(delta("t", 1));
        first.merge(second);

        let text = |w: &str, r: &str| {
            let (_, b) = first
                .bodies
                .iter()
                .find(|(ws, b)| ws == w && b.moe_request_id == r)
                .unwrap();
            packed::unpack(&b.packed, 1024).unwrap()
        };
        assert_eq!(first.bodies.len(), 3);
        assert_eq!(text("ws", "r1"), "second");
        assert_eq!(text("ws", "r2"), "other");
        assert_eq!(text("elsewhere", "r1"), "not the same request");
        let counts: Vec<(&str, u64)> = first
            .counts
            .iter()
            .map(|c| (c.stream.as_str(), c.n))
            .collect();
        assert_eq!(counts, [("s", 5), ("t", 1)]);
    }

    #[test]
    fn a_packed_body_is_counted_at_its_packed_size() {
        let text = format!("[{}]", r#"{"event_name":"order"},"#.repeat(2_000));
        let mut batch = LogBatch::default();
        batch.add_body("ws", body("r", &text));
        assert!(batch.bytes() * 5 < text.len(), "{} bytes", batch.bytes());
    }
}
