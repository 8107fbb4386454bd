//! Configuration (docs/interface/config.md).

pub mod destinations;
pub mod load;
pub mod model;
pub mod rsa_key;
pub mod schedule;
pub mod schema;
pub mod secret;
pub mod signing;
pub mod source;
pub mod stream;

pub use load::{ConfigError, load_file, parse};
pub use model::*;
pub use rsa_key::RsaSigningKey;
pub use schedule::{MAX_RETRY_DELAY, RetrySchedule};
pub use secret::Secret;
pub use stream::{
    AllMarker, AmplitudeConfig, AmplitudeRegion, OAuth2Config, Selection, SinkConfig, StreamAuth,
    StreamConfig, StreamType, TlsConfig, TlsError, WebhookConfig,
};
