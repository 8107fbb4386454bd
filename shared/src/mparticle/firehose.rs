//! mParticle Firehose, the partner protocol (github.com/mParticle/
//! mparticle-firehose-java-sdk, model package): request envelopes, the
//! event processing request → the internal model, and the response messages.
//!
//! Every message is `{"type", "id", "timestamp_ms", "firehose_version"}` plus
//! its fields; enum values are lower-case. Events are internally tagged by
//! `type` and use `id`, `timestamp_ms`, `name`, `attributes`.

use serde_json::{Map, Value, json};

use super::commerce::{self, Format};
use super::json::{Invalid, Node};
use super::model::{Change, EventKind, SourceBatch, SourceEvent};
use super::rules::{self, SUPPORTED_FIREHOSE_EVENT_TYPES};
use crate::domain::ids::derived_uuid;
use crate::domain::time::now_ms;
use crate::input::{check_len, limits, quoted};

/// The Firehose SDK version whose message shapes we speak.
pub const FIREHOSE_VERSION: &str = "3.2.0";

/// Account setting ids the module registers (docs/interface/auth.md).
pub const WORKSPACE_ID_SETTING: &str = "workspace_id";
pub const SECRET_KEY_SETTING: &str = "secret_key";

/// The request types this module answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    ModuleRegistration,
    EventProcessing,
    AudienceSubscription,
    AudienceMembershipChange,
}

impl RequestType {
    pub fn read(root: &Node) -> Result<Self, Invalid> {
        let Some(kind) = root.get("type") else {
            return Err(root.invalid("missing field \"type\" (the Firehose message type)"));
        };
        match kind.string()? {
            "module_registration_request" => Ok(Self::ModuleRegistration),
            "event_processing_request" => Ok(Self::EventProcessing),
            "audience_subscription_request" => Ok(Self::AudienceSubscription),
            "audience_membership_change_request" => Ok(Self::AudienceMembershipChange),
            other => Err(kind.invalid(format!(
                "unsupported Firehose message type {}",
                quoted(other)
            ))),
        }
    }

    fn response_type(self) -> &'static str {
        match self {
            Self::ModuleRegistration => "module_registration_response",
            Self::EventProcessing => "event_processing_response",
            Self::AudienceSubscription => "audience_subscription_response",
            Self::AudienceMembershipChange => "audience_membership_change_response",
        }
    }
}

/// `account.account_settings.{workspace_id, secret_key}` when both are set.
pub fn account_credentials(root: &Node) -> Result<Option<(String, String)>, Invalid> {
    let Some(account) = root.get("account") else {
        return Ok(None);
    };
    let Some(settings) = account.get("account_settings") else {
        return Ok(None);
    };
    settings.object()?;
    let id = settings.opt_text(WORKSPACE_ID_SETTING)?;
    let secret = settings.opt_text(SECRET_KEY_SETTING)?;
    Ok(id.zip(secret))
}

/// The response message for a request: a fresh id derived from the
/// request's, so a redelivered request gets the same response id.
pub fn response(request: RequestType, root: &Node, fields: Map<String, Value>) -> Value {
    let request_id = root
        .get("id")
        .and_then(|n| n.text().ok())
        .unwrap_or_default();
    let mut message = Map::new();
    message.insert("type".into(), request.response_type().into());
    message.insert(
        "id".into(),
        derived_uuid(&["mparticle-firehose-response", &request_id]).into(),
    );
    message.insert("timestamp_ms".into(), now_ms().into());
    message.insert("firehose_version".into(), FIREHOSE_VERSION.into());
    message.extend(fields);
    Value::Object(message)
}

/// The module registration: who we are, the credentials mParticle must
/// send (docs/interface/auth.md: "Workspace ID" and the confidential "Secret Key"),
/// the identities we need and the event types we map.
pub fn registration_fields() -> Map<String, Value> {
    let setting = |id: &str, name: &str, description: &str, confidential: bool| {
        json!({
            "type": "text", "id": id, "name": name, "description": description,
            "visible": true, "required": true, "confidential": confidential
        })
    };
    let account_settings = json!([
        setting(
            WORKSPACE_ID_SETTING,
            "Workspace ID",
            "The engage-bridge workspace id (the Data API ID of the workspace).",
            false
        ),
        setting(
            SECRET_KEY_SETTING,
            "Secret Key",
            "The workspace secret (the Data API key).",
            true
        ),
    ]);
    let raw = |kinds: &[&str]| -> Vec<Value> {
        kinds
            .iter()
            .map(|kind| json!({"type": kind, "encoding": "raw", "required": false}))
            .collect()
    };
    let user_identities = raw(&["customer", "email", "mobile_number"]);
    let device_identities = raw(&[
        "ios_vendor_id",
        "android_id",
        "ios_advertising_id",
        "google_advertising_id",
        "fire_advertising_id",
        "roku_publisher_id",
        "roku_advertising_id",
        "microsoft_publisher_id",
        "microsoft_advertising_id",
    ]);
    let fields = json!({
        "sdk_version": FIREHOSE_VERSION,
        "name": "engage-bridge",
        "description": "Forwards mParticle users, events and audiences to engage-bridge: \
            user profiles (identities and attributes), user-action events and segments.",
        "version": env!("CARGO_PKG_VERSION"),
        "permissions": {
            "user_identities": user_identities,
            "device_identities": device_identities,
            "allow_access_mpid": true,
            "allow_user_attributes": true,
            "allow_device_info": true,
            "allow_access_device_application_stamp": true
        },
        "event_processing_registration": {
            "account_settings": account_settings,
            "supported_event_types": SUPPORTED_FIREHOSE_EVENT_TYPES,
            "supported_runtime_environments": [
                "android", "ios", "tvos", "mobileweb", "roku", "xbox", "firetv", "alexa",
                "smarttv", "unknown"
            ],
            // Historical events are accepted (docs/rules/mparticle-mapping.md "Events").
            "max_data_age_hours": 24 * 365
        },
        "audience_processing_registration": {
            "account_settings": account_settings
        }
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Firehose user identities `[{type, encoding, value}]` as Events-API
/// `(type, value)` pairs. Hashed values (encoding other than `raw`) cannot
/// be a uid or an email, so they are left out.
pub fn read_identities(node: Option<Node>) -> Result<Vec<(String, String)>, Invalid> {
    let mut out = Vec::new();
    if let Some(list) = node {
        for item in list.items()? {
            if let Some((kind, value)) = raw_identity(&item)? {
                out.push((rules::firehose_identity_type(&kind).to_owned(), value));
            }
        }
    }
    Ok(out)
}

fn raw_identity(item: &Node) -> Result<Option<(String, String)>, Invalid> {
    let kind = item.required_text("type")?;
    let encoding = item.opt_text("encoding")?;
    if encoding.is_some_and(|e| !e.eq_ignore_ascii_case("raw")) {
        return Ok(None);
    }
    let value = item.opt_text("value")?.filter(|v| !v.is_empty());
    if let Some(value) = &value {
        check_len(
            &format!("identity {}", quoted(&kind)),
            value,
            limits::USER_ID_BYTES,
        )
        .map_err(|p| item.invalid(p))?;
    }
    Ok(value.map(|v| (kind, v)))
}

/// An `event_processing_request` → one batch.
pub fn read_event_processing(root: &Node) -> Result<SourceBatch, Invalid> {
    let timestamp_ms = root.opt_millis("timestamp_ms")?;
    let mut user_attributes: Vec<(String, Value)> =
        root.opt_map("user_attributes")?.into_iter().collect();
    user_attributes.extend(root.opt_map("user_attribute_lists")?);
    let mut device = Map::new();
    let mut device_ids = Vec::new();
    if let Some(stamp) = root.opt_text("device_application_stamp")? {
        device_ids.push(("device_application_stamp".to_owned(), stamp));
    }
    if let Some(env) = root.get("runtime_environment") {
        for (name, value) in env.object()? {
            match (name.as_str(), value) {
                ("identities", _) => {}
                (_, Value::Null | Value::Object(_) | Value::Array(_)) => {}
                ("type", _) => {
                    device.insert("platform".into(), value.clone());
                }
                // The Events-API name, so both formats fill Amplitude's `ip`.
                ("client_ip_address", _) => {
                    device.insert("ip".into(), value.clone());
                }
                _ => {
                    device.insert(name.clone(), value.clone());
                }
            }
        }
        if let Some(list) = env.get("identities") {
            for item in list.items()? {
                if let Some((kind, value)) = raw_identity(&item)? {
                    device.insert(kind.clone(), Value::String(value.clone()));
                    device_ids.push((kind, value));
                }
            }
        }
    }
    let mut events = Vec::new();
    if let Some(list) = root.get("events") {
        for event in list.items()? {
            events.push(read_event(&event, timestamp_ms)?);
        }
    }
    Ok(SourceBatch {
        key: root.opt_text("id")?,
        mpid: root.opt_id("mpid")?,
        identities: read_identities(root.get("user_identities"))?,
        user_attributes,
        deleted_user_attributes: Vec::new(),
        device,
        device_ids,
        timestamp_ms,
        events,
    })
}

fn read_event(node: &Node, request_timestamp_ms: Option<i64>) -> Result<SourceEvent, Invalid> {
    node.object()?;
    let event_type = match node.get("type") {
        Some(t) => t.string()?,
        None => return Err(node.invalid("missing field \"type\"")),
    };
    let id = match node.opt_text("id")? {
        Some(id) => Some(id),
        None => node.opt_text("source_id")?,
    };
    let timestamp_ms = node.opt_millis("timestamp_ms")?.or(request_timestamp_ms);
    let custom = || commerce::custom_attributes(node, Format::Firehose);
    let kind = match event_type {
        "custom_event" => EventKind::custom(node.opt_text("name")?, custom()?.into()),
        "product_action" => commerce::product_action(node, &[node], Format::Firehose, custom()?)?,
        "promotion_action" => commerce::promotion_action(node, Format::Firehose, custom()?)?,
        "impression" => {
            commerce::impressions(node.get("impressions"), Format::Firehose, custom()?)?
        }
        "user_attribute_change" => {
            // Removed first, then added: a changed value is in both.
            let mut changes: Vec<Change> = node
                .opt_map("removed")?
                .into_iter()
                .map(|(name, _)| Change::Remove(name))
                .collect();
            changes.extend(
                node.opt_map("added")?
                    .into_iter()
                    .map(|(name, value)| Change::Set(name, value)),
            );
            EventKind::AttributeChanges(changes)
        }
        "user_identity_change" => {
            let mut changes: Vec<Change> = read_identities(node.get("removed"))?
                .into_iter()
                .map(|(kind, _)| Change::Remove(kind))
                .collect();
            changes.extend(
                read_identities(node.get("added"))?
                    .into_iter()
                    .map(|(kind, value)| Change::Set(kind, Value::String(value))),
            );
            EventKind::IdentityChanges(changes)
        }
        other => EventKind::Unsupported(other.to_owned()),
    };
    Ok(SourceEvent {
        id,
        timestamp_ms,
        kind,
    })
}
