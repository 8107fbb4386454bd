//! Request bodies of the cohort routes and their validation: the Cohort
//! Webhooks payload (docs/interface/http.md) and the list API's
//! `{"name"}` / `{"userIds"}`. Everything is checked before anything is
//! stored, so a bad request is a 400 and never half-applied.

use std::collections::HashSet;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::names;
use crate::domain::{MembershipAction, StagedUser};
use crate::error::RequestError;
use crate::input::{limits, quoted};

/// Amplitude sends at most 10 000 users per request (docs/interface/http.md "Limits").
pub const MAX_USERS: usize = 10_000;
/// Longest accepted user id / anonymous id: keeps one staged user far below
/// a queue message.
pub const MAX_ID_BYTES: usize = limits::USER_ID_BYTES;
/// Longest accepted `message_id` (it becomes part of a storage key).
pub const MAX_MESSAGE_ID_BYTES: usize = limits::KEY_BYTES;
/// Longest accepted cohort id (it becomes the segment id).
pub const MAX_COHORT_ID_BYTES: usize = limits::KEY_BYTES;

/// `POST /v1/amplitude/cohorts`: Amplitude's Cohort Webhooks default body.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CohortWebhook {
    pub cohort_name: String,
    /// A string in Amplitude's payload; numeric ids are accepted too (docs/interface/http.md).
    #[serde(deserialize_with = "string_or_integer")]
    #[schemars(with = "String")]
    pub cohort_id: String,
    pub in_cohort: bool,
    /// Epoch seconds, a string in Amplitude's payload; an integer is accepted.
    #[serde(deserialize_with = "epoch_seconds")]
    #[schemars(with = "String")]
    pub computed_time: i64,
    pub message_id: String,
    pub users: Vec<WebhookUser>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WebhookUser {
    /// Absent or null for users Amplitude knows only by device.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_properties: Option<Map<String, Value>>,
    #[serde(default)]
    pub device_id: Option<String>,
}

/// `POST /v1/amplitude/lists`. Amplitude also sends a `context` object,
/// which carries nothing we need.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListCreate {
    pub name: String,
}

/// `POST /v1/amplitude/lists/{id}/add` and `/remove`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListMembers {
    #[serde(rename = "userIds")]
    pub user_ids: Vec<String>,
}

/// A request's users, validated and de-duplicated.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Users {
    pub users: Vec<StagedUser>,
    /// Users with neither a user id nor an anonymous id: nothing to match.
    pub without_id: usize,
}

/// A validated cohort webhook.
#[derive(Debug)]
pub struct CohortSync {
    pub cohort_name: String,
    pub cohort_id: String,
    pub action: MembershipAction,
    pub computed_time: i64,
    pub message_id: String,
    pub users: Users,
}

impl CohortWebhook {
    /// Checks the cohort name (docs/rules/cohort-names.md), ids and users;
    /// the anonymous id is read from `user_properties[anonymous_id_attribute]`,
    /// else `device_id`.
    pub fn validate(self, anonymous_id_attribute: &str) -> Result<CohortSync, RequestError> {
        names::check_cohort_name(&self.cohort_name)
            .map_err(|e| RequestError::bad_request(e.to_string()))?;
        check_cohort_id(&self.cohort_id)?;
        if self.message_id.trim().is_empty() {
            return Err(RequestError::bad_request("message_id must not be empty"));
        }
        if self.message_id.len() > MAX_MESSAGE_ID_BYTES {
            return Err(RequestError::bad_request(format!(
                "message_id is longer than {MAX_MESSAGE_ID_BYTES} bytes"
            )));
        }
        check_user_count(self.users.len(), "users")?;
        let identities = self.users.into_iter().enumerate().map(|(i, user)| {
            let anonymous = user
                .user_properties
                .as_ref()
                .and_then(|props| props.get(anonymous_id_attribute))
                .and_then(id_text)
                .map(|id| {
                    (
                        format!("users[{i}].user_properties.{anonymous_id_attribute}"),
                        id,
                    )
                })
                .or_else(|| {
                    user.device_id
                        .map(|id| (format!("users[{i}].device_id"), id))
                });
            let user_id = user.user_id.map(|id| (format!("users[{i}].user_id"), id));
            (user_id, anonymous)
        });
        Ok(CohortSync {
            action: if self.in_cohort {
                MembershipAction::Added
            } else {
                MembershipAction::Removed
            },
            users: collect_users(identities)?,
            cohort_name: self.cohort_name,
            cohort_id: self.cohort_id,
            computed_time: self.computed_time,
            message_id: self.message_id,
        })
    }
}

impl ListMembers {
    pub fn validate(self) -> Result<Users, RequestError> {
        check_user_count(self.user_ids.len(), "userIds")?;
        collect_users(
            self.user_ids
                .into_iter()
                .enumerate()
                .map(|(i, id)| (Some((format!("userIds[{i}]"), id)), None)),
        )
    }
}

/// The segment id is `amplitude-<cohort id>` and appears in URL paths, so
/// the id must be addressable there.
pub fn check_cohort_id(id: &str) -> Result<(), RequestError> {
    if id.trim().is_empty() {
        return Err(RequestError::bad_request("cohort_id must not be empty"));
    }
    if id.len() > MAX_COHORT_ID_BYTES {
        return Err(RequestError::bad_request(format!(
            "cohort_id is longer than {MAX_COHORT_ID_BYTES} bytes"
        )));
    }
    if id.chars().any(|c| c == '/' || c.is_control()) {
        return Err(RequestError::bad_request(format!(
            "cohort_id {} must not contain '/' or control characters",
            quoted(id)
        )));
    }
    Ok(())
}

fn check_user_count(count: usize, field: &str) -> Result<(), RequestError> {
    if count > MAX_USERS {
        return Err(RequestError::bad_request(format!(
            "{field} has {count} entries; at most {MAX_USERS} are accepted per request"
        )));
    }
    Ok(())
}

/// A user property used as an id: strings, and numbers as their text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

type Located = Option<(String, String)>;

/// Empty ids count as absent; over-long ids are a 400 naming their path;
/// repeated users are staged once.
fn collect_users(
    identities: impl Iterator<Item = (Located, Located)>,
) -> Result<Users, RequestError> {
    let mut out = Users::default();
    let mut seen = HashSet::new();
    for (user_id, anonymous_id) in identities {
        let user = StagedUser {
            user_id: checked_id(user_id)?,
            anonymous_id: checked_id(anonymous_id)?,
        };
        if user.user_id.is_none() && user.anonymous_id.is_none() {
            out.without_id += 1;
        } else if seen.insert(user.clone()) {
            out.users.push(user);
        }
    }
    Ok(out)
}

fn checked_id(located: Located) -> Result<Option<String>, RequestError> {
    match located {
        Some((path, id)) if id.len() > MAX_ID_BYTES => Err(RequestError::bad_request(format!(
            "{path} is longer than {MAX_ID_BYTES} bytes"
        ))),
        Some((_, id)) if !id.trim().is_empty() => Ok(Some(id)),
        _ => Ok(None),
    }
}

fn string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or an integer")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

fn epoch_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("epoch seconds as a string of digits or a non-negative integer")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            let digits = v.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(de::Unexpected::Str(v), &self));
            }
            digits
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            if v < 0 {
                return Err(E::invalid_value(de::Unexpected::Signed(v), &self));
            }
            Ok(v)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_json;
    use serde_json::json;

    fn webhook(body: Value) -> Result<CohortSync, RequestError> {
        parse_json::<CohortWebhook>(body.to_string().as_bytes())?.validate("moe_anonymous_id")
    }

    fn base() -> Value {
        json!({
            "cohort_name": "My Test Cohort", "cohort_id": "7khm89cz", "in_cohort": true,
            "computed_time": "1692206763", "message_id": "m-1",
            "users": [{"user_id": "user_one@example.com", "user_properties": {"name": "John"}}]
        })
    }

    #[test]
    fn amplitudes_default_body_is_accepted() {
        let sync = webhook(base()).unwrap();
        assert_eq!(sync.computed_time, 1_692_206_763);
        assert_eq!(sync.action, MembershipAction::Added);
        assert_eq!(
            sync.users.users,
            vec![StagedUser {
                user_id: Some("user_one@example.com".into()),
                anonymous_id: None
            }]
        );
    }

    #[test]
    fn computed_time_and_cohort_id_may_be_numbers() {
        let mut body = base();
        body["computed_time"] = json!(1_692_206_763);
        body["cohort_id"] = json!(1_638_361_188);
        body["in_cohort"] = json!(false);
        let sync = webhook(body).unwrap();
        assert_eq!(sync.computed_time, 1_692_206_763);
        assert_eq!(sync.cohort_id, "1638361188");
        assert_eq!(sync.action, MembershipAction::Removed);
    }

    #[test]
    fn bad_computed_times_are_refused_naming_the_field() {
        for bad in [
            json!("soon"),
            json!("-5"),
            json!(-5),
            json!(1.5),
            json!(null),
        ] {
            let mut body = base();
            body["computed_time"] = bad.clone();
            let e = webhook(body).unwrap_err().to_string();
            assert!(e.contains("computed_time"), "{bad}: {e}");
        }
    }

    #[test]
    fn anonymous_ids_come_from_the_attribute_then_device_id() {
        let mut body = base();
        body["users"] = json!([
            {"user_id": null, "user_properties": {"moe_anonymous_id": "anon-1"}, "device_id": "dev-1"},
            {"device_id": "dev-2"},
            {"user_id": "", "user_properties": {"moe_anonymous_id": 42}},
            {"user_id": "u4", "user_properties": {"moe_anonymous_id": ""}},
            {"user_properties": {"name": "nobody"}},
            {"device_id": "dev-2"}
        ]);
        let users = webhook(body).unwrap().users;
        let pairs: Vec<(Option<&str>, Option<&str>)> = users
            .users
            .iter()
            .map(|u| (u.user_id.as_deref(), u.anonymous_id.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (None, Some("anon-1")),
                (None, Some("dev-2")),
                (None, Some("42")),
                (Some("u4"), None),
            ]
        );
        assert_eq!(users.without_id, 1);
    }

    #[test]
    fn a_custom_attribute_replaces_moe_anonymous_id() {
        let mut body = base();
        body["users"] = json!([{"user_properties": {"moe_anonymous_id": "a", "ct_id": "b"}}]);
        let sync = parse_json::<CohortWebhook>(body.to_string().as_bytes())
            .unwrap()
            .validate("ct_id")
            .unwrap();
        assert_eq!(sync.users.users[0].anonymous_id.as_deref(), Some("b"));
    }

    #[test]
    fn limits_are_enforced_with_the_path() {
        let mut body = base();
        body["users"] = json!([{"user_id": "x".repeat(MAX_ID_BYTES + 1)}]);
        let e = webhook(body).unwrap_err().to_string();
        assert!(e.contains("users[0].user_id is longer than 1024"), "{e}");

        let mut body = base();
        body["users"] = Value::Array(vec![json!({"user_id": "u"}); MAX_USERS + 1]);
        let e = webhook(body).unwrap_err().to_string();
        assert!(e.contains("users has 10001 entries"), "{e}");

        for (field, value) in [
            ("cohort_id", json!("")),
            ("cohort_id", json!("a/b")),
            ("message_id", json!(" ")),
        ] {
            let mut body = base();
            body[field] = value;
            let e = webhook(body).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn list_members_are_user_ids() {
        let body = json!({"userIds": ["a", "b", "a", ""]});
        let users = parse_json::<ListMembers>(body.to_string().as_bytes())
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(users.users.len(), 2);
        assert_eq!(users.without_id, 1);
        let e = parse_json::<ListMembers>(br#"{"userIds":["a",7]}"#).unwrap_err();
        assert!(e.to_string().contains("userIds[1]"), "{e}");
    }
}
