//! How a member's changes of one request replay over its stored state
//! (docs/rules/member-matching.md "Ordering: versions"). Both store adapters
//! apply changes through [`replay`], so they agree exactly.

use std::collections::HashMap;

use super::segment::MembershipChange;
use super::version::MembershipState;

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
