//! Taking erased users' data out of what engage-bridge keeps as messages:
//! dead letters and (SQLite) queued message bodies (docs/interface/privacy.md
//! "Erasure"). A message that holds nothing else afterwards goes.

use std::collections::HashSet;

use serde::Serialize;

use super::message::PrivacyJob;
use super::ports::Rewrite;
use super::request::Target;
use crate::domain::page::{MAX_LIMIT, PageRequest};
use crate::domain::{
    DeadLetter, DeadMessage, Event, EventType, EventsMessage, Profile, RetryMessage, StagedChanges,
};
use crate::ports::StoreResult;
use crate::runtime::Services;
use crate::topology::QueueName;

/// Whose data an erasure takes out, in one workspace.
pub struct Erased {
    workspace: String,
    uids: HashSet<String>,
    profile_ids: HashSet<String>,
    anonymous_ids: HashSet<String>,
}

impl Erased {
    pub fn new(workspace: &str, targets: &[Target], profiles: &[Profile]) -> Self {
        Self {
            workspace: workspace.to_owned(),
            uids: targets.iter().filter_map(|t| t.uid.clone()).collect(),
            profile_ids: targets.iter().map(|t| t.moengage_user_id.clone()).collect(),
            anonymous_ids: profiles
                .iter()
                .flat_map(|p| p.anonymous_ids.iter().cloned())
                .collect(),
        }
    }

    /// Whether an event is about an erased user. Privacy events are not:
    /// a `User Deleted` is the erasure's own announcement, kept until
    /// delivered (or its dead letter's retention ends).
    pub fn event(&self, event: &Event) -> bool {
        if event.event_type == EventType::PrivacyEvent {
            return false;
        }
        event.uid.as_ref().is_some_and(|u| self.uids.contains(u))
            || event
                .moengage_user_id()
                .is_some_and(|id| self.profile_ids.contains(id))
    }

    fn events(&self, events: &[Event]) -> Option<Vec<Event>> {
        if !events.iter().any(|e| self.event(e)) {
            return None;
        }
        Some(events.iter().filter(|e| !self.event(e)).cloned().collect())
    }

    /// A body that cannot be read as its queue's message: it goes if it
    /// names an erased uid at all (as a JSON string).
    fn names_a_uid(&self, body: &str) -> bool {
        self.uids.iter().any(|uid| {
            serde_json::to_string(uid)
                .map(|quoted| body.contains(&quoted))
                .unwrap_or(false)
        })
    }
}

fn encode<T: Serialize>(message: &T) -> Rewrite {
    match serde_json::to_string(message) {
        Ok(body) => Rewrite::Replace(body),
        Err(_) => Rewrite::Remove,
    }
}

/// A queued body of `queue` without the erased users' data.
pub fn queued(queue: QueueName, body: &str, erased: &Erased) -> Rewrite {
    match queue {
        QueueName::Events => match serde_json::from_str::<EventsMessage>(body) {
            Ok(mut m) if m.workspace_id == erased.workspace => match erased.events(&m.events) {
                None => Rewrite::Unchanged,
                Some(kept) if kept.is_empty() => Rewrite::Remove,
                Some(kept) => {
                    m.events = kept;
                    encode(&m)
                }
            },
            Ok(_) => Rewrite::Unchanged,
            Err(_) => unreadable(body, erased),
        },
        QueueName::Retry | QueueName::DeadLetter => {
            match serde_json::from_str::<RetryMessage>(body) {
                Ok(mut m) if m.workspace_id == erased.workspace => match erased.events(&m.events) {
                    None => Rewrite::Unchanged,
                    Some(kept) if kept.is_empty() => Rewrite::Remove,
                    Some(kept) => {
                        m.events = kept;
                        encode(&m)
                    }
                },
                Ok(_) => Rewrite::Unchanged,
                Err(_) => unreadable(body, erased),
            }
        }
        QueueName::Cohort => match serde_json::from_str::<StagedChanges>(body) {
            Ok(mut m) if m.sync.workspace_id == erased.workspace => {
                let before = m.users.len();
                m.users.retain(|u| {
                    !u.user_id
                        .as_ref()
                        .is_some_and(|id| erased.uids.contains(id))
                        && !u
                            .anonymous_id
                            .as_ref()
                            .is_some_and(|id| erased.anonymous_ids.contains(id))
                });
                match m.users.len() {
                    n if n == before => Rewrite::Unchanged,
                    0 => Rewrite::Remove,
                    _ => encode(&m),
                }
            }
            Ok(_) => Rewrite::Unchanged,
            Err(_) => unreadable(body, erased),
        },
        QueueName::Privacy => match serde_json::from_str::<PrivacyJob>(body) {
            Ok(PrivacyJob::Received {
                workspace_id,
                identities,
                ..
            }) if workspace_id == erased.workspace
                && identities.iter().any(|i| erased.uids.contains(i.value())) =>
            {
                Rewrite::Remove
            }
            Ok(_) => Rewrite::Unchanged,
            Err(_) => unreadable(body, erased),
        },
    }
}

fn unreadable(body: &str, erased: &Erased) -> Rewrite {
    if erased.names_a_uid(body) {
        Rewrite::Remove
    } else {
        Rewrite::Unchanged
    }
}

/// A dead letter without the erased users' data.
fn dead_letter(letter: &DeadLetter, erased: &Erased) -> Option<Option<DeadLetter>> {
    match letter {
        DeadLetter::Batch(batch) if batch.workspace_id == erased.workspace => {
            let kept = erased.events(&batch.events)?;
            if kept.is_empty() {
                return Some(None);
            }
            let mut batch = batch.clone();
            batch.events = kept;
            Some(Some(DeadLetter::Batch(batch)))
        }
        DeadLetter::Batch(_) => None,
        DeadLetter::Message(message) => match queued(message.queue, &message.body, erased) {
            Rewrite::Unchanged => None,
            Rewrite::Remove => Some(None),
            Rewrite::Replace(body) => Some(Some(DeadLetter::Message(DeadMessage {
                body,
                ..message.clone()
            }))),
        },
    }
}

/// The events of a dead letter that are about the users of `erased` (an
/// export lists them).
pub fn events_of(letter: &DeadLetter, erased: &Erased) -> Vec<Event> {
    let events = match letter {
        DeadLetter::Batch(batch) if batch.workspace_id == erased.workspace => batch.events.clone(),
        DeadLetter::Batch(_) => Vec::new(),
        DeadLetter::Message(message) => match message.queue {
            QueueName::Events => serde_json::from_str::<EventsMessage>(&message.body)
                .ok()
                .filter(|m| m.workspace_id == erased.workspace)
                .map(|m| m.events)
                .unwrap_or_default(),
            QueueName::Retry | QueueName::DeadLetter => {
                serde_json::from_str::<RetryMessage>(&message.body)
                    .ok()
                    .filter(|m| m.workspace_id == erased.workspace)
                    .map(|m| m.events)
                    .unwrap_or_default()
            }
            QueueName::Cohort | QueueName::Privacy => Vec::new(),
        },
    };
    events.into_iter().filter(|e| erased.event(e)).collect()
}

/// Takes the erased users' events out of every dead letter; a letter left
/// empty goes.
pub async fn dead_letters(services: &Services, erased: &Erased) -> StoreResult<()> {
    let store = &services.dead_letters;
    let mut page = PageRequest::first(MAX_LIMIT);
    let (mut removed, mut rewritten) = (Vec::new(), 0);
    loop {
        let found = store.list_dead_letters(&page).await?;
        for kept in &found.items {
            match dead_letter(&kept.letter, erased) {
                None => {}
                Some(None) => removed.push(kept.id.clone()),
                Some(Some(letter)) => {
                    services
                        .privacy
                        .data
                        .replace_dead_letter(&kept.id, &letter)
                        .await?;
                    rewritten += 1;
                }
            }
        }
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    store.remove_dead_letters(&removed).await?;
    if !removed.is_empty() || rewritten > 0 {
        tracing::info!(workspace_id = %erased.workspace, removed = removed.len(), rewritten,
            "dead letters cleared of an erased user's events");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeadBatch;
    use serde_json::json;

    fn event(uid: &str, n: u32) -> Event {
        serde_json::from_value(json!({
            "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
            "event_uuid": format!("e-{uid}-{n}"), "event_time": 1,
            "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE", "uid": uid
        }))
        .unwrap()
    }

    fn erased() -> Erased {
        let target = Target {
            uid: Some("gone".into()),
            moengage_user_id: "mid-gone".into(),
        };
        Erased::new("ws", &[target], &[])
    }

    #[test]
    fn batches_lose_the_users_events_and_go_when_empty() {
        let batch = |events| {
            DeadLetter::Batch(DeadBatch {
                workspace_id: "ws".into(),
                stream: "s".into(),
                moe_request_id: "r".into(),
                events,
                attempts: vec![],
                reason: "x".into(),
            })
        };
        let e = erased();
        let mixed = batch(vec![event("gone", 1), event("kept", 1)]);
        assert_eq!(
            dead_letter(&mixed, &e),
            Some(Some(batch(vec![event("kept", 1)])))
        );
        assert_eq!(dead_letter(&batch(vec![event("gone", 2)]), &e), Some(None));
        assert_eq!(dead_letter(&batch(vec![event("kept", 2)]), &e), None);
    }

    #[test]
    fn queued_bodies_of_every_queue_are_read() {
        let e = erased();
        let events = serde_json::to_string(&EventsMessage {
            workspace_id: "ws".into(),
            events: vec![event("gone", 1), event("kept", 1)],
        })
        .unwrap();
        let Rewrite::Replace(body) = queued(QueueName::Events, &events, &e) else {
            panic!("rewritten")
        };
        assert!(!body.contains("gone") && body.contains("kept"));
        let other = events.replace("\"ws\"", "\"other\"");
        assert_eq!(queued(QueueName::Events, &other, &e), Rewrite::Unchanged);
        let staged = json!({"workspace_id": "ws", "segment_id": "amplitude-1", "cohort_id": "1",
            "cohort_name": "C", "action": "Added", "computed_time": 1,
            "users": [{"user_id": "gone"}]})
        .to_string();
        assert_eq!(queued(QueueName::Cohort, &staged, &e), Rewrite::Remove);
        assert_eq!(
            queued(QueueName::Retry, "not json \"gone\"", &e),
            Rewrite::Remove
        );
        assert_eq!(queued(QueueName::Retry, "not json", &e), Rewrite::Unchanged);
    }
}
