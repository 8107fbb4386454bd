//! Staging: a request's users are split into cohort-queue messages and sent
//! in one call before the request is acknowledged, so a crash after the ack
//! loses nothing (interface §3). The cohort-queue consumer ([`super::apply`])
//! matches and applies them.

use serde::{Deserialize, Serialize};

use super::payload::StagedUser;
use crate::domain::{MembershipAction, Segment};
use crate::ports::{OutgoingMessage, StoreError, StoreResult};
use crate::runtime::Services;

/// Users per staged message: one message is one bounded unit of apply work
/// (a few dozen batched store calls) well inside the function timeout.
pub const MAX_USERS_PER_MESSAGE: usize = 1_000;
/// Bytes per staged message. SQS allows 1 MiB per SendMessageBatch call of
/// 10 messages, so 10 full messages must fit in one call.
pub const MAX_MESSAGE_BYTES: usize = 96 * 1024;

/// A cohort-queue message: one slice of one sync request.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct StagedChanges {
    pub workspace_id: String,
    pub segment_id: String,
    pub cohort_id: String,
    pub cohort_name: String,
    pub action: MembershipAction,
    /// Epoch seconds: the version every change of this message carries.
    pub computed_time: i64,
    /// Amplitude's `message_id` (webhooks only), for tracing.
    #[serde(default)]
    pub message_id: Option<String>,
    pub users: Vec<StagedUser>,
}

impl StagedChanges {
    /// The segment the changes belong to, as the Partner Sync events name it.
    pub fn segment(&self) -> Segment {
        Segment {
            id: self.segment_id.clone(),
            ..Segment::new(
                crate::domain::SegmentSource::Amplitude,
                &self.cohort_id,
                &self.cohort_name,
            )
        }
    }
}

/// The borrowed twin of [`StagedChanges`] (same field names) for sending.
#[derive(Serialize)]
struct Outgoing<'a> {
    workspace_id: &'a str,
    segment_id: &'a str,
    cohort_id: &'a str,
    cohort_name: &'a str,
    action: MembershipAction,
    computed_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    users: &'a [StagedUser],
}

/// What one sync request changes, before it is split into messages.
pub struct SyncRequest<'a> {
    pub workspace_id: &'a str,
    pub segment: &'a Segment,
    pub action: MembershipAction,
    pub computed_time: i64,
    pub message_id: Option<&'a str>,
    pub users: &'a [StagedUser],
}

impl SyncRequest<'_> {
    fn outgoing<'b>(&'b self, users: &'b [StagedUser]) -> Outgoing<'b> {
        Outgoing {
            workspace_id: self.workspace_id,
            segment_id: &self.segment.id,
            cohort_id: &self.segment.cohort_id,
            cohort_name: &self.segment.name,
            action: self.action,
            computed_time: self.computed_time,
            message_id: self.message_id,
            users,
        }
    }

    /// Message bodies of ≤ [`MAX_USERS_PER_MESSAGE`] users and
    /// ≤ [`MAX_MESSAGE_BYTES`] each, covering every user exactly once.
    pub fn pack(&self) -> Result<Vec<String>, serde_json::Error> {
        let envelope = serde_json::to_string(&self.outgoing(&[]))?.len();
        let mut bodies = Vec::new();
        let mut start = 0;
        let mut size = envelope;
        for (i, user) in self.users.iter().enumerate() {
            // +1 for the separating comma.
            let user_size = serde_json::to_string(user)?.len() + 1;
            let full = i - start == MAX_USERS_PER_MESSAGE || size + user_size > MAX_MESSAGE_BYTES;
            if full && i > start {
                bodies.push(serde_json::to_string(
                    &self.outgoing(&self.users[start..i]),
                )?);
                start = i;
                size = envelope;
            }
            size += user_size;
        }
        if start < self.users.len() {
            bodies.push(serde_json::to_string(&self.outgoing(&self.users[start..]))?);
        }
        Ok(bodies)
    }
}

/// Sends every message of the request in one `send` (the SQS adapter makes
/// one SendMessageBatch per 10). Returns the number of messages; when it
/// returns Ok, the whole request is durably queued.
pub async fn stage(services: &Services, request: &SyncRequest<'_>) -> StoreResult<usize> {
    let bodies = request.pack().map_err(StoreError::backend)?;
    let messages: Vec<OutgoingMessage> = bodies.into_iter().map(OutgoingMessage::now).collect();
    services.queues.cohort.send(&messages).await?;
    Ok(messages.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SegmentSource;

    fn users(n: usize, id_len: usize) -> Vec<StagedUser> {
        (0..n)
            .map(|i| StagedUser {
                user_id: Some(format!("{i:0>id_len$}")),
                anonymous_id: (i % 2 == 0).then(|| format!("anon-{i}")),
            })
            .collect()
    }

    fn unpack(bodies: &[String]) -> Vec<StagedChanges> {
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }

    #[test]
    fn messages_round_trip_and_cover_every_user_once() {
        let segment = Segment::new(SegmentSource::Amplitude, "7khm89cz", "Cart");
        let all = users(2_500, 8);
        let request = SyncRequest {
            workspace_id: "ws",
            segment: &segment,
            action: MembershipAction::Removed,
            computed_time: 1_692_206_763,
            message_id: Some("m-1"),
            users: &all,
        };
        let bodies = request.pack().unwrap();
        let staged = unpack(&bodies);
        assert_eq!(
            staged.iter().map(|s| s.users.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let back: Vec<StagedUser> = staged.iter().flat_map(|s| s.users.clone()).collect();
        assert_eq!(back, all);
        let first = &staged[0];
        assert_eq!(first.segment(), segment);
        assert_eq!(first.action, MembershipAction::Removed);
        assert_eq!(first.computed_time, 1_692_206_763);
        assert_eq!(first.message_id.as_deref(), Some("m-1"));
        assert_eq!(first.workspace_id, "ws");
    }

    #[test]
    fn large_ids_split_by_size() {
        let segment = Segment::new(SegmentSource::Amplitude, "c", "C");
        let all = users(1_000, 1_000);
        let request = SyncRequest {
            workspace_id: "ws",
            segment: &segment,
            action: MembershipAction::Added,
            computed_time: 1,
            message_id: None,
            users: &all,
        };
        let bodies = request.pack().unwrap();
        assert!(bodies.len() > 10, "{}", bodies.len());
        assert!(bodies.iter().all(|b| b.len() <= MAX_MESSAGE_BYTES));
        let back: usize = unpack(&bodies).iter().map(|s| s.users.len()).sum();
        assert_eq!(back, 1_000);
    }

    #[test]
    fn no_users_means_no_messages() {
        let segment = Segment::new(SegmentSource::Amplitude, "c", "C");
        let request = SyncRequest {
            workspace_id: "ws",
            segment: &segment,
            action: MembershipAction::Added,
            computed_time: 1,
            message_id: None,
            users: &[],
        };
        assert!(request.pack().unwrap().is_empty());
    }
}
