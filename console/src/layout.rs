//! The page shell every console page shares: one `<h1>`, a `<nav>` with the
//! six links, the workspace and Sign out; strict security headers; every
//! page passes through the secret mask before it is sent.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use shared::domain::time::rfc3339_ms;

use crate::assets::HTMX;
use crate::context::Ctx;
use crate::{Console, session};

/// The six pages, in the order of the nav.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Deliveries,
    DeadLetters,
    Segments,
    Users,
    Live,
}

impl Nav {
    const ALL: [Nav; 6] = [
        Nav::Overview,
        Nav::Deliveries,
        Nav::DeadLetters,
        Nav::Segments,
        Nav::Users,
        Nav::Live,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Nav::Overview => "Overview",
            Nav::Deliveries => "Deliveries",
            Nav::DeadLetters => "Dead letters",
            Nav::Segments => "Segments",
            Nav::Users => "Users",
            Nav::Live => "Live",
        }
    }

    fn href(self) -> &'static str {
        match self {
            Nav::Overview => "/console",
            Nav::Deliveries => "/console/deliveries",
            Nav::DeadLetters => "/console/dead-letters",
            Nav::Segments => "/console/segments",
            Nav::Users => "/console/users",
            Nav::Live => "/console/live",
        }
    }
}

/// Content-Security-Policy: scripts and styles from the console only (no
/// inline script), no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            link rel="icon" href="data:,";
            // htmx: no injected <style> (the CSP allows none), no eval.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            title { (title) " · engage-bridge" }
            link rel="stylesheet" href="/console/static/console.css";
            script src={ "/console/static/" (HTMX) } defer {}
            script src="/console/static/console.js" defer {}
        }
    }
}

/// The hidden CSRF field of every form.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.session.csrf); }
}

fn send(console: &Console, status: StatusCode, markup: Markup) -> Response {
    let body = console.mask(markup.into_string());
    (status, Html(body)).into_response()
}

/// A signed-in page.
pub fn page(ctx: &Ctx, active: Nav, title: &str, body: Markup) -> Response {
    page_with(ctx, active, title, StatusCode::OK, body)
}

pub fn page_with(
    ctx: &Ctx,
    active: Nav,
    title: &str,
    status: StatusCode,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body hx-boost="true" {
                header.top {
                    a.brand href="/console" { "engage-bridge" }
                    div.who {
                        @if ctx.is_operator() {
                            a href="/console/workspaces" title="Choose another workspace" {
                                "Workspace " strong { (ctx.ws()) } " (operator)"
                            }
                        } @else {
                            span { "Workspace " strong { (ctx.ws()) } }
                        }
                        form method="post" action="/console/logout" {
                            (csrf(ctx))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                nav aria-label="Console" {
                    ul {
                        @for item in Nav::ALL {
                            li {
                                @if item == active {
                                    a href=(item.href()) aria-current="page" { (item.name()) }
                                } @else {
                                    a href=(item.href()) { (item.name()) }
                                }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    send(&ctx.console, status, markup)
}

/// A page outside a session (sign-in, the workspace picker, messages).
pub fn bare_page(console: &Console, title: &str, status: StatusCode, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main.narrow {
                    p.brand { "engage-bridge" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    send(console, status, markup)
}

pub fn message_page(console: &Console, status: StatusCode, title: &str, text: &str) -> Response {
    bare_page(
        console,
        title,
        status,
        html! {
            p { (text) }
            p { a href="/console" { "Back to the console" } }
        },
    )
}

/// A storage failure: logged with its cause; the page says only that.
pub fn failure(console: &Console, error: &str) -> Response {
    tracing::error!(error, "console: a page could not be built");
    message_page(
        console,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The store could not be read just now. Try again in a moment; the log has the details.",
    )
}

/// A time as `2026-12-01 17:38:05` (UTC), machine-readable in `datetime`.
pub fn time(at_ms: i64) -> Markup {
    let text = rfc3339_ms(at_ms);
    let shown = text.get(..19).unwrap_or(&text).replace('T', " ");
    html! { time datetime=(text) { (shown) } }
}

/// An RFC 3339 time (dead-letter attempts) shown the same way.
pub fn time_text(rfc3339: &str) -> Markup {
    let shown = rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ");
    html! { time datetime=(rfc3339) { (shown) } }
}

/// A status word as a badge (`healthy`, `failing`, `delivered`, …).
pub fn badge(word: &str) -> Markup {
    let class = match word {
        "healthy" | "delivered" => "good",
        "failing" | "failed" | "refused" | "dead-lettered" | "disabled" | "circuit open" => "bad",
        _ => "quiet",
    };
    html! { span class={ "badge " (class) } { (word) } }
}

/// Pretty JSON when `text` is JSON, else the text.
pub fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// A number with thousands separators (`12 345`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// `text` as one URL path segment (dead-letter ids hold `#` on DynamoDB).
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string of the non-empty pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        url.append_pair(k, v);
    }
    url.finish()
}

/// Where a secret would be: never its value.
pub fn masked() -> Markup {
    html! { span.secret title="hidden" { (PreEscaped("&bull;&bull;&bull;&bull;")) } }
}

/// The set-cookie header value that ends a session.
pub fn clear_session(secure: bool) -> String {
    session::set_cookie(session::COOKIE, "", None, secure)
}
