//! Versions of membership changes (docs/rules/member-matching.md
//! "Ordering: versions"): the time a change was computed, then its arrival
//! order; how they replay is `super::replay`'s.

use serde::{Deserialize, Serialize};

/// A change's version: the time it was computed, then its arrival order.
/// Ordered field by field, so on equal times the later arrival is newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Epoch milliseconds: Amplitude's `computed_time` × 1000, the list
    /// API's arrival time, mParticle's `timestamp_ms`.
    pub time_ms: i64,
    /// The arrival sequence, taken per segment when the request is staged
    /// (0 for changes stored before sequences existed).
    pub seq: i64,
}

impl Version {
    pub fn new(time_ms: i64, seq: i64) -> Self {
        Self { time_ms, seq }
    }

    /// Epoch seconds (a Partner Sync event's `event_time`).
    pub fn epoch_seconds(self) -> i64 {
        self.time_ms.div_euclid(1000)
    }

    /// The time as a Partner Sync `event_uuid` is derived from it: epoch
    /// seconds, with the milliseconds as a decimal fraction when there are
    /// any (so an Amplitude `computed_time` reads exactly as Amplitude sent
    /// it). The sequence is left out: a request staged twice announces the
    /// same uuids (docs/rules/partner-sync.md "De-duplication").
    pub fn time_label(self) -> String {
        match self.time_ms.rem_euclid(1000) {
            0 => self.epoch_seconds().to_string(),
            ms => format!("{}.{ms:03}", self.epoch_seconds()),
        }
    }
}

/// The stored state of one membership: the latest change applied to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipState {
    pub in_segment: bool,
    pub version: Version,
}

/// What a segment's arrival clock handed one request: its arrival time and
/// the first of the sequence numbers reserved for its changes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Epoch ms, never earlier than an arrival handed out before for the
    /// segment (whatever the clock of the process that took it).
    pub time_ms: i64,
    pub first_seq: i64,
}

impl Arrival {
    /// The version of the change at `position` of the request, computed at
    /// `time_ms` (the arrival time when the partner gives none).
    pub fn version(self, time_ms: Option<i64>, position: usize) -> Version {
        Version::new(
            time_ms.unwrap_or(self.time_ms),
            self.first_seq + position as i64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_time_then_arrival() {
        assert!(Version::new(1_000, 9) < Version::new(2_000, 1));
        assert!(Version::new(1_000, 1) < Version::new(1_000, 2));
        assert_eq!(
            Version::new(1_692_206_763_000, 3).time_label(),
            "1692206763"
        );
        assert_eq!(
            Version::new(1_692_206_763_042, 3).time_label(),
            "1692206763.042"
        );
        assert_eq!(
            Version::new(1_692_206_763_042, 3).epoch_seconds(),
            1_692_206_763
        );
        let arrival = Arrival {
            time_ms: 5_000,
            first_seq: 10,
        };
        assert_eq!(arrival.version(None, 2), Version::new(5_000, 12));
        assert_eq!(arrival.version(Some(7), 0), Version::new(7, 10));
    }
}
