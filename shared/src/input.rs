//! Reading request bodies, whatever carried them (HTTP or a direct Lambda
//! invocation): JSON whose errors name the JSON path of the problem
//! (docs/interface/http.md "Errors").

use serde::de::DeserializeOwned;

use crate::error::RequestError;

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
