//! Cohort-queue messages: one slice of one Amplitude sync request, staged
//! before the request is acknowledged and applied after
//! (docs/architecture.md "Cohorts: stage, then apply").

use serde::{Deserialize, Serialize};

use super::batching::pack_json;
use super::encoded::Encoded;
use super::segment::{MembershipAction, Segment, SegmentSource};
use super::version::Version;

/// Users per staged message: one message is one bounded unit of apply work
/// (a few dozen batched store calls) well inside the function timeout.
pub const MAX_USERS_PER_MESSAGE: usize = 1_000;
/// Bytes per staged message. SQS allows 1 MiB per SendMessageBatch call of
/// 10 messages, so 10 full messages must fit in one call.
pub const MAX_MESSAGE_BYTES: usize = 96 * 1024;

/// One user as staged for matching: whatever identities Amplitude sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StagedUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
}

/// What every message of one sync request shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedSync {
    pub workspace_id: String,
    pub segment_id: String,
    pub cohort_id: String,
    pub cohort_name: String,
    pub action: MembershipAction,
    /// Epoch seconds: Amplitude's `computed_time`; for the list API the
    /// arrival second.
    pub computed_time: i64,
    /// The version's time in ms (the list API's arrival time). Absent in
    /// webhook messages and in messages staged before versions had ms:
    /// `computed_time` × 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<i64>,
    /// The arrival sequence taken for the request when it was staged; every
    /// change of the request carries it (a request has one action, so the
    /// order within it cannot matter). 0 in messages staged before
    /// sequences existed.
    #[serde(default)]
    pub sequence: i64,
    /// Amplitude's `message_id` (webhooks only), for tracing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl StagedSync {
    /// The version every change of this request carries
    /// (docs/rules/member-matching.md "Ordering: versions").
    pub fn version(&self) -> Version {
        Version::new(
            self.time_ms
                .unwrap_or_else(|| self.computed_time.saturating_mul(1000)),
            self.sequence,
        )
    }

    /// The segment the changes belong to, as the Partner Sync events name it.
    pub fn segment(&self) -> Segment {
        Segment {
            id: self.segment_id.clone(),
            ..Segment::new(SegmentSource::Amplitude, &self.cohort_id, &self.cohort_name)
        }
    }
}

/// A cohort-queue message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedChanges {
    #[serde(flatten)]
    pub sync: StagedSync,
    pub users: Vec<StagedUser>,
}

impl StagedChanges {
    /// Message bodies of ≤ [`MAX_USERS_PER_MESSAGE`] users and ≤
    /// [`MAX_MESSAGE_BYTES`] each, covering every user exactly once and
    /// encoding each user once.
    pub fn pack(sync: &StagedSync, users: &[StagedUser]) -> Vec<Encoded<StagedChanges>> {
        let header = serde_json::to_string(sync).expect("a staged sync always serializes");
        let head = format!("{},\"users\":[", &header[..header.len() - 1]);
        let encoded: Vec<String> = users
            .iter()
            .map(|u| serde_json::to_string(u).expect("a staged user always serializes"))
            .collect();
        pack_json(
            &head,
            "]}",
            &encoded,
            MAX_USERS_PER_MESSAGE,
            MAX_MESSAGE_BYTES,
        )
        .into_iter()
        .map(Encoded::trusted)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize, id_len: usize) -> Vec<StagedUser> {
        (0..n)
            .map(|i| StagedUser {
                user_id: Some(format!("{i:0>id_len$}")),
                anonymous_id: (i % 2 == 0).then(|| format!("anon-{i}")),
            })
            .collect()
    }

    fn sync(segment: &Segment, action: MembershipAction) -> StagedSync {
        StagedSync {
            workspace_id: "ws".into(),
            segment_id: segment.id.clone(),
            cohort_id: segment.cohort_id.clone(),
            cohort_name: segment.name.clone(),
            action,
            computed_time: 1_692_206_763,
            time_ms: None,
            sequence: 7,
            message_id: Some("m-1".into()),
        }
    }

    fn unpack(bodies: &[Encoded<StagedChanges>]) -> Vec<StagedChanges> {
        bodies.iter().map(|b| b.decode().unwrap()).collect()
    }

    #[test]
    fn messages_round_trip_and_cover_every_user_once() {
        let segment = Segment::new(SegmentSource::Amplitude, "7khm89cz", "Cart");
        let all = users(2_500, 8);
        let staged = unpack(&StagedChanges::pack(
            &sync(&segment, MembershipAction::Removed),
            &all,
        ));
        assert_eq!(
            staged.iter().map(|s| s.users.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let back: Vec<StagedUser> = staged.iter().flat_map(|s| s.users.clone()).collect();
        assert_eq!(back, all);
        let first = &staged[0].sync;
        assert_eq!(first.segment(), segment);
        assert_eq!(first, &sync(&segment, MembershipAction::Removed));
        assert_eq!(first.version(), Version::new(1_692_206_763_000, 7));
    }

    #[test]
    fn messages_staged_before_versions_had_sequences_still_read() {
        let old: StagedChanges = serde_json::from_str(
            r#"{"workspace_id":"ws","segment_id":"amplitude-c","cohort_id":"c","cohort_name":"C",
                "action":"Added","computed_time":1692206763,"users":[{"user_id":"u1"}]}"#,
        )
        .unwrap();
        assert_eq!(old.sync.version(), Version::new(1_692_206_763_000, 0));
    }

    #[test]
    fn large_ids_split_by_size() {
        let segment = Segment::new(SegmentSource::Amplitude, "c", "C");
        let all = users(1_000, 1_000);
        let bodies = StagedChanges::pack(&sync(&segment, MembershipAction::Added), &all);
        assert!(bodies.len() > 10, "{}", bodies.len());
        assert!(bodies.iter().all(|b| b.as_str().len() <= MAX_MESSAGE_BYTES));
        let back: usize = unpack(&bodies).iter().map(|s| s.users.len()).sum();
        assert_eq!(back, 1_000);
    }

    #[test]
    fn no_users_means_no_messages() {
        let segment = Segment::new(SegmentSource::Amplitude, "c", "C");
        assert!(StagedChanges::pack(&sync(&segment, MembershipAction::Added), &[]).is_empty());
    }
}
