//! The OAuth 2.0 tokens of every stream this process sends to
//! (docs/interface/streams.md "Authentication"): one entry per set of
//! client credentials, kept until shortly before it expires, fetched once
//! for all the senders waiting at the time. How a token is fetched is
//! `super::oauth2`'s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::OAuth2Config;
use crate::config::destinations::Refused;
use crate::config::secret::sha256_hex;
use crate::domain::FailureKind;

/// An access token: shown to nobody (its `Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    pub(super) fn new(value: String) -> Self {
        Self(value.into())
    }

    /// The value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// Why no token was had: the endpoint (its URL without query or
/// credentials) and what went wrong, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token endpoint {endpoint}: {failure}")]
pub struct TokenError {
    pub endpoint: String,
    pub failure: TokenFailure,
}

impl TokenError {
    /// The kind of failed attempt it makes of the batch.
    pub fn kind(&self) -> FailureKind {
        match self.failure {
            TokenFailure::Refused(_) => FailureKind::RefusedDestination,
            _ => FailureKind::TokenEndpoint,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenFailure {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{0}")]
    Transport(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered no usable token ({0})")]
    Invalid(&'static str),
}

pub struct Cached {
    pub(super) token: AccessToken,
    /// None: the endpoint gave no lifetime; used until a send is answered 401.
    pub(super) renew_at: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    token: Option<Cached>,
    last_failure: Option<TokenError>,
}

#[derive(Default)]
struct Entry {
    /// Fetches finished so far: a sender that waited while one ran takes
    /// its result instead of asking again.
    fetches: AtomicU64,
    slot: tokio::sync::Mutex<Slot>,
}

/// The tokens of every OAuth 2.0 stream this process sends to, one entry
/// per set of client credentials.
#[derive(Default)]
pub struct Tokens {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl Tokens {
    fn entry(&self, config: &OAuth2Config) -> Arc<Entry> {
        // Keyed by a digest of everything a token depends on: changed
        // credentials get a new token, and the map holds no secret.
        let key = sha256_hex(
            [
                config.token_url.as_str(),
                config.client_id.as_str(),
                config.client_secret.expose(),
                config.scope.as_deref().unwrap_or(""),
                config.audience.as_deref().unwrap_or(""),
            ]
            .join("\u{0}")
            .as_bytes(),
        );
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.entry(key).or_default().clone()
    }

    /// A token for `config`: the cached one unless it is `stale` (a send
    /// was answered 401 with it) or about to expire, else a new one, fetched
    /// once for every sender waiting at the time.
    pub async fn token<F>(
        &self,
        config: &OAuth2Config,
        stale: Option<&AccessToken>,
        fetch: F,
    ) -> Result<AccessToken, TokenError>
    where
        F: Future<Output = Result<Cached, TokenError>>,
    {
        let entry = self.entry(config);
        let seen = entry.fetches.load(Ordering::Acquire);
        let mut slot = entry.slot.lock().await;
        let now = Instant::now();
        if let Some(cached) = &slot.token
            && cached.renew_at.is_none_or(|at| now < at)
            && Some(&cached.token) != stale
        {
            return Ok(cached.token.clone());
        }
        // A fetch finished while this sender waited: its failure is this
        // sender's too (its success was returned above).
        if entry.fetches.load(Ordering::Acquire) != seen
            && let Some(failure) = &slot.last_failure
        {
            return Err(failure.clone());
        }
        let fetched = fetch.await;
        entry.fetches.fetch_add(1, Ordering::Release);
        match fetched {
            Ok(cached) => {
                let token = cached.token.clone();
                slot.token = Some(cached);
                slot.last_failure = None;
                Ok(token)
            }
            Err(failure) => {
                slot.token = None;
                slot.last_failure = Some(failure.clone());
                Err(failure)
            }
        }
    }
}
