//! What an attempt sent and got back, captured as it happens (cheap: the
//! body is shared, not copied; nothing is encoded) for the delivery log. Header values
//! are kept only for headers that never carry a secret; every other value
//! is masked (docs/interface/console.md "Delivery log").

use super::model::{EventSummary, RESPONSE_BODY_LIMIT, ReceivedResponse, SentRequest};

/// What a secret looks like on a page or in the log.
pub const MASK: &str = "••••";

/// Request and response headers shown as they are; any other value is a
/// possible secret (a configured header, `Authorization`).
const SHOWN: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "user-agent",
    "accept",
    "date",
    "retry-after",
    "server",
    "x-request-id",
];

fn shown(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("webhook-") || SHOWN.contains(&name.as_str())
}

fn headers(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            let value = if shown(name.as_str()) {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            } else {
                MASK.to_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The URL without credentials: user info and query string masked.
pub fn masked_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username(MASK);
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some(MASK));
    }
    if shown.query().is_some() {
        shown.set_query(Some(MASK));
    }
    shown.to_string()
}

/// One HTTP request of a delivery and what came of it.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub request_id: String,
    pub at_ms: i64,
    pub events: EventSummary,
    pub accepted: bool,
    pub status: Option<u16>,
    /// Why it was not accepted.
    pub error: Option<String>,
    /// The destination was refused (a private or metadata address).
    pub refused: bool,
    /// From sending the request to reading the whole answer.
    pub took: std::time::Duration,
    pub request: Option<SentRequest>,
    /// The body as sent, shared with the request (masked and cut when
    /// recorded, `pending.rs`).
    pub body: Option<bytes::Bytes>,
    pub response: Option<ReceivedResponse>,
}

impl Trace {
    /// What the delivery log keeps of this trace. The body and the event
    /// summary, its largest parts, are moved out; the rest is copied, for
    /// the delivery-duration metric that reads it after (copying a 100-event
    /// body was 2.5 % of the consumers' samples, BENCHMARKS.md "Issue 22,
    /// twenty-first session").
    pub fn take_for_log(&mut self) -> Trace {
        Trace {
            request_id: self.request_id.clone(),
            at_ms: self.at_ms,
            events: std::mem::take(&mut self.events),
            accepted: self.accepted,
            status: self.status,
            error: self.error.clone(),
            refused: self.refused,
            took: self.took,
            request: self.request.clone(),
            body: self.body.take(),
            response: self.response.clone(),
        }
    }
}

/// The request as it is about to be sent.
pub fn request(request: &reqwest::Request) -> SentRequest {
    SentRequest {
        method: request.method().to_string(),
        url: masked_url(request.url()),
        headers: headers(request.headers()),
        body_bytes: request
            .body()
            .and_then(|b| b.as_bytes())
            .map_or(0, <[u8]>::len),
    }
}

/// A body as text, borrowed. Ours are JSON, so UTF-8: checked a word at a
/// time. `from_utf8_lossy` alone walked them a byte at a time: 9 % of the
/// consumers' instructions (BENCHMARKS.md "Issue 22, ninth session").
pub fn text_of(body: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(body) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// The answer: status, headers and the first [`RESPONSE_BODY_LIMIT`] bytes.
pub fn response(status: u16, response_headers: &http::HeaderMap, body: &str) -> ReceivedResponse {
    let cut = floor_char_boundary(body, RESPONSE_BODY_LIMIT);
    ReceivedResponse {
        status,
        headers: headers(response_headers),
        body: body[..cut].to_owned(),
        truncated: cut < body.len(),
    }
}

/// The largest char boundary ≤ `at`.
pub fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_harmless_headers_keep_their_values() {
        let mut map = http::HeaderMap::new();
        map.insert("authorization", "Basic dTpw".parse().unwrap());
        map.insert("x-env", "prod".parse().unwrap());
        map.insert("webhook-id", "abc".parse().unwrap());
        map.insert("content-type", "application/json".parse().unwrap());
        let shown: std::collections::HashMap<_, _> = headers(&map).into_iter().collect();
        assert_eq!(shown["authorization"], MASK);
        assert_eq!(shown["x-env"], MASK);
        assert_eq!(shown["webhook-id"], "abc");
        assert_eq!(shown["content-type"], "application/json");
    }

    #[test]
    fn urls_lose_their_credentials_and_query() {
        let url = url::Url::parse("https://u:p@example.com/hook?token=s3cret").unwrap();
        let shown = masked_url(&url);
        assert!(
            !shown.contains("s3cret") && !shown.contains(":p@"),
            "{shown}"
        );
        assert!(shown.starts_with("https://"));
    }

    #[test]
    fn request_bodies_are_read_as_text() {
        assert!(matches!(
            text_of("{\"é\":1}".as_bytes()),
            std::borrow::Cow::Borrowed("{\"é\":1}")
        ));
        assert_eq!(text_of(b"{\"a\":\"\xff\"}"), "{\"a\":\"\u{fffd}\"}");
    }

    #[test]
    fn answers_keep_their_first_4_kib() {
        let body = "x".repeat(5000);
        let kept = response(500, &http::HeaderMap::new(), &body);
        assert_eq!(kept.body.len(), 4096);
        assert!(kept.truncated);
    }
}
