//! OpenDSR status callbacks (docs/interface/privacy.md "Callbacks"): one
//! `POST` per status change and callback URL, signed, through the stream
//! client (so the destination guard applies) and on the retry schedule;
//! after the last retry the callback is a dead letter.

use std::time::Duration;

use super::{Status, signature_headers, status_of};
use crate::dead_letters::Reason;
use crate::domain::Attempt;
use crate::domain::ids::derived_uuid;
use crate::observability::metrics;
use crate::ports::StoreResult;
use crate::privacy::message::PrivacyJob;
use crate::privacy::request::RequestStatus;
use crate::queue::batch::Handled;
use crate::runtime::Services;
use crate::topology::QueueName;

/// The `stream` label of callback attempts in logs and metrics.
pub const STREAM_LABEL: &str = "opendsr-callback";
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one callback job; `RetryIn` the schedule's next delay when it failed.
pub async fn send(services: &Services, job: &PrivacyJob) -> StoreResult<Handled> {
    let PrivacyJob::Callback {
        workspace_id,
        request_id,
        url,
        status,
    } = job
    else {
        return Ok(Handled::Done);
    };
    let Some(request) = services
        .privacy
        .requests
        .get_request(workspace_id, request_id)
        .await?
    else {
        tracing::warn!(workspace_id, privacy_request_id = %request_id,
            "callback of an unknown privacy request dropped");
        return Ok(Handled::Done);
    };
    let settings = &services.privacy.settings;
    let body = serde_json::to_vec(&Status {
        request_status: *status,
        status_callback_url: Some(url.clone()),
        ..status_of(settings, &request)
    })
    .map_err(crate::ports::StoreError::encode("an OpenDSR callback"))?;
    let mut call = services
        .http()
        .builder()
        .post(url)
        .timeout(TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in signature_headers(settings, &body) {
        call = call.header(name, value);
    }
    let failure = match services.http().send(call.body(body)).await {
        Ok(response) if response.status().is_success() => None,
        Ok(response) if response.status().is_redirection() => Some(Attempt::answered(
            response.status().as_u16(),
            "the callback URL redirects, and redirects are not followed",
        )),
        Ok(response) => Some(Attempt::answered(
            response.status().as_u16(),
            format!("HTTP {}", response.status().as_u16()),
        )),
        Err(e) => Some(Attempt::unanswered(e.kind(), e.to_string())),
    };
    let key = callback_key(request_id, url, *status);
    let attempts = &services.attempts;
    let Some(failure) = failure else {
        attempts.clear_attempts(workspace_id, &key).await?;
        tracing::info!(workspace_id, privacy_request_id = %request_id, status = status.as_str(),
            "OpenDSR callback delivered");
        return Ok(Handled::Done);
    };
    let logged = attempts.attempts(workspace_id, &key).await?;
    if !attempts
        .append_attempt(workspace_id, &key, logged.len(), &failure)
        .await?
    {
        // Another receipt of this same job counted this attempt.
        return Ok(Handled::Done);
    }
    failed(services, job, workspace_id, &key, logged.len() + 1, failure).await
}

/// Counts and logs a failed attempt (`made` so far, this one included), then
/// schedules the next or dead-letters the callback.
async fn failed(
    services: &Services,
    job: &PrivacyJob,
    workspace_id: &str,
    key: &str,
    made: usize,
    failure: Attempt,
) -> StoreResult<Handled> {
    let schedule = &services.retry_schedule;
    let next = schedule.delay(made - 1, Duration::ZERO);
    metrics::attempt_failed(workspace_id, STREAM_LABEL, &failure.status_label());
    tracing::warn!(
        workspace_id,
        stream = STREAM_LABEL,
        attempt = made,
        of = schedule.retries() + 1,
        error = %failure.error,
        next_delay_seconds = next.map(|d| d.as_secs()),
        "OpenDSR callback failed"
    );
    match next {
        Some(delay) => Ok(Handled::RetryIn(delay)),
        None => {
            let reason = Reason::GaveUp {
                retries: schedule.retries(),
                last_error: failure.error.clone(),
            };
            dead_letter(services, job, reason).await?;
            services.attempts.clear_attempts(workspace_id, key).await?;
            Ok(Handled::Done)
        }
    }
}

/// The attempt-log key of one callback (its attempts, across receives).
fn callback_key(request_id: &str, url: &str, status: RequestStatus) -> String {
    derived_uuid(&["opendsr-callback", request_id, url, status.as_str()])
}

/// Keeps a job that will not be retried, with why (ERROR line, counted).
async fn dead_letter(
    services: &Services,
    job: &PrivacyJob,
    reason: crate::dead_letters::Reason,
) -> StoreResult<()> {
    let body =
        serde_json::to_string(job).map_err(crate::ports::StoreError::encode("a privacy job"))?;
    let letter = crate::dead_letters::message(QueueName::Privacy, body, 0, reason);
    crate::dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await
}
