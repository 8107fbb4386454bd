//! Customer.io reporting webhooks in (docs/rules/customerio.md,
//! docs/interface/http.md "POST /v1/customerio/{workspace_id}/reporting"): each signed webhook becomes one
//! event on the events queue, queued once per `event_id`.

pub mod event;
pub mod signature;
pub mod webhook;

use std::time::Duration;

use serde::Serialize;

use crate::config::WorkspaceConfig;
use crate::domain::EventsMessage;
use crate::domain::time::now_s;
use crate::error::{RequestError, RequestResult};
use crate::input::quoted;
use crate::rate_limit::RateLimit;
use crate::runtime::Services;
pub use signature::Signed;

/// `event_id`s are remembered for 8 days: Customer.io retries an
/// unanswered webhook for up to 7.
pub const EVENT_ID_TTL: Duration = Duration::from_secs(8 * 24 * 3600);

/// What a request presented to prove where it came from.
#[derive(Clone, Debug, Default)]
pub struct Presented {
    /// `X-CIO-Timestamp` and `X-CIO-Signature`.
    pub signed: Option<Signed>,
    /// Workspace credentials (Basic, API key, Bearer).
    pub credentials: Option<(String, String)>,
}

/// The answer: the event the webhook became.
#[derive(Debug, Serialize)]
pub struct Received {
    /// True when this `event_id` was queued before (acknowledged, not queued again).
    pub duplicate: bool,
    pub event_id: String,
    pub event_uuid: String,
    pub event_name: String,
    pub event_code: String,
    /// True when the event's user is suppressed (erased): acknowledged, dropped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

fn not_configured(workspace_id: &str) -> RequestError {
    RequestError::NotFound(format!(
        "workspace {} has no Customer.io reporting webhook configured",
        quoted(workspace_id)
    ))
}

/// Who may post to the workspace's reporting route: a valid signature
/// decides when one is presented; otherwise the workspace's credentials.
async fn authenticate(
    services: &Services,
    ws: &WorkspaceConfig,
    presented: &Presented,
    body: &[u8],
) -> RequestResult<()> {
    let settings = ws
        .customerio
        .as_ref()
        .ok_or_else(|| not_configured(&ws.id))?;
    if let Some(signed) = &presented.signed {
        let key = settings.signing_key.expose().as_bytes();
        return signature::verify(key, signed, body, now_s(), settings.tolerance_seconds).map_err(
            |e| match e {
                signature::SignatureError::Mismatch => RequestError::Unauthorized,
                stale => RequestError::Stale(stale.to_string()),
            },
        );
    }
    let (id, secret) = presented
        .credentials
        .as_ref()
        .ok_or(RequestError::Unauthorized)?;
    let authenticated = services.workspaces.authenticate(id, secret).await?;
    if authenticated.id != ws.id {
        return Err(RequestError::Unauthorized);
    }
    Ok(())
}

/// `POST /v1/customerio/{workspace_id}/reporting`: checks who sent it,
/// counts it, reads it, and queues its event once (the `event_id` counts as
/// received only after the event is durably queued, so a crash in between
/// leaves it free for Customer.io's retry).
pub async fn receive(
    services: &Services,
    workspace_id: &str,
    presented: &Presented,
    body: &[u8],
) -> RequestResult<Received> {
    // Workspace ids are [A-Za-z0-9_-]{1,64}: anything else names none, and
    // is never looked up (a huge path segment is no store key).
    let id_ok = (1..=64).contains(&workspace_id.len())
        && workspace_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !id_ok {
        return Err(not_configured(workspace_id));
    }
    let ws = services
        .workspaces
        .get(workspace_id)
        .await?
        .filter(|ws| ws.customerio.is_some())
        .ok_or_else(|| not_configured(workspace_id))?;
    authenticate(services, &ws, presented, body).await?;
    RateLimit::Customerio
        .enforce(&services.rate_limiter, &ws)
        .await?;
    let settings = ws
        .customerio
        .as_ref()
        .ok_or_else(|| not_configured(&ws.id))?;
    let webhook = webhook::read(body)?;
    let event_id = webhook.event_id.clone();
    let event = event::to_event(&ws.id, settings, webhook)?;
    let mut received = Received {
        duplicate: false,
        event_id,
        event_uuid: event.event_uuid.clone(),
        event_name: event.event_name.clone(),
        event_code: event.event_code.clone(),
        suppressed: false,
    };
    let key = format!("customerio:{}", received.event_id);
    if services.idempotency.is_recorded(&ws.id, &key).await? {
        received.duplicate = true;
        return Ok(received);
    }
    // A suppressed (erased) user's event is acknowledged and dropped
    // (docs/interface/privacy.md "Suppression").
    let suppressed =
        crate::privacy::suppression::check(services, &ws.id, event.uid.as_deref()).await?;
    if suppressed.contains(event.uid.as_deref()) {
        crate::privacy::suppression::dropped(&ws.id, "Customer.io events", 1);
        received.suppressed = true;
        return Ok(received);
    }
    let messages = EventsMessage::pack(&ws.id, std::slice::from_ref(&event))
        .map_err(|e| RequestError::bad_request(format!("cannot queue the event: {e}")))?;
    services.queues.events.send_encoded(messages).await?;
    crate::observability::metrics::events_ingested(&ws.id, std::slice::from_ref(&event));
    services
        .idempotency
        .record(&ws.id, &key, EVENT_ID_TTL)
        .await?;
    tracing::info!(workspace_id = %ws.id, event_code = %received.event_code,
        event_uuid = %received.event_uuid, "customer.io webhook queued");
    Ok(received)
}
