//! The one pooled HTTP client every stream request goes through: connect
//! timeout 5 s, per-request total timeout from the stream, redirects only
//! within the same host (a credentialed request never follows to another).

use std::time::Duration;

use reqwest::redirect::Policy;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn http_client() -> reqwest::Client {
    let same_host = Policy::custom(|attempt| {
        let original = attempt
            .previous()
            .first()
            .and_then(|u| u.host_str().map(str::to_owned));
        if attempt.previous().len() >= 5 || original.as_deref() != attempt.url().host_str() {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(same_host)
        .user_agent(concat!("engage-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

/// A short description of a transport error without the URL (which could
/// carry credentials in its query string).
pub fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else if error.is_redirect() {
        "redirect refused (only same-host redirects are followed)".into()
    } else {
        error.without_url().to_string()
    }
}
