//! The one pooled HTTP client every stream request goes through: connect
//! timeout 5 s, per-request total timeout from the stream, no redirects
//! followed, no proxy, and every destination address checked against
//! `[security] private_destinations` (docs/interface/streams.md
//! "Destinations").

use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;

use super::destination::{
    GuardedResolver, LookupError, Resolver, SystemResolver, refusal_in, resolve_checked,
};
use super::pace::{Pacer, Pacers};
use super::tls::TlsClients;
use super::tokens::Tokens;
use crate::config::destinations::Refused;
use crate::config::{PrivateDestinations, TlsConfig, TlsError};
use crate::domain::FailureKind;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The stream client and the destination policy it enforces.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: PrivateDestinations,
    resolver: Arc<dyn Resolver>,
    tokens: Arc<Tokens>,
    pacers: Arc<Pacers>,
    tls: Arc<TlsClients>,
}

/// Why a destination cannot be used, found before sending.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("not a URL ({0})")]
    NotAUrl(#[from] url::ParseError),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Why a request got no answer. Messages never show the URL (which could
/// carry credentials in its query string).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Connect,
    #[error("{0}")]
    Other(#[source] reqwest::Error),
}

impl SendError {
    pub fn of(error: reqwest::Error) -> Self {
        if let Some(refused) = refusal_in(&error) {
            Self::Refused(refused.clone())
        } else if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() {
            Self::Connect
        } else {
            Self::Other(error.without_url())
        }
    }

    /// The kind of failed attempt this makes.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Refused(_) => FailureKind::RefusedDestination,
            Self::Timeout => FailureKind::Timeout,
            Self::Connect => FailureKind::Connection,
            Self::Other(_) => FailureKind::Other,
        }
    }
}

impl HttpClient {
    /// The client, resolving names with the system resolver.
    pub fn new(policy: PrivateDestinations) -> Self {
        Self::with_resolver(policy, Arc::new(SystemResolver))
    }

    /// The client resolving names with `resolver` (tests stand in for DNS).
    pub fn with_resolver(policy: PrivateDestinations, resolver: Arc<dyn Resolver>) -> Self {
        let client = build(policy, &resolver, None);
        Self {
            client,
            policy,
            resolver,
            tokens: Arc::default(),
            pacers: Arc::default(),
            tls: Arc::default(),
        }
    }

    /// This client presenting `tls`'s certificate (and trusting its CA), a
    /// client built once per identity, with the same settings otherwise.
    pub fn with_tls(&self, tls: &TlsConfig) -> Result<HttpClient, TlsError> {
        let client = self.tls.get_or_build(tls, |identity, ca| {
            build(self.policy, &self.resolver, Some((identity, ca)))
        })?;
        Ok(Self {
            client,
            ..self.clone()
        })
    }

    /// The client for a webhook: this one, or with the webhook's `tls`.
    pub fn for_webhook(
        &self,
        tls: Option<&TlsConfig>,
    ) -> Result<std::borrow::Cow<'_, HttpClient>, TlsError> {
        match tls {
            None => Ok(std::borrow::Cow::Borrowed(self)),
            Some(tls) => self.with_tls(tls).map(std::borrow::Cow::Owned),
        }
    }

    /// The OAuth 2.0 tokens of this process's streams.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The pacing of a stream sent at most `per_second` requests a second.
    pub fn pacer(&self, workspace: &str, stream: &str, per_second: f64) -> Arc<Pacer> {
        self.pacers.pacer(workspace, stream, per_second)
    }

    pub fn policy(&self) -> PrivateDestinations {
        self.policy
    }

    /// The client to build requests with; send them with [`Self::send`].
    pub fn builder(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request. An address literal is checked here; a name is
    /// checked as it is resolved for the connection.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SendError> {
        let request = request.build().map_err(SendError::of)?;
        self.execute(request).await
    }

    /// Sends a request built already (so its headers and body can be
    /// read first: the delivery log).
    pub async fn execute(&self, request: reqwest::Request) -> Result<reqwest::Response, SendError> {
        self.policy.check_url(request.url())?;
        self.client.execute(request).await.map_err(SendError::of)
    }

    /// Checks a destination up front (config checks, `streams test`):
    /// its literal, else every address its name resolves to now.
    pub async fn check(&self, url: &str) -> Result<(), Unreachable> {
        let url = reqwest::Url::parse(url)?;
        self.policy.check_url(&url)?;
        match url.host() {
            Some(url::Host::Domain(name)) => {
                resolve_checked(self.resolver.as_ref(), self.policy, name).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The stream client: every option of the module's doc, and a client
/// certificate (with extra trusted CAs) when given.
fn build(
    policy: PrivateDestinations,
    resolver: &Arc<dyn Resolver>,
    tls: Option<(reqwest::Identity, Vec<reqwest::Certificate>)>,
) -> reqwest::Client {
    super::use_ring();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        // A redirect could lead anywhere, past the destination check:
        // a 3xx answer is a failure (`crate::streams::deliver`).
        .redirect(Policy::none())
        // Through a proxy the address connected to would be the proxy's.
        .no_proxy()
        .dns_resolver(GuardedResolver {
            policy,
            resolver: resolver.clone(),
        })
        .user_agent(concat!("engage-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some((identity, ca)) = tls {
        builder = builder.identity(identity).tls_certs_merge(ca);
    }
    builder
        .build()
        .expect("the HTTP client configuration is valid")
}
