//! Mutations of a valid document: a field dropped, a value of another
//! type, oversized or strange strings, edge numbers, duplicates, deep
//! nesting, and byte-level damage (truncation, overwritten bytes, garbage).
//!
//! A mutation picks its target by a number taken modulo the count of the
//! document's values (root first, breadth first), so it shrinks towards the
//! root and the simplest change. Mutations that cannot be expressed as a value (a raw
//! number token, a repeated key, 10 000 levels of nesting) are written as a
//! placeholder string and substituted in the serialized text, so the same
//! mutations serve JSON and TOML.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Which value a mutation targets (modulo the number of values).
pub type At = usize;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

#[derive(Clone, Copy, Debug)]
pub enum Placement {
    Replace,
    Prefix,
    Suffix,
    Middle,
}

#[derive(Clone, Debug)]
pub enum Mutation {
    /// Removes an object member or array element.
    Drop(At),
    /// A value of another type (scalars keep their text, containers wrap).
    Retype(At, Kind),
    /// A string of this many bytes.
    Oversize(At, usize),
    /// Unicode and control characters in (or instead of) a string.
    Weird(At, &'static str, Placement),
    /// `""`, `[]` or `{}`.
    Empty(At),
    /// A raw number token (negative, huge, fractional, out of range).
    Number(At, &'static str),
    /// An array element repeated, or an object member written twice.
    Duplicate(At),
    /// This many levels of nested arrays or objects.
    Nest(At, usize),
    /// The text cut at a byte.
    Truncate(At),
    /// Bytes overwritten from a position.
    Overwrite(At, Vec<u8>),
    /// Random bytes instead of the document.
    Garbage(Vec<u8>),
}

pub const WEIRD: &[&str] = &[
    "\u{0}",
    "\u{7}\u{1b}[31m",
    "\r\n\t",
    "\u{202e}gnp.exe",
    "😀👩‍👩‍👧🏳️‍🌈",
    "e\u{301}\u{301}\u{301}",
    "\u{feff}",
    "\u{fffd}\u{10ffff}",
    "%00%2F",
    "../../etc",
    "a/b",
    "\\",
    "\"",
    "|*?:<>=$",
    ".",
    " ",
    "ｆｕｌｌ　ｗｉｄｔｈ",
    "İıß",
    "中文字符",
];

pub const NUMBERS: &[&str] = &[
    "-1",
    "0",
    "-0",
    "0.5",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1e308",
    "-1e308",
    "1e400",
    "4102444800000",
    "-4102444800000",
];

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Null),
        Just(Kind::Bool),
        Just(Kind::Number),
        Just(Kind::String),
        Just(Kind::Array),
        Just(Kind::Object),
    ]
}

fn placement() -> impl Strategy<Value = Placement> {
    prop_oneof![
        Just(Placement::Replace),
        Just(Placement::Prefix),
        Just(Placement::Suffix),
        Just(Placement::Middle),
    ]
}

/// Sizes that break any sane limit, and a few small ones.
pub fn huge_size() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1_025usize..8_192, 3 => 65_537usize..2_100_000]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<At>;
    prop_oneof![
        3 => at().prop_map(Mutation::Drop),
        3 => (at(), kind()).prop_map(|(i, k)| Mutation::Retype(i, k)),
        1 => (at(), huge_size()).prop_map(|(i, n)| Mutation::Oversize(i, n)),
        2 => (at(), proptest::sample::select(WEIRD), placement())
            .prop_map(|(i, w, p)| Mutation::Weird(i, w, p)),
        1 => at().prop_map(Mutation::Empty),
        2 => (at(), proptest::sample::select(NUMBERS)).prop_map(|(i, n)| Mutation::Number(i, n)),
        1 => at().prop_map(Mutation::Duplicate),
        1 => (at(), 2usize..10_000).prop_map(|(i, n)| Mutation::Nest(i, n)),
        1 => at().prop_map(Mutation::Truncate),
        1 => (at(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Garbage),
    ]
}

/// The text syntax a document is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Toml,
}

impl Syntax {
    fn write(self, value: &Value) -> String {
        match self {
            Self::Json => value.to_string(),
            // TOML has no null: nulls are left out; a root that is not a
            // table cannot be written, so its text is used as a string.
            Self::Toml => toml::to_string(&without_nulls(value))
                .unwrap_or_else(|_| format!("value = {}", quote_toml(&value.to_string()))),
        }
    }

    fn quote(self, text: &str) -> String {
        match self {
            Self::Json => Value::String(text.to_owned()).to_string(),
            Self::Toml => quote_toml(text),
        }
    }
}

fn quote_toml(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other.clone(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Item(usize),
}

/// Every value's path, root first, in document order.
fn paths(value: &Value) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < out.len() {
        let path = out[i].clone();
        match at(value, &path) {
            Value::Object(map) => {
                for key in map.keys() {
                    out.push([path.clone(), vec![Step::Key(key.clone())]].concat());
                }
            }
            Value::Array(items) => {
                for n in 0..items.len() {
                    out.push([path.clone(), vec![Step::Item(n)]].concat());
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn at<'a>(value: &'a Value, path: &[Step]) -> &'a Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &v[k.as_str()],
        Step::Item(n) => &v[*n],
    })
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Item(n) => &mut v[*n],
    })
}

const RAW: &str = "\u{0}raw\u{0}";
const DUP: &str = "\u{0}dup\u{0}";

/// A string of about `n` bytes mixing one- to four-byte characters.
pub fn big_string(n: usize) -> String {
    const PATTERN: &str = "Lorem-ipsum_é中😀 ";
    let mut text = PATTERN.repeat(n / PATTERN.len() + 1);
    let mut end = n.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "x".to_owned(),
    }
}

fn retyped(value: &Value, kind: Kind) -> Value {
    match kind {
        Kind::Null => Value::Null,
        Kind::Bool => Value::Bool(true),
        Kind::Number => match value {
            Value::String(s) if s.parse::<f64>().is_err() => Value::from(7),
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::from(7)),
            _ => Value::from(7),
        },
        Kind::String => Value::String(text_of(value)),
        Kind::Array => Value::Array(vec![value.clone()]),
        Kind::Object => {
            let mut map = Map::new();
            map.insert("value".into(), value.clone());
            Value::Object(map)
        }
    }
}

fn weird(value: &Value, chars: &str, placement: Placement) -> Value {
    let text = text_of(value);
    Value::String(match placement {
        Placement::Replace => chars.to_owned(),
        Placement::Prefix => format!("{chars}{text}"),
        Placement::Suffix => format!("{text}{chars}"),
        Placement::Middle => {
            let mid = text.char_indices().nth(text.chars().count() / 2);
            let at = mid.map_or(text.len(), |(i, _)| i);
            format!("{}{chars}{}", &text[..at], &text[at..])
        }
    })
}

fn nested(depth: usize) -> String {
    if depth.is_multiple_of(2) {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    }
}

/// The mutated document as text.
pub fn apply(valid: &Value, mutation: &Mutation, syntax: Syntax) -> Vec<u8> {
    apply_to(valid, mutation, syntax, &|_| true)
}

/// Like [`apply`], but a value-level mutation only targets values for
/// which `focus` holds (any value when none does).
pub fn apply_to(
    valid: &Value,
    mutation: &Mutation,
    syntax: Syntax,
    focus: &dyn Fn(&Value) -> bool,
) -> Vec<u8> {
    let text = syntax.write(valid);
    let mut all = paths(valid);
    if all.iter().any(|p| focus(at(valid, p))) {
        all.retain(|p| focus(at(valid, p)));
    }
    let pick = |i: &At| all[i % all.len()].clone();
    let mut doc = valid.clone();
    let mut raw: Option<(String, String)> = None;
    match mutation {
        Mutation::Drop(i) => {
            let members: Vec<&Vec<Step>> = all.iter().filter(|p| !p.is_empty()).collect();
            if members.is_empty() {
                doc = Value::Null;
            } else {
                let path = members[i % members.len()];
                let (last, parent) = path.split_last().expect("non-root");
                match (at_mut(&mut doc, parent), last) {
                    (Value::Object(map), Step::Key(k)) => {
                        map.remove(k);
                    }
                    (Value::Array(items), Step::Item(n)) => {
                        items.remove(*n);
                    }
                    _ => unreachable!("paths follow the document"),
                }
            }
        }
        Mutation::Retype(i, kind) => {
            let target = at_mut(&mut doc, &pick(i));
            *target = retyped(target, *kind);
        }
        Mutation::Oversize(i, n) => *at_mut(&mut doc, &pick(i)) = Value::String(big_string(*n)),
        Mutation::Weird(i, chars, placement) => {
            let target = at_mut(&mut doc, &pick(i));
            *target = weird(target, chars, *placement);
        }
        Mutation::Empty(i) => {
            let target = at_mut(&mut doc, &pick(i));
            *target = match target {
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Object(_) => Value::Object(Map::new()),
                _ => Value::String(String::new()),
            };
        }
        Mutation::Number(i, token) => {
            *at_mut(&mut doc, &pick(i)) = Value::String(RAW.into());
            raw = Some((syntax.quote(RAW), (*token).to_owned()));
        }
        Mutation::Nest(i, depth) => {
            *at_mut(&mut doc, &pick(i)) = Value::String(RAW.into());
            raw = Some((syntax.quote(RAW), nested(*depth)));
        }
        Mutation::Duplicate(i) => {
            let path = pick(i);
            match path.split_last() {
                None => doc = Value::Array(vec![valid.clone(), valid.clone()]),
                Some((Step::Item(n), parent)) => {
                    if let Value::Array(items) = at_mut(&mut doc, parent) {
                        let copy = items[*n].clone();
                        items.insert(n + 1, copy);
                    }
                }
                Some((Step::Key(k), parent)) => {
                    if let Value::Object(map) = at_mut(&mut doc, parent) {
                        let copy = map[k].clone();
                        map.insert(DUP.into(), copy);
                    }
                    raw = Some((syntax.quote(DUP), syntax.quote(k)));
                }
            }
        }
        Mutation::Truncate(i) => {
            let mut bytes = text.into_bytes();
            bytes.truncate(i % bytes.len().max(1));
            return bytes;
        }
        Mutation::Overwrite(i, new) => {
            let mut bytes = text.into_bytes();
            let start = i % bytes.len().max(1);
            for (offset, byte) in new.iter().enumerate() {
                match bytes.get_mut(start + offset) {
                    Some(slot) => *slot = *byte,
                    None => bytes.push(*byte),
                }
            }
            return bytes;
        }
        Mutation::Garbage(bytes) => return bytes.clone(),
    }
    let mut text = syntax.write(&doc);
    if let Some((placeholder, replacement)) = raw {
        text = text.replacen(&placeholder, &replacement, 1);
    }
    text.into_bytes()
}

/// The mutated document as a value, for inputs that arrive parsed (direct
/// Lambda invocations); `None` when the mutation leaves no JSON value.
pub fn apply_value(valid: &Value, mutation: &Mutation) -> Option<Value> {
    serde_json::from_slice(&apply(valid, mutation, Syntax::Json)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &Value, mutation: Mutation) -> String {
        String::from_utf8_lossy(&apply(value, &mutation, Syntax::Json)).into_owned()
    }

    #[test]
    fn mutations_do_what_they_say() {
        let v = json!({"a": [1, 2], "b": "xy"});
        // Paths: root, a, b, a[0], a[1].
        let at = |n: usize| n;
        assert_eq!(text(&v, Mutation::Drop(0)), r#"{"b":"xy"}"#);
        assert_eq!(
            text(&v, Mutation::Retype(at(2), Kind::Number)),
            r#"{"a":[1,2],"b":7}"#
        );
        assert_eq!(
            text(&v, Mutation::Number(at(3), "1e400")),
            r#"{"a":[1e400,2],"b":"xy"}"#
        );
        assert_eq!(
            text(&v, Mutation::Duplicate(at(3))),
            r#"{"a":[1,1,2],"b":"xy"}"#
        );
        assert_eq!(
            text(&v, Mutation::Duplicate(at(2))),
            r#"{"b":"xy","a":[1,2],"b":"xy"}"#
        );
        assert_eq!(
            text(&v, Mutation::Weird(at(2), "/", Placement::Middle)),
            r#"{"a":[1,2],"b":"x/y"}"#
        );
        assert_eq!(
            text(&v, Mutation::Nest(at(2), 2)),
            r#"{"a":[1,2],"b":[[]]}"#
        );
        assert_eq!(big_string(10).len(), 10);
        assert!(apply_value(&v, &Mutation::Nest(at(1), 500)).is_none());
    }
}
