//! Amplitude's documented limits on what one event may carry
//! (docs/rules/amplitude-export.md "Amplitude's limits on an event"):
//! strings of at most 1024 characters, at most 1000 keys in a properties
//! object, objects at most 40 layers deep, arrays of one dimension. Every
//! value the mapping sends passes through [`bound`].

use serde_json::{Map, Value};

/// Characters kept of any string (values and keys).
pub const MAX_STRING_CHARS: usize = 1024;
/// Keys kept of one object (and items of one array).
pub const MAX_PROPERTY_KEYS: usize = 1000;
/// Object layers, the properties object itself being the first.
pub const MAX_DEPTH: usize = 40;

pub fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_STRING_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// A properties object within the limits: at most 1000 keys, each value
/// bounded. The `kept` keys present come first; the others fill the rest in
/// key order.
pub fn bound_properties(properties: &Map<String, Value>, kept: &[&str]) -> Map<String, Value> {
    let first = kept.iter().filter_map(|key| properties.get_key_value(*key));
    let rest = properties
        .iter()
        .filter(|(key, _)| !kept.contains(&key.as_str()));
    first
        .chain(rest)
        .take(MAX_PROPERTY_KEYS)
        .map(|(key, value)| (cut(key), bound(value, 1)))
        .collect()
}

/// `value` within the limits, at object layer `depth` (1 = a properties
/// object's values). What would nest deeper than 40 layers, and arrays inside
/// arrays, are sent as their JSON text (cut like any string).
pub fn bound(value: &Value, depth: usize) -> Value {
    match value {
        Value::String(text) => Value::String(cut(text)),
        Value::Object(_) if depth >= MAX_DEPTH => as_text(value),
        Value::Object(map) => Value::Object(
            map.iter()
                .take(MAX_PROPERTY_KEYS)
                .map(|(k, v)| (cut(k), bound(v, depth + 1)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .take(MAX_PROPERTY_KEYS)
                .map(|item| match item {
                    Value::Array(_) => as_text(item),
                    other => bound(other, depth),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn as_text(value: &Value) -> Value {
    Value::String(cut(&value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn depth(value: &Value) -> usize {
        match value {
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            Value::Array(items) => items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn strings_keys_and_nesting_stay_within_amplitudes_limits() {
        assert_eq!(cut(&"é".repeat(2000)).chars().count(), 1024);
        assert_eq!(cut("short"), "short");
        let mut deep = json!("leaf");
        for _ in 0..60 {
            deep = json!({ "k": deep });
        }
        let mut properties: Map<String, Value> =
            (0..1500).map(|i| (format!("a{i:04}"), json!(i))).collect();
        properties.insert("deep".into(), deep);
        properties.insert("grid".into(), json!([[1, 2], [3]]));
        properties.insert("$source".into(), json!("MPARTICLE"));
        let bounded = Value::Object(bound_properties(&properties, &["$source", "deep", "grid"]));
        assert!(!bounded.as_object().unwrap().contains_key("a1499"));
        let map = bounded.as_object().unwrap();
        assert_eq!(map.len(), MAX_PROPERTY_KEYS);
        assert_eq!(map["$source"], "MPARTICLE");
        assert_eq!(map["grid"], json!(["[1,2]", "[3]"]));
        assert!(depth(&bounded) <= MAX_DEPTH, "{}", depth(&bounded));
    }
}
