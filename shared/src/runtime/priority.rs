//! Threads that no request waits on run below the threads that answer
//! requests: the OS gives them the CPU the requests leave, and all of it
//! when no request wants it. `serve`'s queue consumers (BENCHMARKS.md
//! "Consumers on a runtime of their own") and the delivery log's writing
//! and checkpointing threads (BENCHMARKS.md "The delivery log below the
//! requests") run this way.

use std::io;

/// How much less the OS favours a lowered thread: a nice value; at 10 it
/// gets about a tenth of what a request's thread gets while both want the
/// CPU.
pub const NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`NICENESS`] (on Linux a nice
/// value is a thread's own, and `nice` changes the caller's). Failing to is
/// harmless: the thread keeps the process's priority.
pub fn lower_calling_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a system call on the calling thread; no memory passed.
        // -1 is also a valid result, so errno tells a failure.
        let failed = unsafe {
            *libc::__errno_location() = 0;
            libc::nice(NICENESS) == -1 && *libc::__errno_location() != 0
        };
        if failed {
            tracing::debug!(error = %io::Error::last_os_error(), "a background thread keeps its priority");
        }
    }
}

/// The calling thread's nice value (what tests check).
#[cfg(target_os = "linux")]
pub fn calling_thread_niceness() -> i32 {
    // SAFETY: system calls on the calling thread; no memory passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    }
}
