//! Attributes read from a partner's JSON straight into the text a map of
//! them would be written as: names sorted, a repeated name's last value,
//! each value as serde_json writes it. Most values are that text already
//! (plain strings, integers, `true`, `false`, `null`) and are copied; the
//! others are read and written again. Ingest built the map only to write
//! it into the queued event and free it: the ingest half of the attribute
//! maps' cost (BENCHMARKS.md "Issue 22, eighteenth session").

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Attributes;
use super::read::{Name, Readable};

/// A JSON object read as [`Attributes`] in their written form. Only for
/// serde_json's readers of text, which lend values as raw text.
pub struct Written(pub Attributes);

impl<'de> de::Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WrittenVisitor)
    }
}

/// A value as sent, when serde_json would write it so; else read.
enum Val<'de> {
    AsSent(&'de RawValue),
    Read(Value),
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::AsSent(raw) => raw.serialize(serializer),
            Self::Read(value) => value.serialize(serializer),
        }
    }
}

/// Whether serde_json writes the value `json` reads as with the same text.
fn written_as_sent(json: &str) -> bool {
    match json.as_bytes() {
        [b'"', ..] => !json.bytes().any(|b| b == b'\\' || b < 0x20),
        b"true" | b"false" | b"null" => true,
        // No sign but a minus, no zero ahead, within 64 bits: written back
        // digit for digit (`-0` is read as a float and written `-0.0`).
        [b'-', b'1'..=b'9', ..] => json.parse::<i64>().is_ok(),
        [b'0'] => true,
        [b'1'..=b'9', ..] => json.parse::<u64>().is_ok(),
        _ => false,
    }
}

struct Entries<'a, 'de>(&'a [(Name<'de>, Val<'de>)]);

impl Serialize for Entries<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (&*name.0, value)))
    }
}

struct WrittenVisitor;

impl<'de> Visitor<'de> for WrittenVisitor {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
        let mut entries: Vec<(Name<'de>, Val<'de>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(name) = map.next_key::<Name<'de>>()? {
            let raw: &'de RawValue = map.next_value()?;
            let value = if written_as_sent(raw.get()) {
                Val::AsSent(raw)
            } else {
                // Read inside the object, a value has one level less than
                // on its own: checked as an array's item, as deep as it is
                // in the map, so what the map refuses is refused here, a
                // repeated name's dropped value included.
                serde_json::from_str::<Readable>(&format!("[{}]", raw.get()))
                    .map_err(de::Error::custom)?;
                Val::Read(serde_json::from_str(raw.get()).map_err(de::Error::custom)?)
            };
            entries.push((name, value));
        }
        // A map keeps a repeated name's last value: sorted stably, the last
        // of each run of one name is kept.
        entries.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        let mut kept: Vec<(Name<'de>, Val<'de>)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.0.0 == entry.0.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        let text = serde_json::value::to_raw_value(&Entries(&kept)).map_err(de::Error::custom)?;
        let longest_name = kept.iter().map(|(name, _)| name.0.len()).max();
        Ok(Written(Attributes::written(text, longest_name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn written(json: &str) -> Result<Attributes, serde_json::Error> {
        serde_json::from_str::<Written>(json).map(|w| w.0)
    }

    #[test]
    fn attributes_are_written_as_their_map_would_be() {
        let deepest = format!(r#"{{"a":{}{}}}"#, "[".repeat(126), "]".repeat(126));
        for json in [
            &deepest,
            r#"{"product_id":"SKU-1","category":"Shoes","on_sale":"true","price":"49.99","position":3}"#,
            r#"{ "b" : 1.50, "a": [ 1 , {"z":1,"y":2} ], "a": -0, "c": "\u00e9\/", "d": 1e2 }"#,
            r#"{"big":18446744073709551616,"neg":-9223372036854775809,"n":null,"t":true,"e":""}"#,
            r#"{"\u0061":1,"a":2,"é":"ok"}"#,
            "{}",
        ] {
            let map: Map<String, Value> = serde_json::from_str(json).unwrap();
            let attributes = written(json).unwrap();
            assert_eq!(
                attributes.text().unwrap().get(),
                serde_json::to_string(&map).unwrap(),
                "{json}"
            );
            assert_eq!(*attributes, map);
        }
    }

    #[test]
    fn what_a_map_refuses_is_refused() {
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(127), "]".repeat(127));
        // Found by the property: a repeated name's dropped value too deep.
        let dropped = format!(r#"{{"a":{}{},"a":1}}"#, "[".repeat(127), "]".repeat(127));
        for json in [
            &dropped,
            r#"{"a":1e400}"#,
            r#"{"a":"\ud800"}"#,
            r#"[1]"#,
            r#""x""#,
            &deep,
        ] {
            assert!(serde_json::from_str::<Map<String, Value>>(json).is_err());
            assert!(written(json).is_err(), "{json}");
        }
    }
}
