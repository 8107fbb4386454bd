//! Process-level wiring: the services every handler shares.

pub mod services;

pub use services::Services;
