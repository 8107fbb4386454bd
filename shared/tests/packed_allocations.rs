//! Packing a body and reading it back makes no large zeroed allocation.
//! jemalloc, serve's allocator, zeroes one by handing its pages back to the
//! kernel: a `madvise` and a page fault per 4 KiB, on every body; they were
//! ≈ 10 % of serve's CPU per event (BENCHMARKS.md "Issue 22, twelfth
//! session"). Alone in its test binary: its global allocator sees the
//! whole process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shared::store::packed::{pack, unpack};

/// The largest allocation jemalloc's thread cache holds (its default
/// `tcache_max`): those it zeroes with `memset`, larger ones through the
/// kernel. (LZ4's 16 KiB hash table, zeroed on every compression, is below.)
const CACHED: usize = 32 * 1024;

/// Zeroed allocations larger than [`CACHED`] made so far.
static LARGE_ZEROED: AtomicUsize = AtomicUsize::new(0);

struct Watching;

// SAFETY: every call is passed on to `System` unchanged; only counted.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CACHED {
            LARGE_ZEROED.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

#[test]
fn bodies_are_packed_and_read_back_without_large_zeroed_allocations() {
    // A webhook request's body of 100 events: ≈ 80 KiB, the size the queue
    // and the delivery log pack.
    let events: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"event_name":"Viewed Product {i}","event_uuid":"{i:08x}-0000-4000-8000-000000000000","event_attributes":{{"product_id":"SKU-{i}","price":"49.99"}},"padding":"{}"}}"#,
                "x".repeat(600)
            )
        })
        .collect();
    let body = format!(r#"{{"events":[{}]}}"#, events.join(","));
    assert!(body.len() > 2 * CACHED, "{} bytes", body.len());
    const LIMIT: usize = 1024 * 1024;

    // The first body sizes the thread's buffer.
    assert_eq!(unpack(&pack(&body), LIMIT).unwrap(), body);
    let before = LARGE_ZEROED.load(Ordering::Relaxed);
    for _ in 0..50 {
        let packed = pack(&body);
        assert_eq!(unpack(&packed, LIMIT).unwrap(), body);
    }
    assert_eq!(LARGE_ZEROED.load(Ordering::Relaxed) - before, 0);
}
