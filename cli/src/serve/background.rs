//! The runtime `serve`'s queue consumers run on: a second one, whose
//! threads the OS schedules after the HTTP workers'. On one runtime, a
//! request could wait for a worker busy with a dispatch batch's CPU work
//! (decoding, mapping, encoding bodies); here the consumers take the CPU
//! the requests leave, and an acknowledgement no longer waits behind it
//! (BENCHMARKS.md "Consumers on a runtime of their own").
//!
//! One worker per core (BENCHMARKS.md "Issue 22, sixteenth session"): one
//! worker (the keeper) and the blocking threads at nice +10, so the
//! consumers keep a share of a core however busy the machine is; the other
//! workers in the idle scheduling class, so they drain the backlog on the
//! cores no request wants and give a core back at once when a request's
//! thread wakes. With every worker at nice +10, the ack tail at half the
//! maximum rate lengthened (a worker keeps its core for the rest of its
//! time slice); with every thread idle, the consumers all but stopped while
//! other processes took the cores.

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use shared::runtime::priority;

/// Threads for the consumers' blocking work: their SQLite reads, which wait
/// for one of the store's and the delivery log's four read connections
/// each anyway. Unbounded, the pool grew to 17 threads flat out, each with
/// an allocator heap of its own.
const BLOCKING_THREADS: usize = 8;

thread_local! {
    /// Whether this worker has taken its place (keeper or spare) yet.
    static PLACED: Cell<bool> = const { Cell::new(false) };
}

/// The consumers' runtime: as many workers as cores. Peak memory flat out
/// was 80–100 MiB with two workers on two cores (131–142 MiB when the sixth
/// session tried two, before the allocator and packed bodies changed).
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Every thread starts at nice +10. Only workers park, and a worker
    // parks as soon as it has nothing to do: the first to park stays the
    // keeper, the others join the idle class. (Which thread runs a worker is
    // only known once it runs one: tokio's pool hands its first tasks, the
    // workers, to whichever of its threads starts first.)
    let placed = Arc::new(AtomicUsize::new(0));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("consumer")
        .enable_all()
        .on_thread_start(priority::lower_calling_thread)
        .on_thread_park(move || {
            if !PLACED.replace(true) && placed.fetch_add(1, Ordering::Relaxed) > 0 {
                priority::idle_calling_thread();
            }
        })
        .build()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use shared::runtime::priority::{NICENESS, calling_thread_niceness, threads_named};

    #[test]
    fn one_consumer_worker_keeps_a_share_and_the_others_take_spare_cores() {
        let own = calling_thread_niceness();
        let background = runtime().unwrap();
        let on_blocking = background.block_on(background.spawn_blocking(calling_thread_niceness));
        // Raising a nice value needs no privilege; 19 is the ceiling.
        let lowered = (own + NICENESS).min(19);
        assert_eq!(on_blocking.unwrap(), lowered);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(background.metrics().num_workers(), cores);
        // The workers have nothing to do: each parks and takes its place.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let threads = loop {
            let threads = threads_named("consumer");
            let spare = threads.iter().filter(|t| t.idle).count();
            if spare == cores - 1 || std::time::Instant::now() > deadline {
                break threads;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let (spare, kept): (Vec<_>, Vec<_>) = threads.iter().partition(|t| t.idle);
        assert_eq!(spare.len(), cores - 1, "{threads:?}");
        assert!(
            kept.len() >= 2,
            "a worker and a blocking thread: {threads:?}"
        );
        assert!(kept.iter().all(|t| t.nice == lowered), "{threads:?}");
        assert_eq!(
            calling_thread_niceness(),
            own,
            "the caller keeps its priority"
        );
        background.shutdown_background();
    }
}
