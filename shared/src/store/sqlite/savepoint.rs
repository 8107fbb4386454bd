//! Savepoints made of statements prepared once per connection. rusqlite's
//! `Connection::savepoint` parses `SAVEPOINT` and `RELEASE` again each
//! time; with the writer's own savepoint around every write, parsing them
//! was 16 % of the writing thread's instructions at 800 events/s
//! (BENCHMARKS.md "Issue 22, ninth session"). Nested savepoints may share a name: `RELEASE` and
//! `ROLLBACK TO` act on the innermost one of that name.

use std::ops::Deref;

use rusqlite::Connection;

/// Runs one statement without parameters from the connection's cache.
pub(super) fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// An open savepoint named `name`: released by [`Savepoint::commit`],
/// rolled back when dropped without it (as rusqlite's is).
pub(super) struct Savepoint<'c> {
    conn: &'c Connection,
    name: &'static Names,
    released: bool,
}

/// The statements of one savepoint name, written out once.
pub(super) struct Names {
    pub(super) open: &'static str,
    pub(super) release: &'static str,
    rollback: &'static str,
}

/// The savepoint a store write opens around its statements.
pub(super) const SCOPE: Names = Names {
    open: "SAVEPOINT scope",
    release: "RELEASE scope",
    rollback: "ROLLBACK TO scope",
};

/// The savepoint the writer opens around each write of a group.
pub(super) const WRITE: Names = Names {
    open: "SAVEPOINT write",
    release: "RELEASE write",
    rollback: "ROLLBACK TO write",
};

impl<'c> Savepoint<'c> {
    /// Opens a savepoint on `conn` for a store write's statements.
    pub(super) fn open(conn: &'c mut Connection) -> rusqlite::Result<Self> {
        Self::named(conn, &SCOPE)
    }

    pub(super) fn named(conn: &'c Connection, name: &'static Names) -> rusqlite::Result<Self> {
        run(conn, name.open)?;
        Ok(Self {
            conn,
            name,
            released: false,
        })
    }

    /// Keeps what was written since the savepoint opened.
    pub(super) fn commit(mut self) -> rusqlite::Result<()> {
        self.released = true;
        run(self.conn, self.name.release)
    }
}

impl Names {
    /// Undoes what was written since the savepoint opened, and closes it.
    pub(super) fn undo(&self, conn: &Connection) -> rusqlite::Result<()> {
        run(conn, self.rollback)?;
        run(conn, self.release)
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.released {
            // As rusqlite's: an error here leaves the enclosing transaction
            // to be rolled back by whoever holds it (the writer checks).
            let _ = self.name.undo(self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        conn
    }

    fn keys(conn: &Connection) -> Vec<i64> {
        let mut statement = conn.prepare("SELECT k FROM t ORDER BY k").unwrap();
        let rows = statement.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn committed_writes_stay_and_dropped_ones_are_undone() {
        let mut conn = table();
        let kept = Savepoint::open(&mut conn).unwrap();
        kept.execute("INSERT INTO t VALUES (1)", []).unwrap();
        kept.commit().unwrap();
        let dropped = Savepoint::open(&mut conn).unwrap();
        dropped.execute("INSERT INTO t VALUES (2)", []).unwrap();
        drop(dropped);
        assert_eq!(keys(&conn), [1]);
        assert!(conn.is_autocommit(), "no savepoint left open");
    }

    #[test]
    fn a_savepoint_inside_another_of_the_same_name_acts_on_its_own_writes() {
        let mut conn = table();
        let outer = Savepoint::open(&mut conn).unwrap();
        outer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        {
            let inner = Savepoint::named(&outer, &SCOPE).unwrap();
            inner.execute("INSERT INTO t VALUES (2)", []).unwrap();
            // Dropped without a commit: only its own write is undone.
        }
        let inner = Savepoint::named(&outer, &SCOPE).unwrap();
        inner.execute("INSERT INTO t VALUES (3)", []).unwrap();
        inner.commit().unwrap();
        assert!(!outer.is_autocommit(), "the outer savepoint is still open");
        outer.commit().unwrap();
        assert_eq!(keys(&conn), [1, 3]);
        assert!(conn.is_autocommit());
    }

    #[test]
    fn its_statements_are_prepared_once() {
        let mut conn = table();
        for k in 0..3 {
            let savepoint = Savepoint::open(&mut conn).unwrap();
            savepoint.execute("INSERT INTO t VALUES (?1)", [k]).unwrap();
            savepoint.commit().unwrap();
        }
        // The cached statements are the ones that ran all three times.
        for sql in [SCOPE.open, SCOPE.release] {
            let cached = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                cached.get_status(rusqlite::StatementStatus::Run),
                3,
                "{sql}"
            );
        }
    }
}
