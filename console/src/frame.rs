//! What every console answer shares, signed in or not: the security
//! headers, the document head, the secret mask every page passes through
//! before it is sent, and the pages shown outside a session (sign-in,
//! messages, failures). The signed-in shell is `crate::layout`'s.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use crate::Console;
use crate::assets::HTMX;

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

pub(crate) fn head(title: &str) -> Markup {
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

pub(crate) fn send(console: &Console, status: StatusCode, markup: Markup) -> Response {
    let body = console.mask(markup.into_string());
    (status, Html(body)).into_response()
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
