//! A local OAuth 2.0 token endpoint (client credentials) and a receiver
//! that accepts only the tokens it issued and has not revoked: real HTTP
//! peers on 127.0.0.1 for the streams' OAuth 2.0 tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::method};

/// What the token endpoint saw and issued.
#[derive(Default)]
struct State {
    status: u16,
    expires_in: u64,
    delay: Duration,
    /// Each token request: its Authorization header and form body.
    requests: Vec<(String, String)>,
    /// Tokens the receiver accepts.
    valid: Vec<String>,
    /// Every token issued.
    issued: Vec<String>,
    /// Requests the receiver got: the token they carried and the status answered.
    deliveries: Vec<(String, u16)>,
    /// The receiver answers 401 whatever the token.
    refuse: bool,
}

/// The token endpoint and the receiver, sharing which tokens are valid.
#[derive(Clone)]
pub struct OAuth2Peers {
    state: Arc<Mutex<State>>,
}

struct TokenEndpoint(Arc<Mutex<State>>);
struct Receiver(Arc<Mutex<State>>);

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        state
            .requests
            .push((auth, String::from_utf8_lossy(&request.body).into_owned()));
        let delay = state.delay;
        if state.status != 200 {
            return ResponseTemplate::new(state.status).set_delay(delay);
        }
        let token = format!("tok-{}-never-logged", state.issued.len() + 1);
        state.issued.push(token.clone());
        state.valid.push(token.clone());
        ResponseTemplate::new(200)
            .set_delay(delay)
            .set_body_json(serde_json::json!({
                "access_token": token, "token_type": "Bearer", "expires_in": state.expires_in
            }))
    }
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        let status = if !state.refuse && state.valid.contains(&token) {
            200
        } else {
            401
        };
        state.deliveries.push((token, status));
        ResponseTemplate::new(status)
    }
}

impl OAuth2Peers {
    /// Starts both: `(peers, token endpoint, receiver)`. Tokens last
    /// `expires_in` seconds.
    pub async fn start(expires_in: u64) -> (Self, MockServer, MockServer) {
        let state = Arc::new(Mutex::new(State {
            status: 200,
            expires_in,
            ..State::default()
        }));
        let tokens = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(TokenEndpoint(state.clone()))
            .mount(&tokens)
            .await;
        let receiver = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Receiver(state.clone()))
            .mount(&receiver)
            .await;
        (Self { state }, tokens, receiver)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The token endpoint answers this status (200: a token).
    pub fn set_token_status(&self, status: u16) {
        self.with(|s| s.status = status);
    }

    /// The token endpoint takes this long to answer.
    pub fn set_token_delay(&self, delay: Duration) {
        self.with(|s| s.delay = delay);
    }

    /// The receiver stops accepting every token issued so far.
    pub fn revoke_all(&self) {
        self.with(|s| s.valid.clear());
    }

    /// The receiver accepts no token, old or new.
    pub fn refuse_all(&self) {
        self.with(|s| s.refuse = true);
    }

    /// Token requests: (Authorization header, form body).
    pub fn token_requests(&self) -> Vec<(String, String)> {
        self.with(|s| s.requests.clone())
    }

    /// Every token issued.
    pub fn issued(&self) -> Vec<String> {
        self.with(|s| s.issued.clone())
    }

    /// The receiver's requests: (bearer token, status answered).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.with(|s| s.deliveries.clone())
    }
}
