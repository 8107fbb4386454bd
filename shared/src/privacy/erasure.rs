//! Erasing a user (docs/interface/privacy.md "Erasure"): one ordered list of
//! steps, each idempotent, run by the privacy queue's consumer. A job
//! redelivered after a crash runs them all again and ends where an
//! uninterrupted run ends.
//!
//! The profile goes last but one: an email identity is resolved from the
//! profiles, so until then a resumed erasure finds the same users.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::{Map, Value};

use super::keyed::HashKey;
use super::request::{Identity, PrivacyRequest, RequestStatus, Target};
use super::{scrub, suppression};
use crate::config::MparticleIdentity;
use crate::domain::ids::{derived_uuid, moengage_user_id};
use crate::domain::time::now_ms;
use crate::domain::{Event, EventSource, EventType, EventsMessage, ProfileKey};
use crate::ports::{StoreError, StoreResult};
use crate::runtime::Services;
use crate::topology::QueueName;

pub const USER_DELETED_NAME: &str = "User Deleted";
pub const USER_DELETED_CODE: &str = "EB_USER_DELETED";
/// How long the erasure waits for the delivery log's pending records.
const LOG_FLUSH: Duration = Duration::from_secs(5);

/// One step of an erasure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The uids go on the suppression list; then wait [`suppression::GRACE`].
    Suppress,
    /// Segment memberships, in or out (member counts follow; no Partner Sync).
    Memberships,
    /// The user's events inside dead letters (a dead letter left empty goes).
    DeadLetters,
    /// The delivery log's entries naming the user, and their requests'
    /// bodies (the console's Deliveries and Users pages read them).
    DeliveryLog,
    /// The user's events still on the events, retry and cohort queues
    /// (SQLite; on SQS dispatch drops them, being suppressed).
    Queued,
    /// The subjects of access requests about the user.
    AccessResults,
    /// One `User Deleted` event per user, for the webhook streams (and
    /// Amplitude's User Privacy API where `forward_deletions` is set).
    Announce,
    /// The profile, its identities and anonymous-id index entries.
    Profiles,
    /// Deleted data made unrecoverable from the store's files.
    Compact,
}

/// The erasure, in order. The delivery log goes before `Announce`: the
/// `User Deleted` event's own delivery records stay (until retention).
pub const STEPS: [Step; 9] = [
    Step::Suppress,
    Step::Memberships,
    Step::DeadLetters,
    Step::DeliveryLog,
    Step::Queued,
    Step::AccessResults,
    Step::Announce,
    Step::Profiles,
    Step::Compact,
];

/// The users `identities` name: a uid is one (found or not); an email is
/// every profile whose `email` attribute it is, and also a uid where the
/// workspace's mParticle identity is the email.
pub async fn resolve(
    services: &Services,
    workspace: &str,
    identities: &[Identity],
) -> StoreResult<Vec<Target>> {
    let email_is_uid = services
        .workspaces
        .get(workspace)
        .await?
        .is_some_and(|ws| ws.mparticle_identity == MparticleIdentity::Email);
    let by_uid = |uid: &str| Target {
        uid: Some(uid.to_owned()),
        moengage_user_id: moengage_user_id(workspace, &ProfileKey::Uid(uid.to_owned())),
    };
    let mut targets = Vec::new();
    for identity in identities {
        match identity {
            Identity::Uid(uid) => targets.push(by_uid(uid)),
            Identity::Email(email) => {
                let found = services
                    .privacy
                    .data
                    .find_by_email(workspace, email)
                    .await?;
                targets.extend(found.into_iter().map(|(id, uid)| Target {
                    uid,
                    moengage_user_id: id,
                }));
                if email_is_uid {
                    targets.push(by_uid(email));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.moengage_user_id.clone()));
    Ok(targets)
}

/// One erasure's context.
struct Erasure<'a> {
    services: &'a Services,
    request: PrivacyRequest,
    targets: Vec<Target>,
    key: HashKey,
    erased: scrub::Erased,
}

/// Runs every step for the users `identities` name. Returns the request as
/// kept (with the profiles it found noted).
pub async fn run(
    services: &Services,
    request: &PrivacyRequest,
    identities: &[Identity],
) -> StoreResult<PrivacyRequest> {
    let ws = &request.workspace_id;
    let targets = resolve(services, ws, identities).await?;
    let key = suppression::key(services, ws).await?;
    let ids: Vec<String> = targets.iter().map(|t| t.moengage_user_id.clone()).collect();
    let profiles = services.profiles.get_profiles(ws, &ids).await?;
    let mut request = request.clone();
    if request.profiles_found.is_none() {
        request.profiles_found = Some(
            profiles
                .iter()
                .map(|p| key.hash(&p.moengage_user_id))
                .collect(),
        );
        services
            .privacy
            .requests
            .update_request(&request, RequestStatus::InProgress)
            .await?;
    }
    let erased = scrub::Erased::new(ws, &targets, &profiles);
    let erasure = Erasure {
        services,
        request,
        targets,
        key,
        erased,
    };
    for step in STEPS {
        erasure.step(step).await?;
    }
    tracing::info!(workspace_id = %ws, privacy_request_id = %erasure.request.id,
        users = erasure.targets.len(), "erasure steps done");
    Ok(erasure.request)
}

impl Erasure<'_> {
    fn workspace(&self) -> &str {
        &self.request.workspace_id
    }

    fn uids(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().filter_map(|t| t.uid.as_deref())
    }

    async fn step(&self, step: Step) -> StoreResult<()> {
        let (services, ws) = (self.services, self.workspace());
        let data = &services.privacy.data;
        match step {
            Step::Suppress => {
                let mut latest = 0;
                for uid in self.uids() {
                    latest = latest.max(suppression::suppress(services, ws, uid).await?);
                }
                // Until every process has seen the suppression, something
                // it will stop could still be written.
                let wait = (latest + suppression::GRACE.as_millis() as i64 - now_ms()).max(0);
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            Step::Memberships => {
                for target in &self.targets {
                    data.erase_memberships(ws, &target.moengage_user_id).await?;
                }
            }
            Step::DeadLetters => scrub::dead_letters(services, &self.erased).await?,
            Step::DeliveryLog => {
                // What this process recorded before the suppression is
                // written first, so that it goes too.
                services.delivery_log.flush(LOG_FLUSH).await;
                let mut entries = 0;
                for uid in self.uids() {
                    entries += services.delivery_log.erase_user(ws, uid).await?;
                }
                if entries > 0 {
                    tracing::info!(workspace_id = %ws, privacy_request_id = %self.request.id,
                        entries, "delivery-log entries erased");
                }
            }
            Step::Queued => {
                for queue in [QueueName::Events, QueueName::Retry, QueueName::Cohort] {
                    let erased = &self.erased;
                    let changed = data
                        .rewrite_queued(queue, &|body| scrub::queued(queue, body, erased))
                        .await?;
                    if changed > 0 {
                        tracing::info!(workspace_id = %ws, %queue, messages = changed,
                            "queued messages rewritten without an erased user's data");
                    }
                }
            }
            Step::AccessResults => {
                let hashes = self
                    .uids()
                    .map(|uid| self.key.hash(uid))
                    .chain(self.request.subject_hashes.iter().cloned());
                for hash in hashes {
                    services
                        .privacy
                        .requests
                        .forget_access_subjects(ws, &hash)
                        .await?;
                }
            }
            Step::Announce => self.announce().await?,
            Step::Profiles => {
                for target in &self.targets {
                    data.erase_profile(ws, &target.moengage_user_id).await?;
                }
            }
            Step::Compact => data.compact().await?,
        }
        Ok(())
    }

    /// Queues the `User Deleted` events: the same ones on every run (their
    /// uuids derive from the request and the user).
    async fn announce(&self) -> StoreResult<()> {
        let found = self.request.profiles_found.as_deref().unwrap_or_default();
        let events: Vec<Event> = self
            .targets
            .iter()
            .map(|target| {
                let had_profile = found.contains(&self.key.hash(&target.moengage_user_id));
                user_deleted(&self.request, target, had_profile)
            })
            .collect();
        let messages = EventsMessage::pack(self.workspace(), &events)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.services.queues.events.send_encoded(messages).await
    }
}

/// The `User Deleted` event of one erased user (docs/interface/privacy.md):
/// no attributes, `moengage_user_id` only when there was a profile.
pub fn user_deleted(request: &PrivacyRequest, target: &Target, had_profile: bool) -> Event {
    let subject = target.uid.as_deref().unwrap_or(&target.moengage_user_id);
    let mut user_attributes = Map::new();
    if had_profile {
        user_attributes.insert(
            "moengage_user_id".into(),
            Value::String(target.moengage_user_id.clone()),
        );
    }
    Event {
        event_name: USER_DELETED_NAME.into(),
        event_code: USER_DELETED_CODE.into(),
        event_uuid: derived_uuid(&[
            &request.workspace_id,
            USER_DELETED_CODE,
            &request.id,
            subject,
        ]),
        event_time: request.created_at_ms / 1000,
        event_type: EventType::PrivacyEvent,
        event_source: EventSource::EngageBridge,
        uid: target.uid.clone(),
        push_id: None,
        email_id: None,
        mobile_number: None,
        event_attributes: Default::default(),
        user_attributes: user_attributes.into(),
        device_attributes: Default::default(),
    }
}

/// Whether an event is engage-bridge's `User Deleted`.
pub fn is_user_deleted(event: &Event) -> bool {
    event.event_type == EventType::PrivacyEvent
        && event.event_source == EventSource::EngageBridge
        && event.event_code == USER_DELETED_CODE
}

/// `events` apart from their `User Deleted` events, and those: copied only
/// when both kinds are present.
pub fn split_deletions(events: &[Event]) -> (Cow<'_, [Event]>, Cow<'_, [Event]>) {
    if !events.iter().any(is_user_deleted) {
        return (Cow::Borrowed(events), Cow::Borrowed(&[]));
    }
    if events.iter().all(is_user_deleted) {
        return (Cow::Borrowed(&[]), Cow::Borrowed(events));
    }
    let (deleted, rest): (Vec<Event>, Vec<Event>) =
        events.iter().cloned().partition(is_user_deleted);
    (Cow::Owned(rest), Cow::Owned(deleted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::request::RequestKind;
    use serde_json::json;

    #[test]
    fn user_deleted_matches_the_interface() {
        let request = PrivacyRequest::new(
            "r-1".into(),
            "ws",
            RequestKind::Erasure,
            vec![],
            1_700_000_000_123,
        );
        let target = Target {
            uid: Some("u1".into()),
            moengage_user_id: "mid-1".into(),
        };
        let event = user_deleted(&request, &target, true);
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "event_name": "User Deleted",
                "event_code": "EB_USER_DELETED",
                "event_uuid": event.event_uuid,
                "event_time": 1_700_000_000,
                "event_type": "PRIVACY_EVENT",
                "event_source": "ENGAGE_BRIDGE",
                "uid": "u1",
                "event_attributes": {},
                "user_attributes": {"moengage_user_id": "mid-1"},
                "device_attributes": {}
            })
        );
        assert!(is_user_deleted(&event));
        // The same request and user: the same event, whatever the run.
        assert_eq!(user_deleted(&request, &target, true), event);
        let without = user_deleted(&request, &target, false);
        assert!(without.user_attributes.is_empty());
        assert_eq!(without.event_uuid, event.event_uuid);
    }
}
