//! Workspace credentials (docs/interface/auth.md): HTTP Basic (workspace id
//! and secret), the API key `<workspace id>.<secret>` as a Basic username
//! with an empty password (Amplitude's partner API), or the API key as a
//! Bearer token. The auth layer checks them before any route runs, so an
//! unknown `/v1` route with bad credentials is a 401 like any other.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::config::WorkspaceConfig;
use crate::error::RequestError;
use crate::runtime::Services;

/// The workspace id and secret a request carries, in any accepted form.
pub fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return api_key(token);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(token).ok()?).ok()?;
    match decoded.split_once(':') {
        Some((key, "")) => api_key(key),
        Some((id, secret)) => Some((id.to_owned(), secret.to_owned())),
        None => api_key(&decoded),
    }
}

/// `<workspace id>.<secret>`: workspace ids never contain `.`, so the key
/// splits at its first `.`.
fn api_key(key: &str) -> Option<(String, String)> {
    let (id, secret) = key.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then(|| (id.to_owned(), secret.to_owned()))
}

/// The authenticated workspace of a request (set by [`require_workspace`]).
#[derive(Clone, Debug)]
pub struct Workspace(pub Arc<WorkspaceConfig>);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = RequestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Workspace>()
            .cloned()
            .ok_or(RequestError::Unauthorized)
    }
}

/// The auth layer: a request without valid workspace credentials is
/// answered 401 before it is routed and before its body is read.
pub async fn require_workspace(
    State(services): State<Services>,
    mut request: Request,
    next: Next,
) -> Result<Response, RequestError> {
    let (id, secret) = credentials(request.headers()).ok_or(RequestError::Unauthorized)?;
    let workspace = services.workspaces.authenticate(&id, &secret).await?;
    tracing::Span::current().record("workspace_id", workspace.id.as_str());
    request.extensions_mut().insert(Workspace(workspace));
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, auth.parse().unwrap());
        h
    }

    fn basic(user_pass: &str) -> HeaderMap {
        headers(&format!("Basic {}", STANDARD.encode(user_pass)))
    }

    fn pair(id: &str, secret: &str) -> Option<(String, String)> {
        Some((id.into(), secret.into()))
    }

    #[test]
    fn every_form_of_the_interface() {
        assert_eq!(
            credentials(&basic("demo:change-me")),
            pair("demo", "change-me")
        );
        // A colon inside the secret stays in the secret.
        assert_eq!(credentials(&basic("w:a:b")), pair("w", "a:b"));
        // The API key as Basic username with an empty password (curl -u key:).
        assert_eq!(
            credentials(&basic("demo.s3cr.et:")),
            pair("demo", "s3cr.et")
        );
        assert_eq!(credentials(&basic("demo.s3cret")), pair("demo", "s3cret"));
        assert_eq!(
            credentials(&headers("Bearer demo.s3cret")),
            pair("demo", "s3cret")
        );
        assert_eq!(
            credentials(&headers("bearer  demo.s3cret ")),
            pair("demo", "s3cret")
        );
    }

    #[test]
    fn malformed_credentials_are_none() {
        for bad in [
            "Bearer abc",
            "Bearer .secret",
            "Bearer demo.",
            "Basic !!!",
            "Digest x",
            "Basic",
        ] {
            assert_eq!(credentials(&headers(bad)), None, "{bad}");
        }
        assert_eq!(credentials(&basic("demo:")), None);
        assert_eq!(credentials(&HeaderMap::new()), None);
    }
}
