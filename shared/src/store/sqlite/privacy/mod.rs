//! The privacy ports on SQLite (docs/interface/privacy.md): suppressions,
//! requests and access subjects in their tables; erasure of the rows other
//! ports keep; and `compact` (`super::scrub`), which makes what was deleted
//! unrecoverable from the file: `secure_delete = FAST` (every connection)
//! zeroes deleted content inside b-tree pages, `compact` overwrites the
//! free pages with zeros and empties the WAL.

mod erasure;
mod requests;
mod suppressions;
