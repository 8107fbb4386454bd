//! Building blocks of the valid-payload strategies.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// An identifier-like key.
pub fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,11}"
}

/// A display name: no leading period, none of seed 000's restricted
/// characters, some non-ASCII.
pub fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9é中][A-Za-z0-9 ._,!&()+'@#%/é中😀-]{0,30}"
}

/// A user id as partners send them (emails, numbers, odd punctuation).
pub fn uid() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._+-]{1,12}@example\\.com",
        "[A-Za-z0-9][A-Za-z0-9._@+/%# é-]{0,20}[A-Za-z0-9]",
        any::<u32>().prop_map(|n| n.to_string()),
    ]
}

/// Uids that requests share, so users repeat within and across requests.
pub const UIDS: &[&str] = &[
    "user_one@example.com",
    "42",
    "Zoë Ünïcode",
    "a/b%2F c",
    "-8433569171194955432",
    "中文😀",
];

/// Mostly one of [`UIDS`] (so they repeat), sometimes a fresh one.
pub fn pooled_uid() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(UIDS).prop_map(str::to_owned), 1 => uid()]
}

/// An id sent as an integer or as a string.
pub fn id_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[A-Za-z0-9-]{1,36}".prop_map(Value::from),
    ]
}

/// Epoch milliseconds (2017..2030), as a number or a string of digits.
pub fn millis() -> impl Strategy<Value = Value> {
    let ms = 1_500_000_000_000i64..1_900_000_000_000;
    prop_oneof![
        ms.clone().prop_map(Value::from),
        ms.prop_map(|ms| Value::from(ms.to_string())),
    ]
}

pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        name().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

/// An attribute value: a scalar or a list of strings.
pub fn attribute() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => vec(name(), 0..3).prop_map(|l| json!(l)),
    ]
}

pub fn attributes() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(word(), attribute(), 0..4).prop_map(|m| m.into_iter().collect())
}

/// String-valued attributes (Firehose `user_attributes`).
pub fn string_attributes() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(word(), name().prop_map(Value::from), 0..4).prop_map(|m| m.into_iter().collect())
}

/// An amount, as a number or a numeric string.
pub fn amount() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0f64..10_000.0).prop_map(|a| json!((a * 100.0).round() / 100.0)),
        (0u32..10_000).prop_map(|a| json!(a.to_string())),
    ]
}

/// An object of the given members, the `None` ones left out.
pub fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect(),
    )
}

/// An optional member.
pub fn maybe<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Option<Value>> {
    option::of(s)
}
