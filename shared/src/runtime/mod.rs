//! Process-level wiring: the services every handler shares, and the
//! environment the aws backend is configured by.

#[cfg(feature = "aws")]
pub mod environment;
pub mod services;

#[cfg(feature = "aws")]
pub use environment::{AwsEnvironment, EnvError};
pub use services::Services;
