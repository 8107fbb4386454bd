//! The signed-in request: its session, the workspace it shows, and the
//! checks every page and action shares (sign-in, CSRF).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::request::Parts;
use shared::config::WorkspaceConfig;

use crate::Console;
use crate::frame;
use crate::session::{self, Principal, Session};

/// A signed-in request with a workspace to show.
pub struct Ctx {
    pub console: Console,
    pub session_id: String,
    pub session: Session,
    pub workspace: Arc<WorkspaceConfig>,
}

/// A signed-in request, workspace chosen or not (the operator's picker).
pub struct SignedIn {
    pub console: Console,
    pub session_id: String,
    pub session: Session,
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let id = session::cookie(&parts.headers, session::COOKIE).ok_or_else(to_login)?;
        let session = console.0.sessions.get(&id).ok_or_else(to_login)?;
        Ok(Self {
            console: console.clone(),
            session_id: id,
            session,
        })
    }
}

impl FromRequestParts<Console> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let signed = SignedIn::from_request_parts(parts, console).await?;
        let Some(id) = signed.session.principal.workspace() else {
            return Err(Redirect::to("/console/workspaces").into_response());
        };
        let workspace = match console.services().workspaces.get(id).await {
            Ok(Some(workspace)) => workspace,
            // Removed since sign-in: the session means nothing any more.
            Ok(None) => {
                console.0.sessions.end(&signed.session_id);
                return Err(to_login());
            }
            Err(e) => return Err(frame::failure(console, &e.to_string())),
        };
        console.learn_secrets(workspace.streams.iter().flat_map(|s| s.secret_values()));
        Ok(Self {
            console: signed.console,
            session_id: signed.session_id,
            session: signed.session,
            workspace,
        })
    }
}

impl Ctx {
    pub fn services(&self) -> &shared::runtime::Services {
        self.console.services()
    }

    pub fn ws(&self) -> &str {
        &self.workspace.id
    }

    pub fn is_operator(&self) -> bool {
        matches!(self.session.principal, Principal::Operator { .. })
    }

    /// The refusal of a POST whose CSRF token is not this session's.
    pub fn refuse_csrf(&self, presented: &str) -> Option<Response> {
        refuse_csrf(&self.console, &self.session, presented)
    }
}

pub fn refuse_csrf(console: &Console, session: &Session, presented: &str) -> Option<Response> {
    if session::same(&session.csrf, presented) {
        None
    } else {
        Some(frame::message_page(
            console,
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was stale or did not come from this console (CSRF token mismatch). Go back, reload the page and try again.",
        ))
    }
}

/// Any other console path: the sign-in page without a session, else 404.
pub async fn not_found(signed: Result<SignedIn, Response>) -> Response {
    match signed {
        Err(redirect) => redirect,
        Ok(signed) => frame::message_page(
            &signed.console,
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no console page at this address.",
        ),
    }
}
