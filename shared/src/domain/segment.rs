//! Segments (Amplitude cohorts, mParticle audiences) and their memberships.

use serde::{Deserialize, Serialize};

use super::event::EventSource;

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

impl TryFrom<SegmentView> for Segment {
    type Error = String;
    fn try_from(v: SegmentView) -> Result<Self, String> {
        if v.segment_type != v.source.segment_type() {
            return Err(format!(
                "segment type {:?} does not match source {:?}",
                v.segment_type,
                v.source.name()
            ));
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

/// One member entering or leaving a segment as of `computed_time` (epoch s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    pub member: Member,
    pub action: MembershipAction,
    pub computed_time: i64,
}

/// What applying a batch of membership changes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipOutcome {
    /// Changes newer than the stored state: now applied.
    pub applied: Vec<MembershipChange>,
    /// Changes that were already the stored state (applied earlier).
    pub already_current: Vec<MembershipChange>,
}

/// The stored state of one membership: the latest change applied to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipVersion {
    pub in_segment: bool,
    pub computed_time: i64,
}

impl MembershipChange {
    /// Whether this change may be applied over the stored state: only a
    /// strictly newer `computed_time` wins, so replays and out-of-order
    /// deliveries never override what a newer sync set.
    pub fn supersedes(&self, current: Option<MembershipVersion>) -> bool {
        current.is_none_or(|v| self.computed_time > v.computed_time)
    }

    /// Whether the stored state is exactly what this change sets: it was
    /// applied before (a redelivery or replay).
    pub fn is_current(&self, current: Option<MembershipVersion>) -> bool {
        current.is_some_and(|v| {
            v.computed_time == self.computed_time
                && v.in_segment == (self.action == MembershipAction::Added)
        })
    }

    /// The change to `member_count` if this change is applied over `current`.
    pub fn member_delta(&self, current: Option<MembershipVersion>) -> i64 {
        let was_in = current.is_some_and(|v| v.in_segment);
        match (was_in, self.action) {
            (false, MembershipAction::Added) => 1,
            (true, MembershipAction::Removed) => -1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: MembershipAction, t: i64) -> MembershipChange {
        MembershipChange {
            member: Member {
                moengage_user_id: "m".into(),
                uid: None,
                moe_anonymous_id: None,
            },
            action,
            computed_time: t,
        }
    }

    #[test]
    fn only_strictly_newer_changes_apply() {
        let stored = Some(MembershipVersion {
            in_segment: true,
            computed_time: 100,
        });
        assert!(change(MembershipAction::Removed, 101).supersedes(stored));
        assert!(!change(MembershipAction::Removed, 100).supersedes(stored));
        assert!(!change(MembershipAction::Added, 99).supersedes(stored));
        assert!(change(MembershipAction::Added, 1).supersedes(None));
    }

    #[test]
    fn member_count_moves_only_on_real_transitions() {
        let inside = Some(MembershipVersion {
            in_segment: true,
            computed_time: 1,
        });
        let outside = Some(MembershipVersion {
            in_segment: false,
            computed_time: 1,
        });
        assert_eq!(change(MembershipAction::Added, 2).member_delta(None), 1);
        assert_eq!(change(MembershipAction::Added, 2).member_delta(inside), 0);
        assert_eq!(
            change(MembershipAction::Removed, 2).member_delta(inside),
            -1
        );
        assert_eq!(
            change(MembershipAction::Removed, 2).member_delta(outside),
            0
        );
        assert_eq!(change(MembershipAction::Removed, 2).member_delta(None), 0);
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
