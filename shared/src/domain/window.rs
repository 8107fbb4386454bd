//! Fixed windows: the first N requests in a window pass, the rest wait for
//! the next window (docs/interface/http.md "Rate limits"). The adapters key
//! their counters by window; the leases (`rate_limit/lease.rs`) decide with it.

use std::time::Duration;

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

    /// Of `requests` just added to a counter that now reads `total`, how
    /// many are within `limit`: those counted before them came first.
    pub fn granted(total: u64, requests: u64, limit: u64) -> u64 {
        let before = total.saturating_sub(requests);
        limit.saturating_sub(before).min(requests)
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
        let s = FixedWindow::at(10_999, Duration::from_secs(1));
        assert_eq!(s.retry_after_secs(), 1);
        assert_ne!(
            FixedWindow::at(0, Duration::from_secs(1)).counter_key("w", "a"),
            FixedWindow::at(0, Duration::from_secs(60)).counter_key("w", "a")
        );
    }

    #[test]
    fn only_the_requests_within_the_limit_are_granted() {
        // total, requests just added, limit → granted
        let cases = [
            (1, 1, 3, 1),
            (3, 1, 3, 1),
            (4, 1, 3, 0),
            (10, 10, 25, 10),
            (30, 10, 25, 5),
            (40, 10, 25, 0),
            (0, 0, 25, 0),
        ];
        for (total, requests, limit, granted) in cases {
            assert_eq!(
                FixedWindow::granted(total, requests, limit),
                granted,
                "{total} {requests} {limit}"
            );
        }
    }
}
