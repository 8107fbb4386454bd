//! Counting requests in leases: a process adds to the shared counter what
//! it expects to admit soon, then admits that many without going to the
//! store again (docs/architecture.md "Rate limits in leases").
//!
//! Counting each request in the store was one write per request on the
//! ack path (a group commit on SQLite, an `UpdateItem` on DynamoDB). The
//! interface allows an approximate counter within ±10 %
//! (docs/interface/http.md "Rate limits"); a lease is never more than the
//! process admitted in the last [`HORIZON`], nor more than 1/[`MAX_SHARE`]
//! of the limit. Nothing passes over the limit: every lease is counted
//! before it is used. What a lease leaves unused when its window ends was
//! counted for nothing, so other processes may be refused that much early;
//! a process alone is exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::RateLimit;
use crate::domain::FixedWindow;
use crate::domain::time::now_ms;
use crate::ports::{RateCounter, StoreResult};

/// How far ahead a lease reaches: what the process admitted in the last
/// this long (at least one request).
pub const HORIZON: Duration = Duration::from_millis(50);
/// A lease is at most this share of the window's limit: 1/50, 2 %.
pub const MAX_SHARE: u64 = 50;

/// Whether a request is within its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after_secs: u64 },
}

/// The process's rate limiter: the store's counters and this process's
/// leases on them, one per workspace and limit.
pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    leases: Mutex<HashMap<(String, RateLimit), Slot>>,
}

/// One workspace's lease on one limit; held across the store write that
/// renews it, so the requests that find it empty wait for that one write.
type Slot = Arc<tokio::sync::Mutex<Lease>>;

/// Requests of one window already counted in the store and not yet used.
#[derive(Default)]
struct Lease {
    window_start_ms: i64,
    spare: u64,
    /// The store refused part of a lease: the window is full, and no
    /// request of it goes to the store again.
    full: bool,
    demand: Demand,
}

/// Requests seen over the last two [`HORIZON`]s.
#[derive(Default)]
struct Demand {
    since: Option<Instant>,
    current: u64,
    previous: u64,
}

impl Demand {
    fn note(&mut self, now: Instant) {
        let since = *self.since.get_or_insert(now);
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= HORIZON {
            self.previous = if elapsed >= 2 * HORIZON {
                0
            } else {
                self.current
            };
            self.current = 0;
            self.since = Some(now);
        }
        self.current += 1;
    }

    /// The requests of the last [`HORIZON`], as far as they were seen.
    fn expected(&self) -> u64 {
        self.previous.max(self.current)
    }
}

impl RateLimiter {
    pub fn new(counter: Arc<dyn RateCounter>) -> Self {
        Self {
            counter,
            leases: Mutex::default(),
        }
    }

    /// The store's counters this limiter takes its leases from.
    pub fn counter(&self) -> &Arc<dyn RateCounter> {
        &self.counter
    }

    /// Counts one request of `workspace` against `limit` requests per
    /// `window`. Requests of one workspace and limit that find no spare
    /// wait for the one that takes the next lease (one store write, not
    /// one each); other workspaces never wait for it.
    pub async fn check(
        &self,
        workspace: &str,
        scope: RateLimit,
        window: Duration,
        limit: u64,
    ) -> StoreResult<RateDecision> {
        let slot = self.slot(workspace, scope);
        let mut lease = slot.lock().await;
        let window = FixedWindow::at(now_ms(), window);
        lease.demand.note(Instant::now());
        if lease.window_start_ms != window.start_ms {
            lease.window_start_ms = window.start_ms;
            lease.spare = 0;
            lease.full = false;
        }
        if lease.spare == 0 && !lease.full {
            let requests = lease.demand.expected().clamp(1, (limit / MAX_SHARE).max(1));
            let total = self
                .counter
                .add(workspace, scope.scope(), &window, requests)
                .await?;
            let granted = FixedWindow::granted(total, requests, limit);
            lease.spare = granted;
            lease.full = granted < requests;
        }
        if lease.spare == 0 {
            return Ok(RateDecision::Limited {
                retry_after_secs: window.retry_after_secs(),
            });
        }
        lease.spare -= 1;
        Ok(RateDecision::Allowed)
    }

    fn slot(&self, workspace: &str, scope: RateLimit) -> Slot {
        // Poisoned only by a panic while inserting: the map is still whole.
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        // One entry per workspace and limit, for workspaces that passed
        // authentication: bounded by the configuration, not by traffic.
        leases
            .entry((workspace.to_owned(), scope))
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_is_what_the_last_horizon_saw() {
        let start = Instant::now();
        let mut demand = Demand::default();
        for _ in 0..5 {
            demand.note(start);
        }
        assert_eq!(demand.expected(), 5);
        // The next horizon: the last one's five until more arrive.
        demand.note(start + HORIZON);
        assert_eq!(demand.expected(), 5);
        for _ in 0..6 {
            demand.note(start + HORIZON);
        }
        assert_eq!(demand.expected(), 7);
        // After a quiet horizon, only what came since.
        demand.note(start + 4 * HORIZON);
        assert_eq!(demand.expected(), 1);
    }
}
