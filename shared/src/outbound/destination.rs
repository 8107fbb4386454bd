//! The destination guard (docs/interface/streams.md "Destinations"): every
//! address a stream request would connect to is checked against
//! `[security] private_destinations` (`crate::config::destinations`).
//! Names are checked by the client's resolver as they are resolved for the
//! connection itself, so a name that answers differently later (DNS
//! rebinding) is caught where it matters; address literals never reach a
//! resolver and are checked before the request is sent.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::PrivateDestinations;
use crate::config::destinations::Refused;

pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Name resolution: the system's, or a test's.
pub trait Resolver: Send + Sync + 'static {
    fn lookup(&self, host: String) -> Lookup<'static>;
}

/// The system resolver (getaddrinfo, through tokio).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: String) -> Lookup<'static> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Why a name gave no address a stream may use.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{host} cannot be resolved: {source}")]
    Failed { host: String, source: io::Error },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error(transparent)]
    Refused(#[from] Refused),
}

/// Resolves `host` and checks every address: one refused address refuses
/// the destination (a name may not mix public and private answers).
pub async fn resolve_checked(
    resolver: &dyn Resolver,
    policy: PrivateDestinations,
    host: &str,
) -> Result<Vec<IpAddr>, LookupError> {
    let addresses =
        resolver
            .lookup(host.to_owned())
            .await
            .map_err(|source| LookupError::Failed {
                host: host.to_owned(),
                source,
            })?;
    if addresses.is_empty() {
        return Err(LookupError::NoAddress(host.to_owned()));
    }
    for address in &addresses {
        policy.check(host, *address)?;
    }
    Ok(addresses)
}

/// The stream client's resolver: resolves, then refuses what the policy
/// does not allow, so the connection is only ever made to a checked address.
pub struct GuardedResolver {
    pub policy: PrivateDestinations,
    pub resolver: Arc<dyn Resolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, resolver) = (self.policy, self.resolver.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve_checked(resolver.as_ref(), policy, &host)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The refusal somewhere in an error's chain (a resolver's refusal reaches
/// the caller wrapped as a connect error).
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        if let Some(LookupError::Refused(refused)) = e.downcast_ref::<LookupError>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}
