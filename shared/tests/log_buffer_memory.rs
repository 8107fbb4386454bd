//! The delivery log's buffer is bounded by what its batches are counted to
//! hold (`LogBatch::bytes`), so that count must be what the allocator
//! really gave them. Alone in its test binary: its global allocator counts
//! every live byte of the process (BENCHMARKS.md "Issue 22, eleventh
//! session").

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use shared::delivery_log::Pending;
use shared::delivery_log::batch::LogBatch;
use shared::delivery_log::model::{AttemptOutcome, CountKind, EventSummary};
use shared::delivery_log::pending::PendingEntry;
use shared::delivery_log::trace::{self, Trace};
use shared::domain::Event;

/// Bytes allocated and not yet freed, as requested of the allocator.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is passed on to `System` unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DELIVERIES: usize = 1_000;
const EVENTS_PER_DELIVERY: usize = 100;
const USERS_PER_DELIVERY: usize = 10;

fn event(delivery: usize, i: usize) -> Event {
    serde_json::from_value(serde_json::json!({
        "event_name": if i.is_multiple_of(3) { "order" } else { "page_view" },
        "event_code": "",
        "event_uuid": format!("{delivery:08x}-0000-4000-8000-{i:012x}"),
        "event_time": 1_700_000_000,
        "event_type": "USER_ACTION_EVENT",
        "event_source": "MPARTICLE",
        "uid": format!("user-{delivery}-{}", i % USERS_PER_DELIVERY),
        "event_attributes": {"order_id": format!("o-{delivery}-{i}"), "total": 42.5},
    }))
    .expect("a valid event")
}

/// One webhook delivery of 100 events as the delivery path hands it to
/// the recorder: its trace from the request as built and the answer as
/// read.
fn delivery(n: usize) -> Pending {
    let events: Vec<Event> = (0..EVENTS_PER_DELIVERY).map(|i| event(n, i)).collect();
    let body = serde_json::to_string(&events).expect("events encode");
    let url = "https://hooks.example.com/engage?token=s3cret"
        .parse()
        .unwrap();
    let mut request = reqwest::Request::new(reqwest::Method::POST, url);
    for (name, value) in [
        ("content-type", "application/json".to_owned()),
        ("authorization", "Bearer s3cret".to_owned()),
        ("webhook-id", format!("msg_{n}")),
        ("webhook-timestamp", "1700000000".to_owned()),
        ("webhook-signature", "v1,c2lnbmF0dXJl".to_owned()),
    ] {
        request
            .headers_mut()
            .insert(name, value.parse().expect("a valid header"));
    }
    let body = bytes::Bytes::from(body);
    *request.body_mut() = Some(body.clone().into());
    let sent = trace::request(&request);
    let mut answer_headers = http::HeaderMap::new();
    answer_headers.insert("content-type", "application/json".parse().unwrap());
    answer_headers.insert("x-request-id", format!("rq-{n}").parse().unwrap());
    let refs: Vec<&Event> = events.iter().collect();
    let trace = Trace {
        request_id: format!("moe-{n}"),
        at_ms: 1_700_000_000_000 + n as i64,
        events: EventSummary::of(&refs),
        accepted: true,
        status: Some(200),
        request: Some(sent),
        body: Some(body),
        response: Some(trace::response(200, &answer_headers, r#"{"ok":true}"#)),
        ..Trace::default()
    };
    let mut pending = Pending {
        secrets: vec!["s3cret".into()],
        ..Pending::default()
    };
    pending.entries.push(PendingEntry::of_trace(
        "ws",
        "hook",
        1,
        trace,
        AttemptOutcome::Delivered,
    ));
    pending.add_count("ws", "hook", CountKind::Delivered, 1, 1_700_000_000_000);
    pending
}

#[test]
fn a_sealed_batch_is_counted_at_what_it_holds() {
    let mut batches: Vec<LogBatch> = Vec::with_capacity(DELIVERIES);
    for n in 0..DELIVERIES {
        batches.push(delivery(n).seal());
    }
    let counted: usize = batches
        .iter()
        .map(|b| b.bytes() - size_of::<LogBatch>())
        .sum();

    let before = LIVE.load(Ordering::Relaxed);
    batches.clear(); // the batches' own heap; the Vec keeps its slots
    let held = (before - LIVE.load(Ordering::Relaxed)) as usize;

    // Each delivery holds about 11 KB: its body packed (2.6 KB), 100 event
    // ids (6 KB), ten uids, its request and answer. Sealing keeps no spare
    // room: the uids' 100 slots before their dedup were 3 KB more.
    let per_delivery = held / DELIVERIES;
    assert!(
        (8_000..12_000).contains(&per_delivery),
        "{per_delivery} bytes per delivery"
    );
    let off = counted.abs_diff(held) as f64 / held as f64;
    assert!(
        off < 0.01,
        "counted {counted} bytes, the allocator holds {held} ({:.1} % off)",
        off * 100.0
    );
}
