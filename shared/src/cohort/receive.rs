//! Receiving sync requests: Cohort Webhooks and the list API. Each request
//! is validated whole, then staged on the cohort queue and acknowledged; the
//! consumer in [`super::apply`] does the matching and applying.

use std::time::Duration;

use serde_json::{Value, json};

use super::names;
use super::payload::{CohortWebhook, ListCreate, ListMembers, Users};
use crate::config::WorkspaceConfig;
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::domain::{
    Arrival, MembershipAction, Segment, SegmentSource, StagedChanges, StagedSync, StagedUser,
};
use crate::error::{RequestError, RequestResult};
use crate::input::{parse_json, quoted};
use crate::runtime::Services;

/// `message_id`s are remembered for 8 days: Amplitude retries for minutes,
/// and the issue asks for at least 7 days of de-duplication.
pub const MESSAGE_ID_TTL: Duration = Duration::from_secs(8 * 24 * 3600);

/// `POST /v1/amplitude/cohorts`.
pub async fn receive_webhook(
    services: &Services,
    ws: &WorkspaceConfig,
    body: &[u8],
) -> RequestResult<Value> {
    let sync = parse_json::<CohortWebhook>(body)?.validate(&ws.anonymous_id_attribute)?;
    let segment = Segment::new(SegmentSource::Amplitude, &sync.cohort_id, &sync.cohort_name);
    let key = format!("amplitude:{}", sync.message_id);
    // The message_id counts as received only once the request is durably
    // staged: a crash in between leaves it free, so Amplitude's retry of
    // the unanswered request stages it (staging twice is harmless: applying
    // the same changes again changes nothing and re-announces the same uuids).
    if services.idempotency.is_recorded(&ws.id, &key).await? {
        return Ok(json!({
            "duplicate": true,
            "message": "this message_id was already received; acknowledged, not applied again",
            "message_id": sync.message_id,
            "segment_id": segment.id,
        }));
    }
    services.segments.ensure_segment(&ws.id, &segment).await?;
    let arrival = arrive(services, &ws.id, &segment.id).await?;
    let staged = StagedSync {
        workspace_id: ws.id.clone(),
        segment_id: segment.id.clone(),
        cohort_id: segment.cohort_id.clone(),
        cohort_name: segment.name.clone(),
        action: sync.action,
        computed_time: sync.computed_time,
        time_ms: None,
        sequence: arrival.first_seq,
        message_id: Some(sync.message_id.clone()),
    };
    let messages = stage_and_record(services, &staged, &sync.users.users).await?;
    services
        .idempotency
        .record(&ws.id, &key, MESSAGE_ID_TTL)
        .await?;
    Ok(with_counts(
        json!({
            "duplicate": false,
            "message_id": sync.message_id,
            "segment_id": segment.id,
            "action": sync.action.as_str(),
            "computed_time": sync.computed_time,
        }),
        &sync.users,
        messages,
    ))
}

/// `POST /v1/amplitude/lists`: creates (or finds) the cohort's segment.
pub async fn create_list(
    services: &Services,
    ws: &WorkspaceConfig,
    body: &[u8],
) -> RequestResult<Value> {
    let body: ListCreate = parse_json(body)?;
    let (name, cohort_id) =
        names::parse_list_name(&body.name).map_err(|e| RequestError::bad_request(e.to_string()))?;
    names::check_cohort_name(name).map_err(|e| RequestError::bad_request(e.to_string()))?;
    super::payload::check_cohort_id(cohort_id)?;
    let segment = services
        .segments
        .ensure_segment(
            &ws.id,
            &Segment::new(SegmentSource::Amplitude, cohort_id, name),
        )
        .await?;
    Ok(json!({"listId": segment.id, "list_id": segment.id}))
}

/// `POST /v1/amplitude/lists/{list_id}/add` and `/remove`: stages the
/// change, versioned by its arrival alone (docs/rules/member-matching.md
/// "Ordering: versions").
pub async fn change_list(
    services: &Services,
    ws: &WorkspaceConfig,
    list_id: &str,
    action: MembershipAction,
    body: &[u8],
) -> RequestResult<Value> {
    let users = parse_json::<ListMembers>(body)?.validate()?;
    let segment = services
        .segments
        .get_segment(&ws.id, list_id)
        .await?
        .filter(|s| s.source == SegmentSource::Amplitude)
        .ok_or_else(|| {
            RequestError::NotFound(format!("no Amplitude list with id {}", quoted(list_id)))
        })?;
    let arrival = arrive(services, &ws.id, &segment.id).await?;
    let computed_time = arrival.time_ms.div_euclid(1000);
    let staged = StagedSync {
        workspace_id: ws.id.clone(),
        segment_id: segment.id.clone(),
        cohort_id: segment.cohort_id.clone(),
        cohort_name: segment.name.clone(),
        action,
        computed_time,
        time_ms: Some(arrival.time_ms),
        sequence: arrival.first_seq,
        message_id: None,
    };
    let messages = stage_and_record(services, &staged, &users.users).await?;
    Ok(with_counts(
        json!({
            "listId": segment.id,
            "list_id": segment.id,
            "action": action.as_str(),
            "computed_time": computed_time,
            "time_ms": arrival.time_ms,
        }),
        &users,
        messages,
    ))
}

/// Takes the request's place in the segment's arrival order: one sequence
/// number, since every change of a cohort request has the same action.
async fn arrive(services: &Services, workspace: &str, segment_id: &str) -> RequestResult<Arrival> {
    Ok(services
        .segments
        .reserve_arrivals(workspace, segment_id, 1, now_ms())
        .await?)
}

/// Stages the request on the cohort queue in one send (so when it returns
/// Ok, the whole request is durably queued), then counts the sync on the
/// segment. Once staged, the request is acknowledged even if the statistics
/// update fails: the changes are safe, and failing would make Amplitude send
/// them again.
async fn stage_and_record(
    services: &Services,
    sync: &StagedSync,
    users: &[StagedUser],
) -> RequestResult<usize> {
    let messages = StagedChanges::pack(sync, users);
    let count = messages.len();
    services.queues.cohort.send_encoded(messages).await?;
    let at = rfc3339_ms(now_ms());
    if let Err(e) = services
        .segments
        .record_sync(&sync.workspace_id, &sync.segment_id, &at)
        .await
    {
        tracing::warn!(segment = %sync.segment_id, error = %e, "staged, but could not record the sync");
    }
    Ok(count)
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
