//! Filling an event in for one stream at dispatch time: user attributes from
//! the profile per the stream's allowlist, device attributes per its
//! allowlist, and the never-exported attributes (docs/rules/webhook-payload.md) removed.

use std::sync::Arc;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::config::{Selection, StreamConfig};
use crate::domain::{Event, Profile};
use crate::ports::StoreResult;
use crate::runtime::Services;

use super::catalogue::NOT_EXPORTED_ATTRIBUTES;

/// The profiles of a batch's users, looked up once with batched reads.
#[derive(Default)]
pub struct Profiles {
    by_id: HashMap<String, Profile>,
    id_by_uid: HashMap<String, String>,
}

impl Profiles {
    pub async fn load(services: &Services, workspace: &str, events: &[Event]) -> StoreResult<Self> {
        let mut uids: Vec<String> = events
            .iter()
            .filter(|e| e.moengage_user_id().is_none())
            .filter_map(|e| e.uid.clone())
            .collect();
        uids.sort();
        uids.dedup();
        let id_by_uid = if uids.is_empty() {
            HashMap::new()
        } else {
            services.profiles.find_by_uids(workspace, &uids).await?
        };
        let mut ids: Vec<String> = events
            .iter()
            .filter_map(|e| e.moengage_user_id().map(str::to_owned))
            .chain(id_by_uid.values().cloned())
            .collect();
        ids.sort();
        ids.dedup();
        let by_id = if ids.is_empty() {
            HashMap::new()
        } else {
            services
                .profiles
                .get_profiles(workspace, &ids)
                .await?
                .into_iter()
                .map(|p| (p.moengage_user_id.clone(), p))
                .collect()
        };
        Ok(Self { by_id, id_by_uid })
    }

    pub fn of(&self, event: &Event) -> Option<&Profile> {
        let id = match event.moengage_user_id() {
            Some(id) => Some(id),
            None => event
                .uid
                .as_ref()
                .and_then(|uid| self.id_by_uid.get(uid))
                .map(String::as_str),
        }?;
        self.by_id.get(id)
    }
}

/// Copies the attributes of `source` that `selection` includes.
pub fn select_into(
    target: &mut Map<String, Value>,
    source: &Map<String, Value>,
    selection: &Selection,
) {
    for (name, value) in source {
        if selection.includes(name) {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// The event as a webhook stream receives it: the allowlists select user
/// and device attributes, the never-exported attributes are removed. Only
/// what is sent is copied (the event's own user and device maps are not).
pub fn for_webhook(event: &Event, profile: Option<&Profile>, stream: &StreamConfig) -> Event {
    let event_attributes = event
        .event_attributes
        .iter()
        .filter(|(name, _)| !NOT_EXPORTED_ATTRIBUTES.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();

    let mut user = Map::new();
    let moengage_user_id = profile
        .map(|p| p.moengage_user_id.clone())
        .or_else(|| event.moengage_user_id().map(str::to_owned));
    select_into(&mut user, &event.user_attributes, &stream.user_attributes);
    if let Some(profile) = profile {
        select_into(&mut user, &profile.attributes, &stream.user_attributes);
    }
    if let Some(id) = moengage_user_id {
        user.insert("moengage_user_id".into(), Value::String(id));
    }

    let mut device = Map::new();
    select_into(
        &mut device,
        &event.device_attributes,
        &stream.device_attributes,
    );
    if let Some(id) = event.device_attributes.get("moengage_device_id") {
        device.insert("moengage_device_id".into(), id.clone());
    }
    Event {
        event_name: event.event_name.clone(),
        event_code: event.event_code.clone(),
        event_uuid: event.event_uuid.clone(),
        event_time: event.event_time,
        event_type: event.event_type,
        event_source: event.event_source,
        uid: event.uid.clone(),
        push_id: event.push_id.clone(),
        email_id: event.email_id.clone(),
        mobile_number: event.mobile_number.clone(),
        event_attributes,
        user_attributes: user,
        device_attributes: Arc::new(device),
    }
}
