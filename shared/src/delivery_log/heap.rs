//! What a sealed batch holds on the heap, counted as it was allocated:
//! strings and vectors at their capacity, each element's own heap too. The
//! recorder's buffer is bounded by this count, so it must not undercount:
//! a flat estimate per entry counted half of what the allocator gave
//! (BENCHMARKS.md "Issue 22, eleventh session"). Each impl destructures its
//! type in full, so a new field does not compile until it is counted
//! (`heap_bytes_of_fields!`; the batch's own types use it in `batch.rs`).

use super::model::{
    CountDelta, EventSummary, LogEntry, ReceivedResponse, SentRequest, SyncRecord, WaitingChange,
};

/// Bytes a value owns on the heap (its inline `size_of` not included).
pub trait HeapBytes {
    fn heap_bytes(&self) -> usize;
}

impl HeapBytes for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: HeapBytes> HeapBytes for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + self.iter().map(T::heap_bytes).sum::<usize>()
    }
}

impl<T: HeapBytes> HeapBytes for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, T::heap_bytes)
    }
}

impl<A: HeapBytes, B: HeapBytes> HeapBytes for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

impl HeapBytes for u8 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// `HeapBytes` for a struct: the sum of its `owning` fields' heap. The
/// pattern names every field, the `plain` ones (numbers, flags, enums)
/// included, so a field added to the struct fails to compile here until
/// it is placed in one list or the other.
macro_rules! heap_bytes_of_fields {
    ($ty:ty { owning: $($owning:ident),+ ; plain: $($plain:ident),* $(,)? }) => {
        impl HeapBytes for $ty {
            fn heap_bytes(&self) -> usize {
                let Self { $($owning,)+ $($plain: _,)* } = self;
                0 $(+ $owning.heap_bytes())+
            }
        }
    };
}
pub(crate) use heap_bytes_of_fields;

heap_bytes_of_fields!(EventSummary { owning: uuids, names, uids; plain: count });
heap_bytes_of_fields!(SentRequest { owning: method, url, headers; plain: body_bytes });
heap_bytes_of_fields!(ReceivedResponse { owning: headers, body; plain: status, truncated });
heap_bytes_of_fields!(LogEntry {
    owning: id, workspace_id, stream, moe_request_id, error, events, request, response;
    plain: at_ms, outcome, attempt, status, latency_ms,
});
heap_bytes_of_fields!(CountDelta { owning: workspace_id, stream; plain: bucket_ms, kind, n });
heap_bytes_of_fields!(WaitingChange {
    owning: workspace_id, stream, moe_request_id;
    plain: waiting_events, at_ms,
});
heap_bytes_of_fields!(SyncRecord {
    owning: id, workspace_id, segment_id, message_id, action;
    plain: at_ms, users, applied, created, dropped, duplicates,
});
