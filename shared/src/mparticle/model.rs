//! The one internal model both mParticle formats are converted into: a batch
//! of one user's identities, attributes, device and events. The mapper
//! (mapper.rs) turns it into profile updates and events, so every rule of
//! docs/rules/mparticle-mapping.md is implemented once.

use serde_json::{Map, Value};

use crate::domain::Attributes;

/// One user's batch: an Events-API batch or a Firehose event processing
/// request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceBatch {
    /// A stable identity of the batch (Events API `batch_id` or
    /// `source_request_id`, Firehose request `id`), for events that carry no
    /// id of their own.
    pub key: Option<String>,
    pub mpid: Option<String>,
    /// `(identity type, value)` with Events-API type names; raw values only.
    pub identities: Vec<(String, String)>,
    /// User attributes as sent (reserved names not yet mapped).
    pub user_attributes: Vec<(String, Value)>,
    pub deleted_user_attributes: Vec<String>,
    /// Device information for `device_attributes`.
    pub device: Map<String, Value>,
    /// `(field or identity type, value)` candidates for `moengage_device_id`.
    pub device_ids: Vec<(String, String)>,
    pub timestamp_ms: Option<i64>,
    pub events: Vec<SourceEvent>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceEvent {
    /// The event's own id (`event_id`, `source_message_id` or Firehose `id`).
    pub id: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub kind: EventKind,
}

impl SourceEvent {
    /// An event of a type not read: skipped and counted, its data unread.
    pub fn unsupported(event_type: &str) -> Self {
        Self {
            id: None,
            timestamp_ms: None,
            kind: EventKind::Unsupported(event_type.to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// Custom events and product actions: always emitted.
    Emit {
        name: String,
        attributes: Attributes,
    },
    /// Promotions and impressions: emitted only when the workspace enables
    /// them, else skipped and counted under `skip_as`.
    Gated {
        name: String,
        attributes: Attributes,
        skip_as: &'static str,
    },
    /// `user_attribute_change`: attribute names as sent.
    AttributeChanges(Vec<Change>),
    /// `user_identity_change`: Events-API identity type names.
    IdentityChanges(Vec<Change>),
    /// Skipped and counted under this type name.
    Unsupported(String),
}

impl EventKind {
    /// A custom event. One without a name (mParticle's own JSON reference
    /// shows a `custom_event` with `data: {}`) is skipped and counted as a
    /// `custom_event`, never a request failure (docs/rules/mparticle-mapping.md).
    pub fn custom(name: Option<String>, attributes: Attributes) -> Self {
        match name.filter(|n| !n.trim().is_empty()) {
            Some(name) => Self::Emit { name, attributes },
            None => Self::Unsupported("custom_event".to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Set(String, Value),
    Remove(String),
}
