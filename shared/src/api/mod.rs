//! The HTTP API (interface §3), identical on API Gateway and `serve`: both
//! convert their request into an `http::Request<Vec<u8>>` and call [`handle`].

pub mod auth;
mod error;
mod router;
mod segments;
mod users;

pub use auth::{authenticate, verify};
pub use error::ApiError;
pub use router::{RouteSet, handle};

use http::{StatusCode, header};
use serde::de::DeserializeOwned;

pub type ApiRequest = http::Request<Vec<u8>>;
pub type ApiResponse = http::Response<Vec<u8>>;

/// `serve` accepts bodies up to 6 MiB (interface §3).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> ApiResponse {
    let mut response = http::Response::new(serde_json::to_vec(body).unwrap_or_default());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 whose body is `fields` plus `"status":"success"`.
pub fn success(mut fields: serde_json::Value) -> ApiResponse {
    if let Some(map) = fields.as_object_mut() {
        map.insert("status".into(), "success".into());
    }
    json_response(StatusCode::OK, &fields)
}

/// Counts one request against a per-workspace fixed-window limit
/// (interface §3): over the limit is a 429 with `Retry-After`.
pub async fn enforce_rate_limit(
    services: &crate::runtime::Services,
    workspace: &str,
    scope: &str,
    window: std::time::Duration,
    window_name: &'static str,
    limit: u64,
) -> Result<(), ApiError> {
    match services
        .rate_limiter
        .hit(workspace, scope, window, limit)
        .await?
    {
        crate::ports::RateDecision::Allowed => Ok(()),
        crate::ports::RateDecision::Limited { retry_after_secs } => Err(ApiError::RateLimited {
            limit,
            window: window_name,
            retry_after_secs,
        }),
    }
}

/// Parses a JSON body; errors name the JSON path of the problem.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty; expected JSON",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid request body at {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A query-string parameter (first occurrence), percent-decoded.
pub fn query_param(request: &ApiRequest, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
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
