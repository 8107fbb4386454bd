//! HTTP Basic authentication: username = workspace id, password = workspace
//! secret (interface §2). Secrets are compared as SHA-256 digests in constant
//! time; a failure never says which part was wrong.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use super::{ApiError, ApiRequest};
use crate::config::WorkspaceConfig;
use crate::config::secret::sha256_hex;
use crate::runtime::Services;

/// Credentials from an `Authorization: Basic …` header.
pub fn basic_credentials(request: &ApiRequest) -> Option<(String, String)> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The workspace whose id and secret the request carries.
pub async fn authenticate(
    services: &Services,
    request: &ApiRequest,
) -> Result<Arc<WorkspaceConfig>, ApiError> {
    let (id, secret) = basic_credentials(request).ok_or(ApiError::Unauthorized)?;
    verify(services, &id, &secret).await
}

/// Checks a workspace id and secret (also used for Firehose account settings).
pub async fn verify(
    services: &Services,
    id: &str,
    secret: &str,
) -> Result<Arc<WorkspaceConfig>, ApiError> {
    let presented = sha256_hex(secret.as_bytes());
    let workspace = services.workspace(id).await?;
    // Compare against a dummy digest for unknown ids so timing does not tell
    // whether the id exists.
    let expected = workspace
        .as_ref()
        .and_then(|w| w.secret_sha256.clone())
        .unwrap_or_else(|| "0".repeat(64));
    let equal: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
    match workspace {
        Some(workspace) if equal => Ok(workspace),
        _ => Err(ApiError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: &str) -> ApiRequest {
        http::Request::builder()
            .header(AUTHORIZATION, auth)
            .body(Vec::new())
            .unwrap()
    }

    #[test]
    fn parses_basic_credentials() {
        // demo:change-me
        let r = request("Basic ZGVtbzpjaGFuZ2UtbWU=");
        assert_eq!(
            basic_credentials(&r),
            Some(("demo".into(), "change-me".into()))
        );
        // A colon inside the secret stays in the secret.
        let r = request(&format!("basic {}", STANDARD.encode("w:a:b")));
        assert_eq!(basic_credentials(&r), Some(("w".into(), "a:b".into())));
        assert_eq!(basic_credentials(&request("Bearer abc")), None);
        assert_eq!(basic_credentials(&request("Basic !!!")), None);
    }
}
