//! JSON Schemas generated from the Rust types (`engage-bridge schema`,
//! docs/interface/cli.md "schema"): the configuration file and the event.

use serde_json::{Map, Value, json};

use super::model::ConfigFile;
use super::stream::{AMPLITUDE_KEYS, WEBHOOK_KEYS};
use crate::domain::Event;

/// The configuration file's schema. A stream is one of two shapes, each
/// with only its type's keys (the rule the parser enforces).
pub fn config() -> Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(ConfigFile)).expect("a schema serializes");
    if let Some(stream) = schema.pointer_mut("/$defs/StreamConfig") {
        let all = std::mem::take(stream);
        *stream = json!({"oneOf": [
            stream_shape(&all, "webhook", &AMPLITUDE_KEYS, "url"),
            stream_shape(&all, "amplitude", &WEBHOOK_KEYS, "api_key"),
        ]});
    }
    schema
}

/// The stream schema for one type: the other type's keys removed, `type`
/// fixed, its required key added.
fn stream_shape(all: &Value, stream_type: &str, foreign: &[&str], required: &str) -> Value {
    let mut shape = all.clone();
    if let Some(properties) = shape.get_mut("properties").and_then(Value::as_object_mut) {
        for key in foreign {
            properties.remove(*key);
        }
        properties.insert("type".into(), json!({"const": stream_type}));
    }
    let mut needed: Vec<Value> = shape
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    needed.push(required.into());
    let object: &mut Map<String, Value> = shape.as_object_mut().expect("an object schema");
    object.insert("required".into(), Value::Array(needed));
    object.insert("additionalProperties".into(), Value::Bool(false));
    object.insert("title".into(), format!("{stream_type} stream").into());
    shape
}

/// The event's schema (queue messages and stream payloads).
pub fn event() -> Value {
    serde_json::to_value(schemars::schema_for!(Event)).expect("a schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_schema_knows_every_key_and_the_two_stream_shapes() {
        let schema = config();
        let workspace = &schema["$defs"]["WorkspaceConfig"]["properties"];
        for key in [
            "id",
            "secret",
            "secret_sha256",
            "customerio",
            "streams",
            "mparticle_identity",
        ] {
            assert!(workspace.get(key).is_some(), "{key}");
        }
        let shapes = schema["$defs"]["StreamConfig"]["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2);
        assert!(shapes[0]["properties"].get("url").is_some());
        assert!(shapes[0]["properties"].get("api_key").is_none());
        assert!(shapes[1]["properties"].get("headers").is_none());
        assert_eq!(shapes[1]["properties"]["type"]["const"], "amplitude");
    }

    #[test]
    fn the_event_schema_names_the_closed_sets() {
        let schema = event();
        let text = schema.to_string();
        for value in [
            "CAMPAIGN_EVENT",
            "USER_ACTION_EVENT",
            "MOENGAGE",
            "CUSTOMERIO",
        ] {
            assert!(text.contains(value), "{value}");
        }
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "event_uuid")
        );
    }
}
