//! The per-workspace request limits (docs/interface/http.md "Rate limits"):
//! a closed set, each a fixed window and a limit from the workspace's
//! configuration, counted in the shared store across processes, in leases
//! (`lease.rs`).

mod lease;

use std::time::Duration;

pub use crate::domain::FixedWindow;
pub use lease::{HORIZON, MAX_SHARE, RateDecision, RateLimiter};

use crate::config::WorkspaceConfig;
use crate::error::RequestError;
pub use crate::topology::RateLimit;

impl RateLimit {
    /// The counter's scope in the store.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Amplitude => "amplitude",
            Self::Mparticle => "mparticle",
            Self::Customerio => "customerio",
        }
    }

    fn window(self) -> (Duration, &'static str) {
        match self {
            Self::Amplitude => (Duration::from_secs(1), "second"),
            Self::Mparticle | Self::Customerio => (Duration::from_secs(60), "minute"),
        }
    }

    fn limit(self, ws: &WorkspaceConfig) -> u64 {
        u64::from(match self {
            Self::Amplitude => ws.amplitude_requests_per_second,
            Self::Mparticle | Self::Customerio => ws.mparticle_requests_per_minute,
        })
    }

    /// Counts one request of `ws`: over the limit is `RateLimited` with the
    /// seconds until the next window.
    pub async fn enforce(
        self,
        limiter: &RateLimiter,
        ws: &WorkspaceConfig,
    ) -> Result<(), RequestError> {
        let (window, window_name) = self.window();
        let limit = self.limit(ws);
        match limiter.check(&ws.id, self, window, limit).await? {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after_secs } => Err(RequestError::RateLimited {
                limit,
                window: window_name,
                retry_after_secs,
            }),
        }
    }
}
