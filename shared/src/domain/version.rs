//! Versions of membership changes and how a member's changes replay over its
//! stored state (docs/rules/member-matching.md "Ordering: versions"). Both
//! store adapters apply changes through [`replay`], so they agree exactly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::segment::MembershipChange;

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

/// What replaying one member's changes over its stored state does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Positions of the changes applied now, in order.
    pub applied: Vec<usize>,
    /// Positions of the changes the stored state already reflects.
    pub already_current: Vec<usize>,
    /// The state to store, when some change applied.
    pub state: Option<MembershipState>,
    /// The change to the segment's `member_count`.
    pub delta: i64,
}

/// Replays one member's changes of one request (each with its position in
/// the request, in arrival order) over `current`.
///
/// A redelivered request finds the stored state set by one of its own
/// changes: that change and the ones before it were applied when the request
/// was first delivered, so they are all reported as already current (their
/// events are announced again with the same uuids).
pub fn replay<'a>(
    current: Option<MembershipState>,
    changes: impl IntoIterator<Item = (usize, &'a MembershipChange)>,
) -> Replay {
    let changes: Vec<(usize, &MembershipChange)> = changes.into_iter().collect();
    let anchor = changes
        .iter()
        .rposition(|(_, change)| change.is_current(current));
    let mut out = Replay::default();
    let mut state = current;
    for (k, (position, change)) in changes.into_iter().enumerate() {
        let applied_before =
            anchor.is_some_and(|j| k <= j) && current.is_some_and(|s| change.version <= s.version);
        if applied_before {
            out.already_current.push(position);
        } else if change.supersedes(state) {
            out.delta += change.member_delta(state);
            state = Some(change.state());
            out.state = state;
            out.applied.push(position);
        } else if change.is_current(state) {
            out.already_current.push(position);
        }
    }
    out
}

/// One member's changes of a request, with their positions, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberChanges<'a> {
    pub moengage_user_id: &'a str,
    pub changes: Vec<(usize, &'a MembershipChange)>,
}

/// The request's changes grouped by member, members in first-seen order.
pub fn by_member(changes: &[MembershipChange]) -> Vec<MemberChanges<'_>> {
    let mut members: Vec<MemberChanges> = Vec::new();
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    for (position, change) in changes.iter().enumerate() {
        let id = change.member.moengage_user_id.as_str();
        let slot = *slot_of.entry(id).or_insert_with(|| {
            members.push(MemberChanges {
                moengage_user_id: id,
                changes: Vec::new(),
            });
            members.len() - 1
        });
        members[slot].changes.push((position, change));
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MembershipAction::{Added, Removed};
    use crate::domain::segment::test_change as change;

    fn run(current: Option<MembershipState>, changes: &[MembershipChange]) -> Replay {
        replay(current, changes.iter().enumerate())
    }

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

    #[test]
    fn add_then_remove_in_one_request_ends_removed() {
        let changes = [change(Added, 100, 1), change(Removed, 100, 2)];
        let out = run(None, &changes);
        assert_eq!(out.applied, vec![0, 1]);
        assert_eq!(out.delta, 0);
        assert_eq!(out.state, Some(changes[1].state()));
    }

    #[test]
    fn a_redelivery_reports_what_it_applied_before() {
        let changes = [change(Added, 100, 1), change(Removed, 100, 2)];
        let out = run(Some(changes[1].state()), &changes);
        assert!(out.applied.is_empty());
        assert_eq!(out.already_current, vec![0, 1]);
        assert_eq!(out.state, None);
    }

    #[test]
    fn older_changes_are_ignored_and_newer_ones_apply() {
        let stored = Some(change(Added, 100, 5).state());
        let out = run(stored, &[change(Removed, 100, 4), change(Removed, 99, 9)]);
        assert_eq!(out, Replay::default());
        let out = run(stored, &[change(Removed, 100, 6)]);
        assert_eq!((out.applied, out.delta), (vec![0], -1));
    }
}
