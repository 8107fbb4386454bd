//! The runtime `serve`'s queue consumers run on: a second one, whose
//! threads the OS schedules after the HTTP workers'. On one runtime, a
//! request could wait for a worker busy with a dispatch batch's CPU work
//! (decoding, mapping, encoding bodies); here the consumers take the CPU
//! the requests leave, and an acknowledgement no longer waits behind it
//! (BENCHMARKS.md "Consumers on a runtime of their own").

use std::io;

use shared::runtime::priority;

/// Threads for the consumers' blocking work: their SQLite reads, which wait
/// for one of the store's and the delivery log's four read connections
/// each anyway. Unbounded, the pool grew to 17 threads flat out, each with
/// an allocator heap of its own.
const BLOCKING_THREADS: usize = 8;

/// Half the cores (at least one) as workers: with as many as the HTTP
/// workers, peak memory flat out was 131–142 MiB against 106–115 MiB
/// (BENCHMARKS.md).
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("consumer")
        .enable_all()
        .on_thread_start(priority::lower_calling_thread)
        .build()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use shared::runtime::priority::{NICENESS, calling_thread_niceness as niceness};

    #[test]
    fn consumers_run_below_the_http_workers() {
        let own = niceness();
        let background = runtime().unwrap();
        let on_worker = background.block_on(background.spawn(async { niceness() }));
        let on_blocking = background.block_on(background.spawn_blocking(niceness));
        // Raising a nice value needs no privilege; 19 is the ceiling.
        let expected = (own + NICENESS).min(19);
        assert_eq!(on_worker.unwrap(), expected);
        assert_eq!(on_blocking.unwrap(), expected);
        assert_eq!(niceness(), own, "the caller keeps its priority");
        background.shutdown_background();
    }
}
