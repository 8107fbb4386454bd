//! Adapters for the ports: `sqlite` (embedded default) and `aws`, each
//! behind the cargo feature of its name (docs/architecture.md "Crates and
//! features").

#[cfg(feature = "aws")]
pub mod aws;
pub mod in_order;
pub mod packed;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod uuids;
