//! Process-level wiring: the services every handler shares, and the
//! environment the aws backend is configured by.

pub mod environment;
pub mod services;

pub use environment::{AwsEnvironment, EnvError};
pub use services::Services;
