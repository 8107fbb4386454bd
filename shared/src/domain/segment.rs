//! Segments (Amplitude cohorts, mParticle audiences) and their memberships.

use serde::{Deserialize, Serialize};

use super::event::EventSource;
use super::version::{MembershipState, Version};

/// Where a segment came from: decides its id prefix, `type` and `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SegmentSource {
    Amplitude,
    #[serde(rename = "mParticle")]
    Mparticle,
}

impl SegmentSource {
    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::Amplitude => "amplitude-",
            Self::Mparticle => "mparticle-",
        }
    }

    /// The `type` a segment shows (docs/interface/http.md).
    pub fn segment_type(self) -> &'static str {
        match self {
            Self::Amplitude => "Partner - Amplitude",
            Self::Mparticle => "Partner - mParticle",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Amplitude => "Amplitude",
            Self::Mparticle => "mParticle",
        }
    }

    /// The `event_source` of the Partner Sync events it announces.
    pub fn event_source(self) -> EventSource {
        match self {
            Self::Amplitude => EventSource::Amplitude,
            Self::Mparticle => EventSource::Mparticle,
        }
    }

    /// Reads [`SegmentSource::name`] back (stored segments).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Amplitude, Self::Mparticle]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// `amplitude-<cohort_id>` / `mparticle-<audience_id>`.
    pub fn segment_id(self, external_id: &str) -> String {
        format!("{}{external_id}", self.id_prefix())
    }
}

/// A segment as the API shows it (docs/interface/http.md "Segments"); its
/// `type` follows from its source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(into = "SegmentView", try_from = "SegmentView")]
pub struct Segment {
    pub id: String,
    pub name: String,
    pub source: SegmentSource,
    /// The partner's id: Amplitude cohort id or mParticle audience id.
    pub cohort_id: String,
    pub member_count: i64,
    pub sync_count: i64,
    /// RFC 3339, or null before the first sync.
    pub last_synced_at: Option<String>,
}

impl Segment {
    pub fn new(source: SegmentSource, external_id: &str, name: &str) -> Self {
        Self {
            id: source.segment_id(external_id),
            name: name.to_owned(),
            source,
            cohort_id: external_id.to_owned(),
            member_count: 0,
            sync_count: 0,
            last_synced_at: None,
        }
    }
}

/// The wire form of a segment.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct SegmentView {
    id: String,
    name: String,
    #[serde(rename = "type")]
    segment_type: String,
    source: SegmentSource,
    cohort_id: String,
    member_count: i64,
    sync_count: i64,
    last_synced_at: Option<String>,
}

impl From<Segment> for SegmentView {
    fn from(s: Segment) -> Self {
        Self {
            segment_type: s.source.segment_type().to_owned(),
            id: s.id,
            name: s.name,
            source: s.source,
            cohort_id: s.cohort_id,
            member_count: s.member_count,
            sync_count: s.sync_count,
            last_synced_at: s.last_synced_at,
        }
    }
}

/// A stored segment whose type and source disagree.
#[derive(Debug, thiserror::Error)]
#[error("segment type {found:?} does not match source {source_name:?}")]
pub struct MismatchedType {
    pub found: String,
    pub source_name: &'static str,
}

impl TryFrom<SegmentView> for Segment {
    type Error = MismatchedType;
    fn try_from(v: SegmentView) -> Result<Self, MismatchedType> {
        if v.segment_type != v.source.segment_type() {
            return Err(MismatchedType {
                found: v.segment_type,
                source_name: v.source.name(),
            });
        }
        Ok(Self {
            id: v.id,
            name: v.name,
            source: v.source,
            cohort_id: v.cohort_id,
            member_count: v.member_count,
            sync_count: v.sync_count,
            last_synced_at: v.last_synced_at,
        })
    }
}

/// A segment member as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Member {
    pub moengage_user_id: String,
    pub uid: Option<String>,
    pub moe_anonymous_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipAction {
    Added,
    Removed,
}

impl MembershipAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "Added",
            Self::Removed => "Removed",
        }
    }
}

/// One member entering or leaving a segment, at a version
/// (docs/rules/member-matching.md "Ordering: versions").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    pub member: Member,
    pub action: MembershipAction,
    pub version: Version,
}

/// What applying a batch of membership changes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipOutcome {
    /// Changes newer than the stored state: now applied.
    pub applied: Vec<MembershipChange>,
    /// Changes that were already the stored state (applied earlier).
    pub already_current: Vec<MembershipChange>,
}

impl MembershipOutcome {
    /// The outcome from the positions (in `changes`) applied and already
    /// current, each list put back in input order.
    pub fn from_positions(
        changes: &[MembershipChange],
        mut applied: Vec<usize>,
        mut already_current: Vec<usize>,
    ) -> Self {
        applied.sort_unstable();
        already_current.sort_unstable();
        let pick =
            |positions: Vec<usize>| positions.into_iter().map(|i| changes[i].clone()).collect();
        Self {
            applied: pick(applied),
            already_current: pick(already_current),
        }
    }
}

impl MembershipChange {
    /// Whether this change may be applied over the stored state: only a
    /// strictly newer version wins, so replays and out-of-order deliveries
    /// never override what a newer change set.
    pub fn supersedes(&self, current: Option<MembershipState>) -> bool {
        current.is_none_or(|s| self.version > s.version)
    }

    /// Whether the stored state is exactly what this change sets: it was
    /// applied before (a redelivery or replay).
    pub fn is_current(&self, current: Option<MembershipState>) -> bool {
        current.is_some_and(|s| s.version == self.version && s.in_segment == self.adds())
    }

    pub fn adds(&self) -> bool {
        self.action == MembershipAction::Added
    }

    /// The stored state once this change is applied.
    pub fn state(&self) -> MembershipState {
        MembershipState {
            in_segment: self.adds(),
            version: self.version,
        }
    }

    /// The change to `member_count` if this change is applied over `current`.
    pub fn member_delta(&self, current: Option<MembershipState>) -> i64 {
        let was_in = current.is_some_and(|s| s.in_segment);
        match (was_in, self.action) {
            (false, MembershipAction::Added) => 1,
            (true, MembershipAction::Removed) => -1,
            _ => 0,
        }
    }
}

/// A change of member `m` at (t, seq), for unit tests.
#[cfg(test)]
pub(crate) fn test_change(action: MembershipAction, t: i64, seq: i64) -> MembershipChange {
    MembershipChange {
        member: Member {
            moengage_user_id: "m".into(),
            uid: None,
            moe_anonymous_id: None,
        },
        action,
        version: Version::new(t, seq),
    }
}

#[cfg(test)]
mod tests {
    use super::test_change as change;
    use super::*;

    fn stored(in_segment: bool, t: i64, seq: i64) -> Option<MembershipState> {
        Some(MembershipState {
            in_segment,
            version: Version::new(t, seq),
        })
    }

    #[test]
    fn only_strictly_newer_versions_apply() {
        let current = stored(true, 100, 5);
        assert!(change(MembershipAction::Removed, 101, 1).supersedes(current));
        // Equal time: the later arrival wins, an earlier one does not.
        assert!(change(MembershipAction::Removed, 100, 6).supersedes(current));
        assert!(!change(MembershipAction::Removed, 100, 4).supersedes(current));
        assert!(!change(MembershipAction::Removed, 100, 5).supersedes(current));
        assert!(!change(MembershipAction::Added, 99, 9).supersedes(current));
        assert!(change(MembershipAction::Added, 1, 0).supersedes(None));
        assert!(change(MembershipAction::Added, 100, 5).is_current(current));
        assert!(!change(MembershipAction::Removed, 100, 5).is_current(current));
    }

    #[test]
    fn member_count_moves_only_on_real_transitions() {
        let inside = stored(true, 1, 0);
        let outside = stored(false, 1, 0);
        let added = change(MembershipAction::Added, 2, 0);
        let removed = change(MembershipAction::Removed, 2, 0);
        assert_eq!(added.member_delta(None), 1);
        assert_eq!(added.member_delta(inside), 0);
        assert_eq!(removed.member_delta(inside), -1);
        assert_eq!(removed.member_delta(outside), 0);
        assert_eq!(removed.member_delta(None), 0);
    }

    #[test]
    fn ids_and_types_follow_the_source() {
        let s = Segment::new(SegmentSource::Mparticle, "42", "VIPs");
        assert_eq!(s.id, "mparticle-42");
        let wire = serde_json::to_value(&s).unwrap();
        assert_eq!(wire["type"], "Partner - mParticle");
        assert_eq!(wire["source"], "mParticle");
        assert_eq!(serde_json::from_value::<Segment>(wire).unwrap(), s);
        assert_eq!(
            SegmentSource::Amplitude.segment_id("7khm89cz"),
            "amplitude-7khm89cz"
        );
    }
}
