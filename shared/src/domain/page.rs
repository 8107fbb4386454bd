//! Cursor paging for list routes: `limit` defaults to 100, honoured up to 1000;
//! cursors are opaque, URL-safe strings (docs/interface/http.md "Paging").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The decoded position after which to continue (adapter-defined).
    pub after: Option<String>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The decoded position of the last item when more may follow.
    pub next_after: Option<String>,
}

pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_url_safe() {
        let position = "amplitude-7khm89cz/é?&=";
        let cursor = encode_cursor(position);
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(decode_cursor(&cursor).as_deref(), Some(position));
        assert_eq!(decode_cursor("not base64!"), None);
    }
}
