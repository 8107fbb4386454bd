//! Process-level wiring: the services every handler shares.

pub mod services;
pub mod stream_states;

pub use services::{Apply, Prune, Services, WorkspacePlan};
