//! Group commit: the store's one writing connection lives on its own
//! thread, and the writes that arrive while it is busy are applied together
//! in one transaction, each inside its own savepoint, then answered after
//! that transaction's commit (docs/architecture.md "Two ways to run").
//!
//! SQLite has one writer at a time, and under load an ingest request's
//! writes (its rate counter, its profiles, its queue message) waited in line
//! behind dispatch's and each other's, one transaction each. A group pays
//! one `BEGIN`/`COMMIT` and writes a page that several of its writes touch
//! (the queue's index, the free list) to the WAL once, so the line is
//! shorter and the WAL, which the checkpoints copy back, is smaller
//! (BENCHMARKS.md "Group commit").
//!
//! What each caller sees is unchanged: its write is applied whole or not at
//! all (a failing write rolls back to its savepoint; the others in the
//! group go on), and it is answered only once the group is committed, so
//! nothing is acknowledged that a crash could lose.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::savepoint::{self, WRITE};
use super::{failed, map_sqlite_error};
use crate::ports::{StoreError, StoreResult};

/// Writes waiting for the writer at most; more wait as tasks to be let in.
const WAITING: usize = 256;
/// Writes in one transaction at most: a group's first write is answered no
/// later than its last is applied.
const GROUP: usize = 64;

/// The writing thread; stopped (and joined) when dropped.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

enum Job {
    /// Applied inside the current group's transaction.
    Grouped(Box<dyn Write>),
    /// Run by itself, outside any transaction (it manages its own, or runs
    /// what SQLite refuses inside one: a `TRUNCATE` checkpoint).
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// A caller's write, waiting for its turn.
trait Write: Send {
    /// Applies the write inside the open transaction.
    fn apply(self: Box<Self>, conn: &mut Connection) -> Box<dyn Applied>;
    /// Answers without applying: the group's transaction did not begin.
    fn refuse(self: Box<Self>, error: StoreError);
}

/// A write that ran, waiting for its group's commit to be answered.
trait Applied: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller: its own result if the commit (`None`) succeeded
    /// or the write itself failed, else the commit's error.
    fn answer(self: Box<Self>, commit: Option<StoreError>);
}

struct Request<T, F> {
    work: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

struct Outcome<T> {
    result: StoreResult<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Write for Request<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn apply(self: Box<Self>, conn: &mut Connection) -> Box<dyn Applied> {
        let Request { work, reply } = *self;
        Box::new(Outcome {
            result: run_caught(work, conn),
            reply,
        })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Applied for Outcome<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, commit: Option<StoreError>) {
        let result = match (self.result, commit) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        };
        // The caller may have gone (its request was cancelled): nothing to tell.
        let _ = self.reply.send(result);
    }
}

/// Runs `work`, turning a panic into an error: SQLite has already undone
/// what the panicking statement did, the caller's savepoint undoes the rest.
fn run_caught<T>(
    work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    conn: &mut Connection,
) -> StoreResult<T> {
    match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(result) => result.map_err(map_sqlite_error),
        Err(_) => Err(failed(
            "a write did not complete",
            std::io::Error::other("it panicked"),
        )),
    }
}

/// The same failure again, for each write of a group that shares it (a
/// SQLite error cannot be cloned; its code, which decides its kind, can).
fn shared_error(e: &rusqlite::Error) -> StoreError {
    let copy = match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    };
    map_sqlite_error(copy)
}

impl Writer {
    /// Starts the thread that owns writing on `conn` (which the checkpoints
    /// also take, between two groups).
    pub fn start(conn: Arc<Mutex<Connection>>, role: super::Role) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::channel(WAITING);
        let thread = std::thread::Builder::new()
            .name(role.thread_name("writer"))
            .spawn(move || {
                role.on_thread_start();
                serve(&conn, queued)
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Applies `work` in the next group; answered once that group commits.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Grouped(Box::new(Request { work, reply })))
            .await?;
        answer
            .await
            .map_err(|e| failed("a write did not complete", e))?
    }

    /// Runs `work` by itself, outside any transaction.
    pub async fn alone<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = move |conn: &mut Connection| {
            let _ = reply.send(run_caught(work, conn));
        };
        self.send(Job::Alone(Box::new(job))).await?;
        answer
            .await
            .map_err(|e| failed("a write did not complete", e))?
    }

    async fn send(&self, job: Job) -> StoreResult<()> {
        let jobs = self.jobs.as_ref().expect("present until dropped");
        jobs.send(job)
            .await
            .map_err(|_| failed("the writer stopped", std::io::Error::other("closed")))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has answered the rest.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writing thread: takes what is waiting (up to [`GROUP`] writes, or up
/// to a write that must run alone) and applies it, until the store closes.
fn serve(conn: &Mutex<Connection>, mut queued: mpsc::Receiver<Job>) {
    while let Some(first) = queued.blocking_recv() {
        let mut group = Vec::new();
        let mut alone = None;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Grouped(write) => group.push(write),
                Job::Alone(work) => {
                    alone = Some(work);
                    break;
                }
            }
            if group.len() < GROUP {
                next = queued.try_recv().ok();
            }
        }
        // A panic never happens while the lock is held (writes are caught).
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        if !group.is_empty() {
            commit_group(&mut conn, group);
        }
        if let Some(work) = alone {
            work(&mut conn);
        }
    }
}

/// Applies `writes` in one transaction and answers each after its commit.
/// A write that fails is rolled back to its savepoint alone; if SQLite
/// rolls the whole transaction back (an I/O error, a full disk), the
/// writes applied before it are answered with the error and the rest go on
/// in a new transaction.
fn commit_group(conn: &mut Connection, writes: Vec<Box<dyn Write>>) {
    let mut writes = writes.into_iter();
    while writes.len() > 0 {
        if let Err(e) = savepoint::run(conn, "BEGIN IMMEDIATE") {
            for write in writes.by_ref() {
                write.refuse(shared_error(&e));
            }
            return;
        }
        let mut applied: Vec<Box<dyn Applied>> = Vec::new();
        let mut rolled_back = false;
        for write in writes.by_ref() {
            if let Err(e) = savepoint::run(conn, WRITE.open) {
                write.refuse(shared_error(&e));
                continue;
            }
            let done = write.apply(conn);
            if conn.is_autocommit() {
                // The transaction is gone, and with it what the group wrote.
                rolled_back = true;
                let lost = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the transaction was rolled back by a later write's failure".into()),
                );
                for earlier in applied.drain(..) {
                    earlier.answer(Some(shared_error(&lost)));
                }
                done.answer(Some(shared_error(&lost)));
                break;
            }
            let mut unreleased = None;
            if done.succeeded() {
                match savepoint::run(conn, WRITE.release) {
                    Ok(()) => {
                        applied.push(done);
                        continue;
                    }
                    Err(e) => unreleased = Some(shared_error(&e)),
                }
            }
            // The write failed (or could not be kept): undo it alone.
            match WRITE.undo(conn) {
                Ok(()) => done.answer(unreleased),
                Err(e) => {
                    // Not undone: nothing of the group may be committed.
                    let _ = conn.execute_batch("ROLLBACK");
                    for earlier in applied.drain(..) {
                        earlier.answer(Some(shared_error(&e)));
                    }
                    done.answer(Some(shared_error(&e)));
                    rolled_back = true;
                    break;
                }
            }
        }
        if rolled_back {
            continue;
        }
        let commit = savepoint::run(conn, "COMMIT");
        if commit.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in applied {
            done.answer(commit.as_ref().err().map(shared_error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY);
             CREATE TABLE child (k TEXT REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED);
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        conn
    }

    type Reply = oneshot::Receiver<StoreResult<usize>>;

    /// A write of `sql` (which may fail), as a caller of the store sends it.
    fn write(sql: &'static str) -> (Box<dyn Write>, Reply) {
        let (reply, answer) = oneshot::channel();
        let work = move |conn: &mut Connection| {
            // Two statements, no savepoint of its own: the group's undoes
            // the first when the second fails.
            conn.execute(
                "INSERT INTO t (k) VALUES ('before-' || hex(randomblob(4)))",
                [],
            )?;
            conn.execute(sql, [])
        };
        (Box::new(Request { work, reply }), answer)
    }

    fn keys(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT k FROM t WHERE k NOT LIKE 'before-%' ORDER BY k")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_failing_write_is_undone_alone_and_the_rest_of_its_group_commits() {
        let mut conn = table();
        let (a, a_answer) = write("INSERT INTO t (k) VALUES ('a')");
        let (dup, dup_answer) = write("INSERT INTO t (k) VALUES ('a')");
        // As the store's writes do: a savepoint of its own.
        let (reply, b_answer) = oneshot::channel();
        let work = |conn: &mut Connection| {
            let tx = savepoint::Savepoint::open(conn)?;
            let n = tx.execute("INSERT INTO t (k) VALUES ('b')", [])?;
            tx.commit()?;
            Ok(n)
        };
        let b = Box::new(Request { work, reply });
        commit_group(&mut conn, vec![a, dup, b]);
        assert!(conn.is_autocommit());
        assert_eq!(keys(&conn), ["a", "b"]);
        // The failing write's first statement is undone with it.
        assert_eq!(rows(&conn), 3);
        assert_eq!(a_answer.blocking_recv().unwrap().unwrap(), 1);
        assert_eq!(b_answer.blocking_recv().unwrap().unwrap(), 1);
        let error = dup_answer.blocking_recv().unwrap().unwrap_err();
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    }

    #[test]
    fn a_panicking_write_is_answered_with_an_error_and_undone() {
        let mut conn = table();
        let (a, a_answer) = write("INSERT INTO t (k) VALUES ('a')");
        let (reply, panicked) = oneshot::channel::<StoreResult<usize>>();
        let work = |conn: &mut Connection| -> rusqlite::Result<usize> {
            conn.execute("INSERT INTO t (k) VALUES ('p')", [])?;
            panic!("a bug in a write");
        };
        commit_group(&mut conn, vec![a, Box::new(Request { work, reply })]);
        assert_eq!(keys(&conn), ["a"]);
        assert_eq!(a_answer.blocking_recv().unwrap().unwrap(), 1);
        assert!(panicked.blocking_recv().unwrap().is_err());
    }

    #[test]
    fn no_write_is_answered_ok_when_its_group_fails_to_commit() {
        let mut conn = table();
        let (a, a_answer) = write("INSERT INTO t (k) VALUES ('a')");
        // Valid until the commit checks its deferred foreign key.
        let (orphan, orphan_answer) = write("INSERT INTO child (k) VALUES ('nobody')");
        commit_group(&mut conn, vec![a, orphan]);
        assert!(conn.is_autocommit());
        assert_eq!(rows(&conn), 0);
        for answer in [a_answer, orphan_answer] {
            assert!(answer.blocking_recv().unwrap().is_err());
        }
        // The connection goes on: the next group commits.
        let (b, b_answer) = write("INSERT INTO t (k) VALUES ('b')");
        commit_group(&mut conn, vec![b]);
        assert_eq!(b_answer.blocking_recv().unwrap().unwrap(), 1);
        assert_eq!(keys(&conn), ["b"]);
    }

    #[test]
    fn a_group_that_cannot_begin_refuses_its_writes_unapplied() {
        let mut conn = table();
        conn.execute_batch("BEGIN").unwrap();
        let (a, a_answer) = write("INSERT INTO t (k) VALUES ('a')");
        commit_group(&mut conn, vec![a]);
        conn.execute_batch("ROLLBACK").unwrap();
        assert!(a_answer.blocking_recv().unwrap().is_err());
        assert_eq!(rows(&conn), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_answered_after_they_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        let writer =
            Arc::new(Writer::start(Arc::new(Mutex::new(conn)), super::super::Role::Store).unwrap());
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |conn| conn.execute("INSERT INTO t (k) VALUES (?1)", [i]))
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 1);
        }
        // Each answered write is committed: another connection sees it.
        let other = Connection::open(&path).unwrap();
        let n: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 500);
        // Work that runs alone runs outside any transaction.
        let alone = writer.alone(|conn| Ok(conn.is_autocommit())).await.unwrap();
        assert!(alone);
    }
}
