//! Threads that no request waits on run below the threads that answer
//! requests: the OS gives them the CPU the requests leave, and all of it
//! when no request wants it. The delivery log's writing and checkpointing
//! threads (BENCHMARKS.md "The delivery log below the requests") and
//! `serve`'s queue consumers (BENCHMARKS.md "Consumers on a runtime of
//! their own") run at a higher nice value; the consumers' spare workers
//! run in the idle scheduling class (BENCHMARKS.md "Issue 22, sixteenth
//! session").

use std::io;

/// How much less the OS favours a lowered thread: a nice value; at 10 it
/// gets about a tenth of what a request's thread gets while both want the
/// CPU.
pub const NICENESS: i32 = 10;

/// Sets the calling thread's nice value to the process's plus [`NICENESS`]
/// (on Linux a nice value is a thread's own). A new thread starts with the
/// value and the class of the thread that created it, so the value is set
/// from the process's (the main thread's), not added to the creator's, and
/// an idle class taken from the creator is left where the OS allows it
/// (leaving it needs `CAP_SYS_NICE` or a `RLIMIT_NICE`). Failing to is
/// harmless: the thread keeps what it started with.
pub fn lower_calling_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: system calls on the calling thread (pid 0 and `who` 0 are
        // the caller) and on the main thread (pid = the process id); `param`
        // outlives its call. -1 is also a valid nice value, so errno tells a
        // failure of `getpriority`.
        let failed = unsafe {
            if libc::sched_getscheduler(0) == libc::SCHED_IDLE {
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
            }
            *libc::__errno_location() = 0;
            let process = libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t);
            let lowered = (process + NICENESS).min(19);
            (process == -1 && *libc::__errno_location() != 0)
                || libc::setpriority(libc::PRIO_PROCESS, 0, lowered) != 0
        };
        if failed {
            tracing::debug!(error = %io::Error::last_os_error(), "a background thread keeps its priority");
        }
    }
}

/// Puts the calling thread in Linux's idle scheduling class (`SCHED_IDLE`,
/// sched(7)): it runs on the CPU other threads leave, and a thread of the
/// normal class that wakes takes the core from it at once, where a thread
/// at a higher nice value keeps it for the rest of its time slice. It gets
/// next to nothing of a core that other threads want, so it suits only
/// work that a thread of the normal class can also pick up (the consumers'
/// keeper, `cli/src/serve/background.rs`). Joining the class needs no
/// privilege; failing to is harmless: the thread keeps its class.
pub fn idle_calling_thread() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a system call on the calling thread (pid 0); `param`
        // outlives it.
        let failed = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0;
        if failed {
            tracing::debug!(error = %io::Error::last_os_error(), "a background thread keeps its scheduling class");
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

/// One of this process's threads as the OS schedules it (what tests check).
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct ThreadPriority {
    pub name: String,
    pub nice: i32,
    /// In the idle scheduling class (`SCHED_IDLE`).
    pub idle: bool,
}

/// This process's threads whose names start with `prefix`
/// (/proc/self/task/*/stat: fields 19, the nice value, and 41, the policy;
/// proc(5)). A thread that ends while they are read is left out.
#[cfg(target_os = "linux")]
pub fn threads_named(prefix: &str) -> Vec<ThreadPriority> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1;
            if !name.starts_with(prefix) {
                return None;
            }
            // `rest` holds fields 3, 4, …
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(ThreadPriority {
                name: name.to_owned(),
                nice: fields.get(16)?.parse().ok()?,
                idle: fields.get(38)?.parse::<i32>().ok()? == libc::SCHED_IDLE,
            })
        })
        .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_thread_is_set_from_the_process_not_from_its_creator() {
        let own = calling_thread_niceness();
        let lowered = (own + NICENESS).min(19);
        let (creator, child) = std::thread::spawn(move || {
            lower_calling_thread();
            let child = std::thread::spawn(|| {
                lower_calling_thread();
                calling_thread_niceness()
            });
            (calling_thread_niceness(), child.join().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(creator, lowered);
        assert_eq!(child, lowered, "not {}", (lowered + NICENESS).min(19));
        assert_eq!(
            calling_thread_niceness(),
            own,
            "the caller keeps its priority"
        );
    }

    #[test]
    fn an_idle_thread_runs_in_the_idle_class_and_its_creator_does_not() {
        let name = "idle-class-test";
        let idle = std::thread::Builder::new().name(name.into());
        let (started, stop) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let thread = idle
            .spawn(move || {
                idle_calling_thread();
                started.0.send(()).unwrap();
                stop.1.recv().ok();
            })
            .unwrap();
        started.1.recv().unwrap();
        let threads = threads_named(name);
        stop.0.send(()).unwrap();
        thread.join().unwrap();
        assert!(matches!(threads.as_slice(), [t] if t.idle), "{threads:?}");
        // SAFETY: a system call on the calling thread; no memory passed.
        let own = unsafe { libc::sched_getscheduler(0) };
        assert_ne!(own, libc::SCHED_IDLE, "the creator keeps its class");
    }
}
