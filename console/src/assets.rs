//! The console's static files, compiled in: one stylesheet, one small
//! script (the Live page, select-all), and htmx 2.0.8, vendored and pinned
//! (`console/static/htmx-2.0.8.min.js`, 0BSD licence in
//! `console/static/htmx-LICENSE.txt`). No Node build.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

pub const HTMX: &str = "htmx-2.0.8.min.js";

pub async fn file(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &'static str) = match name.as_str() {
        "console.css" => (
            include_str!("../static/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("../static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        HTMX => (
            include_str!("../static/htmx-2.0.8.min.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
