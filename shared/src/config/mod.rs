//! Configuration (interface §7).

pub mod load;
pub mod model;
pub mod secret;

pub use load::{ConfigError, load_file, parse};
pub use model::*;
pub use secret::Secret;
