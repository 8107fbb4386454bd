//! The HTTP side: Cohort Webhooks and the list API. Each request is
//! validated whole, then staged on the cohort queue and acknowledged; the
//! consumer in [`super::apply`] does the matching and applying.

use std::time::Duration;

use serde_json::{Value, json};

use super::names;
use super::payload::{CohortWebhook, ListCreate, ListMembers, Users};
use super::staging::{self, SyncRequest};
use crate::api::{ApiError, ApiRequest, ApiResponse, enforce_rate_limit, parse_json, success};
use crate::config::WorkspaceConfig;
use crate::domain::time::{now_ms, now_s, rfc3339_ms};
use crate::domain::{MembershipAction, Segment, SegmentSource};
use crate::runtime::Services;

/// `message_id`s are remembered for 8 days: Amplitude retries for minutes,
/// and the issue asks for at least 7 days of de-duplication.
pub const MESSAGE_ID_TTL: Duration = Duration::from_secs(8 * 24 * 3600);

/// [000] "Rate Limits": requests per second per workspace.
async fn rate_limit(services: &Services, ws: &WorkspaceConfig) -> Result<(), ApiError> {
    enforce_rate_limit(
        services,
        &ws.id,
        "amplitude",
        Duration::from_secs(1),
        "second",
        u64::from(ws.amplitude_requests_per_second),
    )
    .await
}

/// `POST /v1/amplitude/cohorts`.
pub async fn cohort_webhook(
    services: &Services,
    ws: &WorkspaceConfig,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    rate_limit(services, ws).await?;
    let sync = parse_json::<CohortWebhook>(request.body())?.validate(&ws.anonymous_id_attribute)?;
    let segment = Segment::new(SegmentSource::Amplitude, &sync.cohort_id, &sync.cohort_name);
    let key = format!("amplitude:{}", sync.message_id);
    if !services
        .idempotency
        .claim(&ws.id, &key, MESSAGE_ID_TTL)
        .await?
    {
        return Ok(success(json!({
            "duplicate": true,
            "message": "this message_id was already received; acknowledged, not applied again",
            "message_id": sync.message_id,
            "segment_id": segment.id,
        })));
    }
    let staged = async {
        services.segments.ensure_segment(&ws.id, &segment).await?;
        let request = SyncRequest {
            workspace_id: &ws.id,
            segment: &segment,
            action: sync.action,
            computed_time: sync.computed_time,
            message_id: Some(&sync.message_id),
            users: &sync.users.users,
        };
        stage_and_record(services, &request).await
    }
    .await;
    let messages = match staged {
        Ok(messages) => messages,
        Err(error) => {
            // Not staged: let Amplitude's retry of this message_id through.
            if let Err(e) = services.idempotency.release(&ws.id, &key).await {
                tracing::error!(error = %e, "could not release a message_id claim after staging failed");
            }
            return Err(error);
        }
    };
    Ok(success(with_counts(
        json!({
            "duplicate": false,
            "message_id": sync.message_id,
            "segment_id": segment.id,
            "action": sync.action.as_str(),
            "computed_time": sync.computed_time,
        }),
        &sync.users,
        messages,
    )))
}

/// `POST /v1/amplitude/lists`: creates (or finds) the cohort's segment.
pub async fn create_list(
    services: &Services,
    ws: &WorkspaceConfig,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    rate_limit(services, ws).await?;
    let body: ListCreate = parse_json(request.body())?;
    let (name, cohort_id) =
        names::parse_list_name(&body.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    names::check_cohort_name(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    super::payload::check_cohort_id(cohort_id)?;
    let segment = services
        .segments
        .ensure_segment(
            &ws.id,
            &Segment::new(SegmentSource::Amplitude, cohort_id, name),
        )
        .await?;
    Ok(success(
        json!({"listId": segment.id, "list_id": segment.id}),
    ))
}

/// `POST /v1/amplitude/lists/{list_id}/add` and `/remove`: stages the
/// change as of now.
pub async fn list_members(
    services: &Services,
    ws: &WorkspaceConfig,
    list_id: &str,
    action: MembershipAction,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    rate_limit(services, ws).await?;
    let users = parse_json::<ListMembers>(request.body())?.validate()?;
    let segment = services
        .segments
        .get_segment(&ws.id, list_id)
        .await?
        .filter(|s| s.source == SegmentSource::Amplitude.name())
        .ok_or_else(|| ApiError::NotFound(format!("no Amplitude list with id {list_id:?}")))?;
    let computed_time = now_s();
    let messages = stage_and_record(
        services,
        &SyncRequest {
            workspace_id: &ws.id,
            segment: &segment,
            action,
            computed_time,
            message_id: None,
            users: &users.users,
        },
    )
    .await?;
    Ok(success(with_counts(
        json!({
            "listId": segment.id,
            "list_id": segment.id,
            "action": action.as_str(),
            "computed_time": computed_time,
        }),
        &users,
        messages,
    )))
}

/// Stages the request, then counts the sync on the segment. Once staged,
/// the request is acknowledged even if the statistics update fails: the
/// changes are safe, and failing would make Amplitude send them again.
async fn stage_and_record(
    services: &Services,
    request: &SyncRequest<'_>,
) -> Result<usize, ApiError> {
    let messages = staging::stage(services, request).await?;
    let at = rfc3339_ms(now_ms());
    if let Err(e) = services
        .segments
        .record_sync(request.workspace_id, &request.segment.id, &at)
        .await
    {
        tracing::warn!(segment = %request.segment.id, error = %e, "staged, but could not record the sync");
    }
    Ok(messages)
}

/// Adds what was staged: distinct users, users without any id (skipped),
/// and cohort-queue messages.
fn with_counts(mut body: Value, users: &Users, messages: usize) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert("staged_users".into(), users.users.len().into());
        map.insert("skipped_without_id".into(), users.without_id.into());
        map.insert("staged_messages".into(), messages.into());
    }
    body
}
