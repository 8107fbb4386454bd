//! Console sessions (docs/interface/console.md "Sign-in"): a random token in
//! an HttpOnly, SameSite=Strict cookie, kept in this process's memory until
//! it expires or the user signs out; a CSRF token per session for every
//! POST; and a limit on failed sign-ins per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "eb_console";
/// The cookie of the sign-in form's CSRF token (double submit: no session yet).
pub const LOGIN_COOKIE: &str = "eb_console_login";

/// Who signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A workspace's credentials: that workspace only.
    Tenant(String),
    /// The operator token: every workspace, one chosen at a time.
    Operator { workspace: Option<String> },
}

impl Principal {
    /// The workspace the pages show.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Self::Tenant(id) => Some(id),
            Self::Operator { workspace } => workspace.as_deref(),
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Self::Operator { .. })
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    expires: Instant,
}

/// A random token: 32 bytes, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Failed sign-ins allowed per client address per window.
const FAILURES_PER_WINDOW: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

pub struct Sessions {
    lifetime: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Sessions {
    pub fn new(hours: u32) -> Self {
        Self {
            lifetime: Duration::from_secs(u64::from(hours) * 3600),
            sessions: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Starts a session; returns its token.
    pub fn start(&self, principal: Principal) -> String {
        let id = token();
        let session = Session {
            principal,
            csrf: token(),
            expires: Instant::now() + self.lifetime,
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            let now = Instant::now();
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            sessions.insert(id.clone(), session);
        }
        id
    }

    /// The live session of a token.
    pub fn get(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// The operator's choice of workspace.
    pub fn choose(&self, id: &str, workspace: String) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(session) = sessions.get_mut(id)
            && session.principal.is_operator()
        {
            session.principal = Principal::Operator {
                workspace: Some(workspace),
            };
        }
    }

    pub fn end(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    /// Seconds until `client` may try again, if it failed too often.
    pub fn blocked(&self, client: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let (since, count) = failures.get(&client)?;
        let left = FAILURE_WINDOW.saturating_sub(since.elapsed());
        (*count >= FAILURES_PER_WINDOW && !left.is_zero()).then(|| left.as_secs().max(1))
    }

    pub fn failed(&self, client: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 100_000 {
                failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
            }
            let slot = failures.entry(client).or_insert((Instant::now(), 0));
            if slot.0.elapsed() >= FAILURE_WINDOW {
                *slot = (Instant::now(), 0);
            }
            slot.1 += 1;
        }
    }
}

/// A cookie's value in a request's `Cookie` headers.
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, scoped to the console,
/// Secure unless the console listens on loopback only.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    match max_age {
        Some(age) => cookie.push_str(&format!("; Max-Age={}", age.as_secs())),
        None => cookie.push_str("; Max-Age=0"),
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::new(1);
        let id = sessions.start(Principal::Tenant("ws".into()));
        assert_eq!(
            sessions.get(&id).unwrap().principal,
            Principal::Tenant("ws".into())
        );
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get("forged").is_none());
    }

    #[test]
    fn a_tenant_cannot_choose_another_workspace() {
        let sessions = Sessions::new(1);
        let id = sessions.start(Principal::Tenant("ws".into()));
        sessions.choose(&id, "other".into());
        assert_eq!(sessions.get(&id).unwrap().principal.workspace(), Some("ws"));
    }

    #[test]
    fn failed_sign_ins_are_limited_per_client() {
        let sessions = Sessions::new(1);
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FAILURES_PER_WINDOW {
            assert!(sessions.blocked(client).is_none());
            sessions.failed(client);
        }
        assert!(sessions.blocked(client).is_some());
        assert!(sessions.blocked("127.0.0.2".parse().unwrap()).is_none());
    }

    #[test]
    fn cookies_are_read_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; eb_console=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = set_cookie(COOKIE, "abc", Some(Duration::from_secs(60)), true);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure")
        );
    }
}
