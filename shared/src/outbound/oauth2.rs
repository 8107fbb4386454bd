//! OAuth 2.0 client credentials for webhook streams (RFC 6749 §4.4;
//! docs/interface/streams.md "Authentication"): the token is fetched with
//! `grant_type=client_credentials`, the client authenticated with HTTP
//! Basic, and kept per process until 60 s before it expires. Concurrent
//! sends share one fetch (a token endpoint answering slowly or not at all
//! is asked once, not once per batch), and a send answered `401` asks for a
//! new token once. The token endpoint is reached through the stream client,
//! so the destination guard applies to it. Neither the client secret nor a
//! token is ever part of an error, a log line or a queue message.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::client::{HttpClient, SendError};
use super::tokens::{AccessToken, Cached, TokenError, TokenFailure};
use crate::config::OAuth2Config;
use crate::config::source::display_url;

/// A token is renewed this long before the endpoint said it expires.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// The most of a token endpoint's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The token answer's fields engage-bridge reads (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<ExpiresIn>,
}

/// `expires_in` as a number, or (some servers) a string of one.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Seconds(f64),
    Text(String),
}

impl ExpiresIn {
    fn seconds(&self) -> Option<f64> {
        match self {
            Self::Seconds(s) => Some(*s),
            Self::Text(t) => t.trim().parse().ok(),
        }
    }
}

/// A token for `config` through `http` (the destination guard applies to
/// the token endpoint): the cached one unless it is `stale` or about to
/// expire ([`super::tokens::Tokens::token`]).
pub async fn token(
    http: &HttpClient,
    config: &OAuth2Config,
    timeout: Duration,
    stale: Option<&AccessToken>,
) -> Result<AccessToken, TokenError> {
    http.tokens()
        .token(config, stale, fetch(http, config, timeout))
        .await
}

/// One token request (RFC 6749 §4.4.2): the client id and secret, form
/// encoded, as HTTP Basic credentials (§2.3.1).
async fn fetch(
    http: &HttpClient,
    config: &OAuth2Config,
    timeout: Duration,
) -> Result<Cached, TokenError> {
    let endpoint = reqwest::Url::parse(&config.token_url)
        .map_or_else(|_| "(not a URL)".to_owned(), |u| display_url(&u));
    let fail = |failure| TokenError {
        endpoint: endpoint.clone(),
        failure,
    };
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &config.scope {
            form.append_pair("scope", scope);
        }
        if let Some(audience) = &config.audience {
            form.append_pair("audience", audience);
        }
        form.finish()
    };
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let request = http
        .builder()
        .post(&config.token_url)
        .timeout(timeout)
        .basic_auth(
            encode(&config.client_id),
            Some(encode(config.client_secret.expose())),
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form);
    let asked_at = Instant::now();
    let mut response = http.send(request).await.map_err(|e| {
        fail(match e {
            SendError::Refused(refused) => TokenFailure::Refused(refused),
            // Never shows the URL.
            other => TokenFailure::Transport(other.to_string()),
        })
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(TokenFailure::Status(status.as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(TokenFailure::Transport(e.without_url().to_string())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(fail(TokenFailure::Invalid("the answer is too large")));
        }
        body.extend_from_slice(&chunk);
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|_| fail(TokenFailure::Invalid("not JSON with an access_token")))?;
    if answer.access_token.is_empty() {
        return Err(fail(TokenFailure::Invalid("an empty access_token")));
    }
    if answer
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(fail(TokenFailure::Invalid("token_type is not Bearer")));
    }
    let renew_at = match answer.expires_in.as_ref().map(ExpiresIn::seconds) {
        None => None,
        Some(Some(seconds)) if seconds.is_finite() && seconds >= 0.0 => {
            Some(asked_at + Duration::from_secs_f64(seconds.min(1e9)).saturating_sub(EXPIRY_MARGIN))
        }
        Some(_) => return Err(fail(TokenFailure::Invalid("expires_in is not a number"))),
    };
    Ok(Cached {
        token: AccessToken::new(answer.access_token),
        renew_at,
    })
}
