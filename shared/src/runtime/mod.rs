//! Process-level wiring: the services every handler shares.

pub mod services;

pub use services::{Apply, Prune, Services, WorkspacePlan};
