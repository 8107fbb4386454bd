//! The page shell every signed-in console page shares: one `<h1>`, a
//! `<nav>` with the six links, the workspace and Sign out; and the small
//! pieces pages are made of (times, badges, counts). What is shared with
//! pages outside a session is `crate::frame`'s.

use axum::response::Response;
use http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use shared::domain::time::rfc3339_ms;

use crate::context::Ctx;
use crate::frame::{head, send};
use crate::session;

pub use crate::frame::{bare_page, failure, message_page, security_headers};

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

/// The hidden CSRF field of every form.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.session.csrf); }
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
