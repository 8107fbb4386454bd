//! Fixed-window counting shared by the rate-limiter adapters
//! (docs/interface/http.md "Rate limits": the first N requests in a window
//! pass, the rest wait for the next window).

use std::time::Duration;

use crate::ports::RateDecision;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedWindow {
    pub start_ms: i64,
    pub length_ms: i64,
    now_ms: i64,
}

impl FixedWindow {
    pub fn at(now_ms: i64, length: Duration) -> Self {
        let length_ms = (length.as_millis() as i64).max(1);
        Self {
            start_ms: now_ms - now_ms.rem_euclid(length_ms),
            length_ms,
            now_ms,
        }
    }

    pub fn counter_key(&self, workspace: &str, scope: &str) -> String {
        format!("{workspace}#{scope}#{}#{}", self.length_ms, self.start_ms)
    }

    /// Counters outlive their window a little so late increments still land.
    pub fn expires_at_ms(&self) -> i64 {
        self.start_ms + self.length_ms + 60_000
    }

    /// Whole seconds until the next window opens (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let remaining_ms = self.start_ms + self.length_ms - self.now_ms;
        ((remaining_ms + 999) / 1000).max(1) as u64
    }

    pub fn decide(&self, count: u64, limit: u64) -> RateDecision {
        if count <= limit {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after_secs: self.retry_after_secs(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_and_report_time_to_next() {
        let w = FixedWindow::at(61_500, Duration::from_secs(60));
        assert_eq!(w.start_ms, 60_000);
        assert_eq!(w.retry_after_secs(), 59);
        assert_eq!(w.decide(3, 3), RateDecision::Allowed);
        assert_eq!(
            w.decide(4, 3),
            RateDecision::Limited {
                retry_after_secs: 59
            }
        );
        let s = FixedWindow::at(10_999, Duration::from_secs(1));
        assert_eq!(s.retry_after_secs(), 1);
        assert_ne!(
            FixedWindow::at(0, Duration::from_secs(1)).counter_key("w", "a"),
            FixedWindow::at(0, Duration::from_secs(60)).counter_key("w", "a")
        );
    }
}
