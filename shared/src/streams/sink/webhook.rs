//! Webhook streams (docs/rules/webhook-payload.md):
//! `POST <url>` with `{"app_name","source":"MOENGAGE","moe_request_id","events":[...]}`,
//! the configured headers and auth, signed when the stream has
//! `signing_secrets`. Any non-2xx fails the whole request.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::{Answer, Sink};
use crate::config::{StreamAuth, StreamConfig, WebhookConfig};
use crate::domain::Attempt;
use crate::domain::batching::join_json;
use crate::domain::time::now_s;
use crate::domain::{Event, Profile};
use crate::outbound::HttpClient;
use crate::outbound::tokens::AccessToken;
use crate::streams::enrich;
use crate::streams::sink::signing;

/// A documented bound on one webhook request (docs/interface/streams.md):
/// a receiver never gets a body larger than this, whatever the events hold.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

pub struct WebhookSink<'a> {
    pub stream: &'a StreamConfig,
    pub config: &'a WebhookConfig,
    pub app_name: &'a str,
    /// The OAuth 2.0 token of this delivery's requests (`authorize`).
    pub bearer: Mutex<Option<AccessToken>>,
}

impl<'a> WebhookSink<'a> {
    pub fn new(stream: &'a StreamConfig, config: &'a WebhookConfig, app_name: &'a str) -> Self {
        Self {
            stream,
            config,
            app_name,
            bearer: Mutex::new(None),
        }
    }

    fn bearer(&self) -> std::sync::MutexGuard<'_, Option<AccessToken>> {
        self.bearer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WebhookSink<'_> {
    fn head(&self, request_id: &str) -> String {
        format!(
            "{{\"app_name\":{},\"source\":\"MOENGAGE\",\"moe_request_id\":{},\"events\":[",
            Value::String(self.app_name.to_owned()),
            Value::String(request_id.to_owned()),
        )
    }
}

impl Sink for WebhookSink<'_> {
    type Item = String;

    fn max_events(&self) -> usize {
        self.stream.batch_size as usize
    }

    fn max_bytes(&self) -> usize {
        MAX_REQUEST_BYTES
    }

    fn envelope_bytes(&self) -> usize {
        // A request id is a 36-character uuid.
        self.head(&"0".repeat(36)).len() + 2
    }

    /// The event with the profile attributes the stream's allowlists select.
    fn prepare(&self, event: &Event, profile: Option<&Profile>) -> Option<String> {
        let event = enrich::for_webhook(event, profile, self.stream);
        Some(serde_json::to_string(&event).expect("events always serialize"))
    }

    fn encoded_len(&self, item: &String) -> usize {
        item.len()
    }

    /// The request body for already-encoded events.
    fn body(&self, request_id: &str, items: &[&String]) -> String {
        join_json(
            &self.head(request_id),
            items.iter().map(|item| item.as_str()),
            "]}",
        )
    }

    fn request(
        &self,
        client: &reqwest::Client,
        request_id: &str,
        body: bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        let mut request = client
            .post(&self.config.url)
            .timeout(Duration::from_secs(u64::from(self.stream.timeout_seconds)))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        // Signed over the exact bytes sent, stamped with this attempt's time.
        let signed = signing::headers(&self.config.signing_secrets, request_id, now_s(), &body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let mut request = request.body(body);
        for (name, value) in &self.config.headers {
            request = request.header(name, value.expose());
        }
        match &self.config.auth {
            StreamAuth::None => request,
            StreamAuth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            StreamAuth::Header { name, value } => request.header(name, value.expose()),
            StreamAuth::OAuth2(_) => match self.bearer().as_ref() {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            },
        }
    }

    async fn authorize(&self, client: &HttpClient, renew: bool) -> Result<(), Attempt> {
        let StreamAuth::OAuth2(oauth2) = &self.config.auth else {
            return Ok(());
        };
        let stale = if renew { self.bearer().clone() } else { None };
        let timeout = Duration::from_secs(u64::from(self.stream.timeout_seconds));
        match crate::outbound::oauth2::token(client, oauth2, timeout, stale.as_ref()).await {
            Ok(token) => {
                *self.bearer() = Some(token);
                Ok(())
            }
            Err(e) => Err(Attempt::unanswered(e.kind(), e.to_string())),
        }
    }

    fn classify(&self, status: u16, retry_after: Duration, _: &str, _: &[&String]) -> Answer {
        if (200..300).contains(&status) {
            Answer::Accepted
        } else if status == 410 {
            Answer::Gone(Attempt::answered(status, "HTTP 410 Gone"))
        } else if status == 401 && matches!(self.config.auth, StreamAuth::OAuth2(_)) {
            Answer::Unauthorized(Attempt::answered(status, "HTTP 401"))
        } else {
            Answer::Failed {
                attempt: Attempt::answered(status, format!("HTTP {status}")),
                wait: retry_after,
            }
        }
    }
}
