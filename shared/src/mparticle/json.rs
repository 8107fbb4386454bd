//! Reading mParticle JSON with errors that name the JSON path of the problem.
//!
//! Both formats are read from a parsed `serde_json::Value` through [`Node`],
//! which carries its path as a chain of borrowed segments: the path string is
//! only built when something is wrong, so valid input pays nothing for it.
//!
//! mParticle is lenient about scalar types (its schema's "String" admits
//! numbers and booleans; ids are 64-bit integers, sometimes negative, or
//! strings), so the readers accept what mParticle documents and reject the
//! rest with a message saying what was expected.

use serde_json::{Map, Number, Value};

use crate::error::RequestError;

/// Where a value sits in the request body, e.g. `[2].events[0].data.event_name`.
#[derive(Clone, Copy, Debug)]
pub enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                parent.fmt(f)?;
                if !matches!(parent, Path::Root) {
                    f.write_str(".")?;
                }
                // A key is input too: a huge one is cut, never echoed whole.
                match key.char_indices().nth(64) {
                    Some((cut, _)) => write!(f, "{}…", &key[..cut]),
                    None => f.write_str(key),
                }
            }
            Path::Index(parent, i) => {
                parent.fmt(f)?;
                write!(f, "[{i}]")
            }
        }
    }
}

/// Bad input: the path of the offending value and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Invalid {
    pub path: String,
    pub problem: String,
}

impl Invalid {
    pub fn message(&self) -> String {
        if self.path.is_empty() {
            format!("invalid request body: {}", self.problem)
        } else {
            format!("invalid request body at {}: {}", self.path, self.problem)
        }
    }
}

impl From<Invalid> for RequestError {
    fn from(e: Invalid) -> Self {
        RequestError::BadRequest(e.message())
    }
}

// The lenient scalar readers, shared with typed.rs (which reads values
// without a path).

/// Text: a string, or a number or boolean rendered as text.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An id: an integer (64-bit, possibly negative) or a string.
pub fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Epoch milliseconds: an integer, or a string holding one.
pub fn millis_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// An amount: a number, or a string holding one.
pub fn amount_of(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => s.trim().parse::<f64>().ok().and_then(Number::from_f64),
        _ => None,
    }
}

/// A value in the request body together with its path.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    pub value: &'a Value,
    pub path: Path<'a>,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: Path::Root,
        }
    }

    pub fn invalid(&self, problem: impl std::fmt::Display) -> Invalid {
        Invalid {
            path: self.path.to_string(),
            problem: problem.to_string(),
        }
    }

    fn expected(&self, what: &str) -> Invalid {
        self.invalid(format!("expected {what}, found {}", kind(self.value)))
    }

    /// The member `key`; `None` when it is absent or null (mParticle sends
    /// nulls for unset optional fields).
    pub fn get<'b>(&'b self, key: &'b str) -> Option<Node<'b>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Node {
                value,
                path: Path::Key(&self.path, key),
            }),
        }
    }

    pub fn object(&self) -> Result<&'a Map<String, Value>, Invalid> {
        self.value
            .as_object()
            .ok_or_else(|| self.expected("an object"))
    }

    /// The elements of an array, each with its path.
    pub fn items<'b>(&'b self) -> Result<impl Iterator<Item = Node<'b>> + 'b, Invalid> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.expected("an array"))?;
        Ok(items.iter().enumerate().map(move |(i, value)| Node {
            value,
            path: Path::Index(&self.path, i),
        }))
    }

    /// Text: a string, or a number or boolean rendered as text.
    pub fn text(&self) -> Result<String, Invalid> {
        text_of(self.value).ok_or_else(|| self.expected("a string"))
    }

    /// An id: an integer (64-bit, possibly negative) or a string.
    pub fn id(&self) -> Result<String, Invalid> {
        id_of(self.value).ok_or_else(|| self.expected("an integer or a string id"))
    }

    /// Epoch milliseconds: an integer, or a string holding one.
    pub fn millis(&self) -> Result<i64, Invalid> {
        millis_of(self.value).ok_or_else(|| self.expected("epoch milliseconds (an integer)"))
    }

    /// An amount: a number, or a string holding one.
    pub fn amount(&self) -> Result<Number, Invalid> {
        amount_of(self.value).ok_or_else(|| self.expected("a number"))
    }

    pub fn string(&self) -> Result<&'a str, Invalid> {
        self.value.as_str().ok_or_else(|| self.expected("a string"))
    }

    pub fn boolean(&self) -> Result<bool, Invalid> {
        self.value
            .as_bool()
            .ok_or_else(|| self.expected("a boolean"))
    }

    // Optional members, read with one of the readers above.

    pub fn opt_text(&self, key: &str) -> Result<Option<String>, Invalid> {
        self.get(key).map(|n| n.text()).transpose()
    }

    pub fn opt_id(&self, key: &str) -> Result<Option<String>, Invalid> {
        self.get(key).map(|n| n.id()).transpose()
    }

    pub fn opt_millis(&self, key: &str) -> Result<Option<i64>, Invalid> {
        self.get(key).map(|n| n.millis()).transpose()
    }

    pub fn opt_amount(&self, key: &str) -> Result<Option<Number>, Invalid> {
        self.get(key).map(|n| n.amount()).transpose()
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, Invalid> {
        self.get(key).map(|n| n.boolean()).transpose()
    }

    /// A member that must be present and non-empty text.
    pub fn required_text(&self, key: &str) -> Result<String, Invalid> {
        let text = match self.get(key) {
            Some(node) => node.text()?,
            None => return Err(self.invalid(format!("missing field {key:?}"))),
        };
        if text.is_empty() {
            return Err(Path::Key(&self.path, key).invalid_here("must not be empty"));
        }
        Ok(text)
    }

    /// An optional object member (attribute maps), copied.
    pub fn opt_map(&self, key: &str) -> Result<Map<String, Value>, Invalid> {
        match self.get(key) {
            Some(node) => node.object().cloned(),
            None => Ok(Map::new()),
        }
    }
}

impl Path<'_> {
    fn invalid_here(&self, problem: &str) -> Invalid {
        Invalid {
            path: self.to_string(),
            problem: problem.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_serde_path_to_error() {
        let body = json!([{"events": [{"data": {"price": "abc"}}]}]);
        let root = Node::root(&body);
        let batch = root.items().unwrap().next().unwrap();
        let events = batch.get("events").unwrap();
        let event = events.items().unwrap().next().unwrap();
        let data = event.get("data").unwrap();
        let e = data.opt_amount("price").unwrap_err();
        assert_eq!(e.path, "[0].events[0].data.price");
        assert_eq!(
            e.message(),
            "invalid request body at [0].events[0].data.price: expected a number, found a string"
        );
    }

    #[test]
    fn scalars_are_read_leniently() {
        let v = json!({
            "big": -8_433_569_171_194_955_432_i64, "s": "42", "f": 1.5, "b": true,
            "ms": "1795341600000", "null": null, "empty": ""
        });
        let n = Node::root(&v);
        assert_eq!(n.opt_id("big").unwrap().unwrap(), "-8433569171194955432");
        assert_eq!(n.opt_id("s").unwrap().unwrap(), "42");
        assert!(n.opt_id("f").is_err(), "fractional ids are rejected");
        assert_eq!(n.opt_text("b").unwrap().unwrap(), "true");
        assert_eq!(n.opt_millis("ms").unwrap(), Some(1_795_341_600_000));
        assert_eq!(n.opt_amount("s").unwrap().unwrap().as_f64(), Some(42.0));
        assert_eq!(n.opt_text("null").unwrap(), None, "null reads as absent");
        assert_eq!(n.opt_text("missing").unwrap(), None);
        let e = n.required_text("empty").unwrap_err();
        assert_eq!(e.path, "empty");
        let e = n.required_text("missing").unwrap_err();
        assert_eq!(
            e.message(),
            "invalid request body: missing field \"missing\""
        );
    }
}
