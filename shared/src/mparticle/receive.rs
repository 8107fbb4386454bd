//! The mParticle entry points: Events-API batches (the workspace already
//! authenticated), and Firehose requests, over HTTP or as a direct Lambda
//! invocation, which authenticate themselves.

use serde_json::{Map, Value};

use super::firehose::{self, RequestType};
use super::json::Node;
use super::mapper::Report;
use super::model::SourceBatch;
use super::{audiences, events_api, ingest, limits, typed};
use crate::config::WorkspaceConfig;
use crate::error::{RequestError, RequestResult};
use crate::input::parse_json;
use crate::rate_limit::RateLimit;
use crate::runtime::Services;

/// Reads an Events-API body from its bytes: in one typed pass (typed/) when
/// that can, else parsed and read by events_api.rs, whose errors name the
/// JSON path.
pub fn read_body(body: &[u8], form: events_api::Form) -> Result<Vec<SourceBatch>, RequestError> {
    if let Some(batches) = typed::read(body, form) {
        return Ok(batches);
    }
    let body: Value = parse_json(body)?;
    Ok(events_api::read_request_as(&body, form)?)
}

/// Events-API batches: the whole request is validated before anything is
/// applied.
pub async fn receive_events(
    services: &Services,
    ws: &WorkspaceConfig,
    body: &[u8],
    form: events_api::Form,
) -> RequestResult<Report> {
    let batches = read_body(body, form)?;
    limits::check(&batches)?;
    ingest::ingest(services, ws, batches).await
}

/// A Firehose request invoked directly (docs/interface/http.md "Direct
/// invocation"): its response, or an error that fails the invocation with
/// its own `errorType` (docs/interface/observability.md), which mParticle
/// shows and retries — an answer that looks like success would let
/// mParticle drop the data without anyone noticing.
pub async fn firehose_direct(services: &Services, payload: Value) -> RequestResult<Value> {
    let answered = firehose(services, &payload, None).await;
    if let Some(detail) = answered
        .as_ref()
        .err()
        .and_then(RequestError::internal_detail)
    {
        tracing::error!(error = %detail, "internal error answering a Firehose invocation");
    }
    answered
}

/// One Firehose request → its response message.
pub async fn firehose(
    services: &Services,
    body: &Value,
    credentials: Option<(String, String)>,
) -> RequestResult<Value> {
    let root = Node::root(body);
    root.object()?;
    let kind = RequestType::read(&root)?;
    if kind == RequestType::ModuleRegistration {
        return Ok(firehose::response(
            kind,
            &root,
            firehose::registration_fields(),
        ));
    }
    // The account settings the module registered, else Basic auth (HTTP).
    let (id, secret) = match firehose::account_credentials(&root)? {
        Some(credentials) => credentials,
        None => credentials.ok_or(RequestError::Unauthorized)?,
    };
    let ws = services.workspaces.authenticate(&id, &secret).await?;
    RateLimit::Mparticle
        .enforce(&services.rate_limiter, &ws)
        .await?;
    match kind {
        RequestType::EventProcessing => {
            let batch = firehose::read_event_processing(&root)?;
            limits::check(std::slice::from_ref(&batch))?;
            ingest::ingest(services, &ws, vec![batch]).await?;
        }
        RequestType::AudienceSubscription => {
            audiences::subscription(services, &ws, &root).await?;
        }
        RequestType::AudienceMembershipChange => {
            audiences::membership_change(services, &ws, &root).await?;
        }
        RequestType::ModuleRegistration => {}
    }
    Ok(firehose::response(kind, &root, Map::new()))
}
