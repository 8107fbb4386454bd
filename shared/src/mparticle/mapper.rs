//! The one mapper (docs/rules/mparticle-mapping.md): internal batches →
//! profile updates and events, for both formats. Pure (no I/O): ingest.rs
//! applies what it produces.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{Change, EventKind, SourceBatch, SourceEvent};
use super::rules;
use crate::config::WorkspaceConfig;
use crate::domain::ids::{self, ProfileKey, derived_uuid};
use crate::domain::profile::attribute_bytes;
use crate::domain::{Attributes, Event, EventSource, EventType, ProfileUpdate};
use crate::input::limits;

/// What a request did, as the response reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// Events queued.
    pub events: usize,
    /// Distinct profiles created or updated.
    pub profiles: usize,
    /// Events not mapped, per event type (e.g. `session_start`).
    pub skipped: BTreeMap<String, u64>,
    /// Batches without the workspace's `mparticle_identity`.
    pub skipped_batches: u64,
    /// User attributes not kept: object-valued ones without
    /// `allow_object_attributes`, non-text values over the value limit, and
    /// those beyond the profile's attribute budget.
    pub skipped_attributes: u64,
    /// Text attributes cut to the value limit.
    pub cut_attributes: u64,
    /// Events and profile updates of suppressed (erased) users, dropped.
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The mapper's output for one request.
#[derive(Clone, Debug, Default)]
pub struct Mapped {
    pub updates: Vec<ProfileUpdate>,
    pub events: Vec<Event>,
    pub report: Report,
}

/// The uid a user gets from the workspace's `mparticle_identity`
/// (docs/rules/mparticle-mapping.md "Identity and profile").
pub fn uid_for(
    ws: &WorkspaceConfig,
    identities: &[(String, String)],
    mpid: Option<&str>,
) -> Option<String> {
    let uid = match rules::uid_identity_type(ws.mparticle_identity) {
        Some(kind) => identities
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, v)| v.as_str()),
        None => mpid,
    };
    uid.filter(|u| !u.is_empty()).map(str::to_owned)
}

/// Whether a value is (or holds) an object: stored only with
/// `allow_object_attributes`, else skipped and counted
/// (docs/rules/mparticle-mapping.md "User attributes").
fn is_object_like(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(|v| v.is_object() || v.is_array()),
        _ => false,
    }
}

/// Builds one profile update, keeping the last write to each attribute,
/// within the attribute limits (docs/interface/http.md "Limits").
pub struct ProfileChanges<'a> {
    ws: &'a WorkspaceConfig,
    update: ProfileUpdate,
    /// `update.attribute_bytes()`, kept as attributes are set and removed.
    bytes: usize,
    skipped_attributes: u64,
    cut_attributes: u64,
}

/// What the mapper counts for one profile update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    pub skipped: u64,
    pub cut: u64,
}

impl<'a> ProfileChanges<'a> {
    pub fn new(ws: &'a WorkspaceConfig, uid: &str) -> Self {
        Self {
            ws,
            update: ProfileUpdate::new(ProfileKey::Uid(uid.to_owned())),
            bytes: 0,
            skipped_attributes: 0,
            cut_attributes: 0,
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        if !self.ws.allow_object_attributes && is_object_like(&value) {
            self.skipped_attributes += 1;
            return;
        }
        let value = match bounded_value(value) {
            Bounded::Kept(value) => value,
            Bounded::Cut(value) => {
                self.cut_attributes += 1;
                value
            }
            Bounded::TooLarge => {
                self.skipped_attributes += 1;
                return;
            }
        };
        let replaced = self
            .update
            .set_attributes
            .get(name)
            .map_or(0, attribute_bytes);
        let value_bytes = attribute_bytes(&value);
        let total = self.bytes - replaced + value_bytes + name.len();
        if total > limits::PROFILE_ATTRIBUTE_BYTES {
            self.skipped_attributes += 1;
            return;
        }
        self.update.remove_attributes.retain(|n| n != name);
        if let Some(old) = self.update.set_attributes.insert(name.to_owned(), value) {
            self.bytes -= name.len() + attribute_bytes(&old);
        }
        self.bytes += name.len() + value_bytes;
        debug_assert_eq!(self.bytes, self.update.attribute_bytes());
    }

    pub fn remove(&mut self, name: &str) {
        if let Some(old) = self.update.set_attributes.remove(name) {
            self.bytes -= name.len() + attribute_bytes(&old);
        }
        if !self.update.remove_attributes.iter().any(|n| n == name) {
            self.update.remove_attributes.push(name.to_owned());
        }
    }

    /// A user attribute: reserved names become standard ones (docs/rules/mparticle-mapping.md).
    pub fn set_user_attribute(&mut self, name: &str, value: Value) {
        self.set(rules::attribute_name(name), value);
    }

    /// An identity: `email` and `mobile_number` become standard attributes
    /// (docs/rules/mparticle-mapping.md); other identity types are not profile attributes.
    pub fn set_identity(&mut self, kind: &str, value: Value) {
        if let Some(attribute) = rules::identity_attribute(kind) {
            self.set(attribute, value);
        }
    }

    pub fn remove_identity(&mut self, kind: &str) {
        if let Some(attribute) = rules::identity_attribute(kind) {
            self.remove(attribute);
        }
    }

    /// The update, with the anonymous-id attribute's value (if set) as one
    /// of the profile's anonymous ids (docs/rules/member-matching.md); and the attributes skipped.
    pub fn finish(mut self) -> (ProfileUpdate, Counted) {
        let anonymous = match self
            .update
            .set_attributes
            .get(&self.ws.anonymous_id_attribute)
        {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        self.update.add_anonymous_ids.extend(anonymous);
        let counted = Counted {
            skipped: self.skipped_attributes,
            cut: self.cut_attributes,
        };
        (self.update, counted)
    }
}

/// A value within [`limits::ATTRIBUTE_VALUE_BYTES`]: text is cut to it (at a
/// character boundary), anything else that large is not kept.
enum Bounded {
    Kept(Value),
    Cut(Value),
    TooLarge,
}

fn bounded_value(value: Value) -> Bounded {
    let max = limits::ATTRIBUTE_VALUE_BYTES;
    match value {
        Value::String(text) if text.len() > max => {
            let mut end = max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Bounded::Cut(Value::String(text[..end].to_owned()))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => Bounded::Kept(value),
        other if attribute_bytes(&other) > max => Bounded::TooLarge,
        other => Bounded::Kept(other),
    }
}

/// Maps every batch of a request.
/// A user's batches build ONE update, so the attribute budget holds per
/// profile whatever the number of batches.
pub fn map_batches(ws: &WorkspaceConfig, batches: Vec<SourceBatch>, now_ms: i64) -> Mapped {
    let mut out = Mapped::default();
    let mut profiles: Vec<ProfileChanges> = Vec::new();
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    for batch in batches {
        let Some(uid) = uid_for(ws, &batch.identities, batch.mpid.as_deref()) else {
            out.report.skipped_batches += 1;
            continue;
        };
        let slot = *slot_of.entry(uid.clone()).or_insert_with(|| {
            profiles.push(ProfileChanges::new(ws, &uid));
            profiles.len() - 1
        });
        map_batch(ws, batch, &uid, now_ms, &mut profiles[slot], &mut out);
    }
    for profile in profiles {
        let (update, counted) = profile.finish();
        out.report.skipped_attributes += counted.skipped;
        out.report.cut_attributes += counted.cut;
        out.updates.push(update);
    }
    out.report.profiles = slot_of.len();
    out.report.events = out.events.len();
    out
}

fn map_batch(
    ws: &WorkspaceConfig,
    mut batch: SourceBatch,
    uid: &str,
    now_ms: i64,
    profile: &mut ProfileChanges,
    out: &mut Mapped,
) {
    let moengage_user_id = ids::moengage_user_id(&ws.id, &ProfileKey::Uid(uid.to_owned()));
    let mut user_attributes = Map::new();
    user_attributes.insert("moengage_user_id".into(), Value::String(moengage_user_id));
    let device_attributes = Arc::new(device_attributes(ws, &mut batch));
    let context = EventContext {
        ws,
        uid,
        // Written once for the batch, copied as text into each event.
        user_attributes: Attributes::text_of(&user_attributes),
        batch_key: batch.key.as_deref(),
        device_attributes: &device_attributes,
        now_ms,
    };
    for (index, event) in batch.events.into_iter().enumerate() {
        let SourceEvent {
            id,
            timestamp_ms,
            kind,
        } = event;
        let (name, attributes) = match kind {
            EventKind::Emit { name, attributes } => (name, attributes),
            EventKind::Gated {
                name, attributes, ..
            } if ws.commerce_promotions_and_impressions => (name, attributes),
            EventKind::Gated { skip_as, .. } => {
                *out.report.skipped.entry(skip_as.to_owned()).or_default() += 1;
                continue;
            }
            EventKind::Unsupported(kind) => {
                *out.report.skipped.entry(kind).or_default() += 1;
                continue;
            }
            EventKind::AttributeChanges(changes) => {
                for change in changes {
                    match change {
                        Change::Set(name, value) => profile.set_user_attribute(&name, value),
                        Change::Remove(name) => profile.remove(rules::attribute_name(&name)),
                    }
                }
                continue;
            }
            EventKind::IdentityChanges(changes) => {
                for change in changes {
                    match change {
                        Change::Set(kind, value) => profile.set_identity(&kind, value),
                        Change::Remove(kind) => profile.remove_identity(&kind),
                    }
                }
                continue;
            }
        };
        let event = context.event(id.as_deref(), index, timestamp_ms, name, attributes);
        out.events.push(event);
    }
    // The batch's identities and attributes are the user's state as of the
    // batch, so they are applied after the change events it carries.
    for (kind, value) in batch.identities {
        profile.set_identity(&kind, Value::String(value));
    }
    for (name, value) in batch.user_attributes {
        profile.set_user_attribute(&name, value);
    }
    for name in batch.deleted_user_attributes {
        profile.remove(rules::attribute_name(&name));
    }
}

/// The batch's device info plus `moengage_device_id`, derived from its most
/// stable device identity (rules::DEVICE_IDENTITIES). The info is taken
/// from the batch, not copied: nothing else reads it.
fn device_attributes(ws: &WorkspaceConfig, batch: &mut SourceBatch) -> Map<String, Value> {
    let mut attributes = std::mem::take(&mut batch.device);
    let best = batch
        .device_ids
        .iter()
        .filter(|(_, value)| rules::identifies_a_device(value))
        .filter_map(|(field, value)| {
            rules::device_identity(field).map(|(rank, kind)| (rank, kind, value))
        })
        .min_by_key(|(rank, _, _)| *rank);
    if let Some((_, kind, value)) = best {
        let id = derived_uuid(&[&ws.id, "mparticle-device", kind, value]);
        attributes.insert("moengage_device_id".into(), Value::String(id));
    }
    attributes
}

struct EventContext<'a> {
    ws: &'a WorkspaceConfig,
    uid: &'a str,
    user_attributes: Attributes,
    batch_key: Option<&'a str>,
    device_attributes: &'a Arc<Map<String, Value>>,
    now_ms: i64,
}

impl EventContext<'_> {
    fn event(
        &self,
        id: Option<&str>,
        index: usize,
        timestamp_ms: Option<i64>,
        name: String,
        attributes: Attributes,
    ) -> Event {
        // The uuid comes from the mParticle event's identity so replays
        // yield the same one (docs/interface/events.md); the name tells apart the events
        // one commerce event may yield. The time it arrived is no identity:
        // an event without a timestamp of its own is identified without one.
        let event_uuid = match (id, self.batch_key) {
            (Some(id), _) => derived_uuid(&[&self.ws.id, "mparticle", "event", id, &name]),
            (None, Some(key)) => derived_uuid(&[
                &self.ws.id,
                "mparticle",
                "batch",
                key,
                &index.to_string(),
                &name,
            ]),
            // No id anywhere: the event's content is its identity.
            (None, None) => derived_uuid(&[
                &self.ws.id,
                "mparticle",
                "content",
                self.uid,
                &timestamp_ms.map(|t| t.to_string()).unwrap_or_default(),
                &index.to_string(),
                &name,
                // The map's text, as the text attributes are written.
                &serde_json::to_string(&attributes).expect("attributes always serialize"),
            ]),
        };
        Event {
            event_code: name.clone(),
            event_name: name,
            event_uuid,
            event_time: timestamp_ms.unwrap_or(self.now_ms).div_euclid(1000),
            event_type: EventType::UserActionEvent,
            event_source: EventSource::Mparticle,
            uid: Some(self.uid.to_owned()),
            push_id: None,
            email_id: None,
            mobile_number: None,
            event_attributes: attributes,
            user_attributes: self.user_attributes.clone(),
            device_attributes: self.device_attributes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MparticleIdentity;
    use serde_json::json;

    fn ws() -> WorkspaceConfig {
        crate::config::parse("[[workspaces]]\nid = \"ws\"\nsecret = \"s\"\napp_name = \"A\"\n")
            .unwrap()
            .workspaces
            .remove(0)
    }

    fn batch() -> SourceBatch {
        SourceBatch {
            identities: vec![
                ("customer_id".into(), "c1".into()),
                ("email".into(), "a@example.com".into()),
            ],
            mpid: Some("-42".into()),
            ..SourceBatch::default()
        }
    }

    #[test]
    fn uid_follows_the_workspace_identity() {
        let mut ws = ws();
        let b = batch();
        assert_eq!(
            uid_for(&ws, &b.identities, b.mpid.as_deref()).as_deref(),
            Some("c1")
        );
        ws.mparticle_identity = MparticleIdentity::Email;
        assert_eq!(
            uid_for(&ws, &b.identities, None).as_deref(),
            Some("a@example.com")
        );
        ws.mparticle_identity = MparticleIdentity::Mpid;
        assert_eq!(
            uid_for(&ws, &b.identities, b.mpid.as_deref()).as_deref(),
            Some("-42")
        );
        assert_eq!(uid_for(&ws, &b.identities, None), None);
    }

    #[test]
    fn later_writes_win_and_objects_need_the_flag() {
        let mut ws = ws();
        let mut p = ProfileChanges::new(&ws, "u");
        p.set("a", json!(1));
        p.remove("a");
        p.set("b", json!(2));
        p.remove("b");
        p.set("b", json!(3));
        p.set("o", json!({"x": 1}));
        p.set("moe_anonymous_id", json!("anon-1"));
        let (update, counted) = p.finish();
        assert_eq!(update.remove_attributes, vec!["a"]);
        assert_eq!(update.set_attributes["b"], 3);
        assert!(!update.set_attributes.contains_key("o"));
        assert_eq!(counted, Counted { skipped: 1, cut: 0 });
        assert_eq!(update.add_anonymous_ids, vec!["anon-1"]);

        ws.allow_object_attributes = true;
        let mut p = ProfileChanges::new(&ws, "u");
        p.set("o", json!([{"x": 1}]));
        assert_eq!(p.finish().1, Counted::default());
    }

    #[test]
    fn values_and_profiles_stay_within_their_limits() {
        let mut ws = ws();
        ws.allow_object_attributes = true;
        let mut p = ProfileChanges::new(&ws, "u");
        // Text is cut at a character boundary; a large object is not kept.
        p.set("text", json!("é".repeat(limits::ATTRIBUTE_VALUE_BYTES)));
        p.set(
            "object",
            json!({"blob": "x".repeat(limits::ATTRIBUTE_VALUE_BYTES)}),
        );
        let (update, counted) = p.finish();
        assert_eq!(counted, Counted { skipped: 1, cut: 1 });
        let text = update.set_attributes["text"].as_str().unwrap();
        assert_eq!(text.len(), limits::ATTRIBUTE_VALUE_BYTES);
        assert!(!update.set_attributes.contains_key("object"));

        // Many values: only what fits the profile budget is kept.
        let mut p = ProfileChanges::new(&ws, "u");
        let value = "v".repeat(limits::ATTRIBUTE_VALUE_BYTES - 100);
        for i in 0..20 {
            p.set(&format!("a{i:02}"), json!(value));
        }
        let (update, counted) = p.finish();
        assert!(update.attribute_bytes() <= limits::PROFILE_ATTRIBUTE_BYTES);
        assert_eq!(update.set_attributes.len() as u64 + counted.skipped, 20);
        assert!(counted.skipped > 0);
    }

    #[test]
    fn a_users_batches_make_one_update() {
        let ws = ws();
        let mapped = map_batches(&ws, vec![batch(), batch(), batch()], 0);
        assert_eq!(mapped.updates.len(), 1);
        assert_eq!(mapped.report.profiles, 1);
    }

    #[test]
    fn batches_without_the_identity_are_counted() {
        let ws = ws();
        let mapped = map_batches(&ws, vec![SourceBatch::default(), batch()], 0);
        assert_eq!(mapped.report.skipped_batches, 1);
        assert_eq!(mapped.report.profiles, 1);
        assert_eq!(mapped.updates[0].set_attributes["email"], "a@example.com");
    }
}
