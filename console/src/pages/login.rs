//! Sign-in (workspace id + secret, or the operator token), Sign out, and
//! the operator's workspace picker. A failed sign-in says only `invalid
//! credentials`, and is limited per client address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::Console;
use crate::context::{SignedIn, refuse_csrf};
use crate::layout::{self, bare_page};
use crate::session::{self, LOGIN_COOKIE, Principal};

/// The client's address (the server puts it in the request's extensions),
/// for the limit on failed sign-ins.
pub struct Client(IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
                addr.ip()
            });
        Ok(Self(ip))
    }
}

fn form(console: &Console, token: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form.card method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(token);
            label for="workspace" { "Workspace" }
            input #workspace name="workspace" type="text" autocomplete="username" required;
            label for="secret" { "Secret" }
            input #secret name="secret" type="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        @if console.0.options.operator_token.is_some() {
            form.card method="post" action="/console/login/operator" {
                input type="hidden" name="csrf" value=(token);
                label for="operator_token" { "Operator token" }
                input #operator_token name="operator_token" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        }
        p.hint {
            "Sign in with a workspace's id and secret (the API credentials; either secret while two rotate)."
            @if console.0.options.operator_token.is_some() {
                " Operators sign in with the operator token and see every workspace."
            }
        }
    }
}

/// The sign-in page, with a fresh CSRF token (double submit: cookie + field).
fn login_page(console: &Console, status: StatusCode, error: Option<&str>) -> Response {
    let token = session::token();
    let mut response = bare_page(console, "Sign in", status, form(console, &token, error));
    let cookie = session::set_cookie(
        LOGIN_COOKIE,
        &token,
        Some(std::time::Duration::from_secs(3600)),
        console.0.options.secure_cookies,
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn page(State(console): State<Console>, signed: Result<SignedIn, Response>) -> Response {
    if signed.is_ok() {
        return Redirect::to("/console").into_response();
    }
    login_page(&console, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct TenantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    secret: String,
}

#[derive(Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    operator_token: String,
}

fn login_csrf_ok(headers: &HeaderMap, presented: &str) -> bool {
    session::cookie(headers, LOGIN_COOKIE).is_some_and(|c| session::same(&c, presented))
}

/// Starts a session and goes to the console.
fn signed_in(console: &Console, principal: Principal) -> Response {
    let id = console.0.sessions.start(principal.clone());
    let to = if principal.workspace().is_some() {
        "/console"
    } else {
        "/console/workspaces"
    };
    let mut response = Redirect::to(to).into_response();
    let cookie = session::set_cookie(
        session::COOKIE,
        &id,
        Some(console.0.sessions.lifetime()),
        console.0.options.secure_cookies,
    );
    let clear = session::set_cookie(LOGIN_COOKIE, "", None, console.0.options.secure_cookies);
    for value in [cookie, clear] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn refused(console: &Console, client: IpAddr) -> Response {
    console.0.sessions.failed(client);
    tracing::warn!(client = %client, "console: sign-in refused");
    login_page(
        console,
        StatusCode::UNAUTHORIZED,
        Some("invalid credentials"),
    )
}

fn limited(console: &Console, wait: u64) -> Response {
    let mut response = login_page(
        console,
        StatusCode::TOO_MANY_REQUESTS,
        Some(&format!("Too many failed sign-ins: try again in {wait} s.")),
    );
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn stale(console: &Console) -> Response {
    login_page(
        console,
        StatusCode::FORBIDDEN,
        Some("The sign-in form was stale (CSRF token mismatch): try again."),
    )
}

pub async fn tenant(
    State(console): State<Console>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<TenantForm>,
) -> Response {
    if let Some(wait) = console.0.sessions.blocked(client) {
        return limited(&console, wait);
    }
    if !login_csrf_ok(&headers, &form.csrf) {
        return stale(&console);
    }
    match console
        .services()
        .workspaces
        .authenticate(form.workspace.trim(), &form.secret)
        .await
    {
        Ok(workspace) => {
            tracing::info!(workspace_id = %workspace.id, "console: tenant signed in");
            signed_in(&console, Principal::Tenant(workspace.id.clone()))
        }
        Err(_) => refused(&console, client),
    }
}

pub async fn operator(
    State(console): State<Console>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<OperatorForm>,
) -> Response {
    if let Some(wait) = console.0.sessions.blocked(client) {
        return limited(&console, wait);
    }
    if !login_csrf_ok(&headers, &form.csrf) {
        return stale(&console);
    }
    let expected = console.0.options.operator_token.as_ref();
    // Compared as digests: constant time whatever the lengths.
    let matches = expected.is_some_and(|token| {
        let a = shared::config::secret::sha256_hex(token.expose().as_bytes());
        let b = shared::config::secret::sha256_hex(form.operator_token.as_bytes());
        bool::from(a.as_bytes().ct_eq(b.as_bytes()))
    });
    if !matches {
        return refused(&console, client);
    }
    tracing::info!("console: operator signed in");
    signed_in(&console, Principal::Operator { workspace: None })
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(signed: Result<SignedIn, Response>, Form(form): Form<CsrfForm>) -> Response {
    let Ok(signed) = signed else {
        return Redirect::to("/console/login").into_response();
    };
    if let Some(refused) = refuse_csrf(&signed.console, &signed.session, &form.csrf) {
        return refused;
    }
    signed.console.0.sessions.end(&signed.session_id);
    let mut response = Redirect::to("/console/login").into_response();
    let clear = layout::clear_session(signed.console.0.options.secure_cookies);
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The operator's workspace picker.
pub async fn picker(signed: Result<SignedIn, Response>) -> Response {
    let signed = match signed {
        Ok(signed) => signed,
        Err(redirect) => return redirect,
    };
    let console = &signed.console;
    if !signed.session.principal.is_operator() {
        return Redirect::to("/console").into_response();
    }
    let ids = match console.services().workspaces.list_workspace_ids().await {
        Ok(mut ids) => {
            ids.sort();
            ids
        }
        Err(e) => return layout::failure(console, &e.to_string()),
    };
    let current = signed.session.principal.workspace().map(str::to_owned);
    bare_page(
        console,
        "Choose a workspace",
        StatusCode::OK,
        html! {
            @if ids.is_empty() {
                p { "No workspace is configured yet." }
            } @else {
                form.card method="post" action="/console/workspaces" {
                    input type="hidden" name="csrf" value=(signed.session.csrf);
                    label for="workspace" { "Workspace" }
                    select #workspace name="workspace" {
                        @for id in &ids {
                            option value=(id) selected[current.as_deref() == Some(id.as_str())] { (id) }
                        }
                    }
                    button type="submit" { "Open" }
                }
            }
            form method="post" action="/console/logout" {
                input type="hidden" name="csrf" value=(signed.session.csrf);
                button.link type="submit" { "Sign out" }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace: String,
}

pub async fn choose(signed: Result<SignedIn, Response>, Form(form): Form<ChooseForm>) -> Response {
    let signed = match signed {
        Ok(signed) => signed,
        Err(redirect) => return redirect,
    };
    if let Some(refused) = refuse_csrf(&signed.console, &signed.session, &form.csrf) {
        return refused;
    }
    if !signed.session.principal.is_operator() {
        return layout::message_page(
            &signed.console,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Only the operator chooses among workspaces.",
        );
    }
    match signed
        .console
        .services()
        .workspaces
        .get(&form.workspace)
        .await
    {
        Ok(Some(_)) => {
            signed
                .console
                .0
                .sessions
                .choose(&signed.session_id, form.workspace);
            Redirect::to("/console").into_response()
        }
        Ok(None) => layout::message_page(
            &signed.console,
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such workspace.",
        ),
        Err(e) => layout::failure(&signed.console, &e.to_string()),
    }
}
