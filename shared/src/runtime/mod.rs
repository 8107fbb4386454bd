//! Process-level wiring: the services every handler shares, and the
//! environment the aws backend is configured by.

#[cfg(feature = "aws")]
pub mod environment;
pub mod priority;
pub mod read_turns;
pub mod services;
pub mod stream_states;

#[cfg(feature = "aws")]
pub use environment::{AwsEnvironment, EnvError};
pub use services::{ServiceSet, Services};
