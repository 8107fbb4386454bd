//! Adapters for the ports: `sqlite` (embedded default) and `aws`.

pub mod aws;
pub mod sqlite;
pub mod window;
