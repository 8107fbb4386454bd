//! Reading request bodies, whatever carried them (HTTP or a direct Lambda
//! invocation): JSON whose errors name the JSON path of the problem, and the
//! length limits every name and id is checked against at the door, before
//! anything is written (docs/interface/http.md "Limits").

use serde::de::DeserializeOwned;

use crate::error::RequestError;

/// Length limits of names and ids, in one table.
pub mod limits {
    /// Cohort, list, audience and event names, in characters.
    pub const NAME_CHARS: usize = 1024;
    /// Ids that become part of a storage key: cohort, audience and list ids,
    /// Amplitude `message_id`s, Customer.io `event_id`s.
    pub const KEY_BYTES: usize = 256;
    /// User ids, anonymous and device ids, identities.
    pub const USER_ID_BYTES: usize = 1024;
    /// Attribute names (user, event and device attributes).
    pub const ATTRIBUTE_NAME_BYTES: usize = 256;
    /// One user attribute's value: text is cut to it, other values that
    /// large are not kept (counted either way).
    pub const ATTRIBUTE_VALUE_BYTES: usize = 8 * 1024;
    /// All of a profile's attributes (names and JSON values): attributes
    /// that would take a profile beyond it are not kept (counted). Keeps a
    /// profile, and every event filled in from it, far below one queue
    /// message and one DynamoDB item.
    pub const PROFILE_ATTRIBUTE_BYTES: usize = 64 * 1024;
}

/// A name or id beyond its limit; the message names the field, not the
/// value (a huge input never makes a huge answer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {len} {unit} long; at most {max} are accepted")]
pub struct TooLong {
    pub field: String,
    pub len: usize,
    pub max: usize,
    /// `bytes` or `characters`.
    pub unit: &'static str,
}

/// Checks a name or id against its limit in bytes.
pub fn check_len(field: &str, value: &str, max_bytes: usize) -> Result<(), TooLong> {
    if value.len() > max_bytes {
        return Err(TooLong {
            field: field.to_owned(),
            len: value.len(),
            max: max_bytes,
            unit: "bytes",
        });
    }
    Ok(())
}

/// [`check_len`] counting characters (names are cut by characters elsewhere).
pub fn check_chars(field: &str, value: &str, max_chars: usize) -> Result<(), TooLong> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(TooLong {
            field: field.to_owned(),
            len: chars,
            max: max_chars,
            unit: "characters",
        });
    }
    Ok(())
}

/// A value quoted in an error message, cut to 64 characters.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    if value.chars().count() <= SHOWN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head:?}… ({} bytes)", value.len())
    }
}

/// Parses a JSON body; errors name the JSON path of the problem.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    if body.is_empty() {
        return Err(RequestError::bad_request(
            "request body is empty; expected JSON",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            RequestError::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            RequestError::bad_request(format!("invalid request body: {inner}"))
        } else {
            RequestError::bad_request(format!("invalid request body at {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| RequestError::bad_request(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_never_echo_the_value() {
        let huge = "x".repeat(1 << 20);
        let e = check_len("cohort_id", &huge, limits::KEY_BYTES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cohort_id is 1048576 bytes long; at most 256 are accepted"
        );
        assert!(check_chars("name", "héllo", 5).is_ok());
        assert!(check_chars("name", "héllo!", 5).is_err());
        assert_eq!(quoted("short"), "\"short\"");
        assert!(quoted(&huge).len() < 100);
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            users: Vec<User>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct User {
            user_id: String,
        }
        let e = parse_json::<Body>(br#"{"users":[{"user_id":"a"},{"user_id":7}]}"#).unwrap_err();
        assert!(e.to_string().contains("users[1].user_id"), "{e}");
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let e = parse_json::<Body>(b"").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
