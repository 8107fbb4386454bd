//! Applying segment membership changes and announcing each one as a
//! `Partner Sync` event (docs/rules/partner-sync.md). Shared by Amplitude cohorts and
//! mParticle audiences.

use serde_json::{Map, Value, json};

use crate::domain::ids::derived_uuid;
use crate::domain::{Event, EventType, EventsMessage, MembershipChange, Segment};
use crate::ports::{StoreError, StoreResult};
use crate::runtime::Services;

pub const PARTNER_SYNC_NAME: &str = "Partner Sync";
pub const PARTNER_SYNC_CODE: &str = "PARTNER_SYNC";

/// The `Partner Sync` event for one membership change. Its uuid is derived
/// from (workspace, segment, member, computed_time, action), so announcing
/// the same change again yields the same event; the time is the version's
/// ([`crate::domain::Version::time_label`]: Amplitude's `computed_time` as
/// sent).
pub fn partner_sync_event(
    workspace_id: &str,
    segment: &Segment,
    change: &MembershipChange,
) -> Event {
    let member = &change.member;
    let computed_time = change.version.time_label();
    let event_uuid = derived_uuid(&[
        workspace_id,
        &segment.id,
        &member.moengage_user_id,
        &computed_time,
        change.action.as_str(),
    ]);
    // docs/rules/partner-sync.md "Fields"; CleverTap's "CT Source" is "Source" here.
    let attributes = json!({
        "Partner Segment Name": segment.name,
        "Action": change.action.as_str(),
        "Partner Segment ID": segment.cohort_id,
        "Partner Name": segment.source.name(),
        "Source": segment.source.name(),
    });
    let mut user_attributes = Map::new();
    user_attributes.insert(
        "moengage_user_id".into(),
        Value::String(member.moengage_user_id.clone()),
    );
    Event {
        event_name: PARTNER_SYNC_NAME.into(),
        event_code: PARTNER_SYNC_CODE.into(),
        event_uuid,
        event_time: change.version.epoch_seconds(),
        event_type: EventType::UserActionEvent,
        event_source: segment.source.event_source(),
        uid: member.uid.clone(),
        push_id: None,
        email_id: None,
        mobile_number: None,
        event_attributes: attributes.as_object().cloned().unwrap_or_default().into(),
        user_attributes: user_attributes.into(),
        device_attributes: Default::default(),
    }
}

/// What [`apply_and_announce`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnnounceReport {
    pub applied: usize,
    pub already_current: usize,
    pub events: usize,
}

/// Applies the changes, then queues a `Partner Sync` event for every change
/// that is now the stored state — applied now, or already (a redelivery after
/// a crash between the two steps re-announces with the same event_uuid, so
/// nothing is lost and receivers de-duplicate).
pub async fn apply_and_announce(
    services: &Services,
    workspace_id: &str,
    segment: &Segment,
    changes: &[MembershipChange],
) -> StoreResult<AnnounceReport> {
    let outcome = services
        .segments
        .apply_membership_changes(workspace_id, &segment.id, changes)
        .await?;
    let events: Vec<Event> = outcome
        .applied
        .iter()
        .chain(&outcome.already_current)
        .map(|change| partner_sync_event(workspace_id, segment, change))
        .collect();
    let messages = EventsMessage::pack(workspace_id, &events)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    services.queues.events.send_encoded(messages).await?;
    crate::observability::metrics::events_ingested(workspace_id, &events);
    Ok(AnnounceReport {
        applied: outcome.applied.len(),
        already_current: outcome.already_current.len(),
        events: events.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Member, MembershipAction, SegmentSource, Version};

    fn change(action: MembershipAction, t: i64) -> MembershipChange {
        MembershipChange {
            member: Member {
                moengage_user_id: "mid-1".into(),
                uid: Some("user_one@example.com".into()),
                moe_anonymous_id: None,
            },
            action,
            version: Version::new(t * 1000, 1),
        }
    }

    #[test]
    fn partner_sync_matches_interface_section_5() {
        let segment = Segment::new(SegmentSource::Amplitude, "1638361188", "Cart Drop off");
        let event = partner_sync_event(
            "ws",
            &segment,
            &change(MembershipAction::Added, 1_692_206_763),
        );
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            value,
            json!({
                "event_name": "Partner Sync",
                "event_code": "PARTNER_SYNC",
                "event_uuid": event.event_uuid,
                "event_time": 1_692_206_763,
                "event_type": "USER_ACTION_EVENT",
                "event_source": "AMPLITUDE",
                "uid": "user_one@example.com",
                "event_attributes": {
                    "Partner Segment Name": "Cart Drop off",
                    "Action": "Added",
                    "Partner Segment ID": "1638361188",
                    "Partner Name": "Amplitude",
                    "Source": "Amplitude"
                },
                "user_attributes": {"moengage_user_id": "mid-1"},
                "device_attributes": {}
            })
        );
    }

    #[test]
    fn uuids_are_stable_per_change_and_differ_across_changes() {
        let segment = Segment::new(SegmentSource::Mparticle, "42", "VIP");
        let a = partner_sync_event("ws", &segment, &change(MembershipAction::Added, 10));
        let again = partner_sync_event("ws", &segment, &change(MembershipAction::Added, 10));
        let removed = partner_sync_event("ws", &segment, &change(MembershipAction::Removed, 10));
        let later = partner_sync_event("ws", &segment, &change(MembershipAction::Added, 11));
        assert_eq!(a.event_uuid, again.event_uuid);
        assert_ne!(a.event_uuid, removed.event_uuid);
        assert_ne!(a.event_uuid, later.event_uuid);
        // The same change staged twice (a new arrival sequence): same uuid.
        let mut restaged = change(MembershipAction::Added, 10);
        restaged.version.seq = 9;
        assert_eq!(
            partner_sync_event("ws", &segment, &restaged).event_uuid,
            a.event_uuid
        );
        // Amplitude's computed_time is the uuid's time, exactly as sent.
        assert_eq!(
            a.event_uuid,
            derived_uuid(&["ws", "mparticle-42", "mid-1", "10", "Added"])
        );
        assert_eq!(a.event_source, crate::domain::EventSource::Mparticle);
        assert_eq!(a.event_attributes["Partner Name"], "mParticle");
    }
}
