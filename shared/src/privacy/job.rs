//! The privacy queue's messages and their consumer (function
//! `mparticle-ingest`, a consumer of `serve`): a request as received, which
//! the handler carries out, and the OpenDSR status callbacks, each sent on
//! the retry schedule (docs/interface/privacy.md "Processing").

use serde::{Deserialize, Serialize};

use super::request::{Identity, PrivacyRequest, RequestKind, RequestStatus};
use super::{access, erasure, opendsr, transition};
use crate::domain::ids::derived_uuid;
use crate::ports::StoreResult;
use crate::queue::QueueMessage;
use crate::queue::batch::Handled;
use crate::runtime::Services;
use crate::topology::QueueName;

/// A privacy-queue message. Only this message holds the identities of a
/// request (never its record), until the request is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum PrivacyJob {
    /// A request to carry out; the record is kept from it if absent.
    Received {
        workspace_id: String,
        request: Box<PrivacyRequest>,
        identities: Vec<Identity>,
    },
    /// One OpenDSR status callback to one URL.
    Callback {
        workspace_id: String,
        request_id: String,
        url: String,
        status: RequestStatus,
    },
}

impl QueueMessage for PrivacyJob {
    const QUEUE: QueueName = QueueName::Privacy;
}

/// Jobs of one privacy-queue batch handled at once.
pub const MESSAGE_CONCURRENCY: usize = 4;

/// The consumer of the privacy queue.
pub async fn handle(services: &Services, job: PrivacyJob) -> Handled {
    let outcome = match &job {
        PrivacyJob::Received {
            request,
            identities,
            ..
        } => received(services, request, identities).await,
        PrivacyJob::Callback { .. } => opendsr::callback::send(services, &job).await,
    };
    outcome.unwrap_or_else(|e| Handled::Failed(e.to_string()))
}

async fn received(
    services: &Services,
    request: &PrivacyRequest,
    identities: &[Identity],
) -> StoreResult<Handled> {
    let stored = services.privacy.requests.create_request(request).await?;
    let started = match stored.status {
        RequestStatus::Completed | RequestStatus::Cancelled => return Ok(Handled::Done),
        RequestStatus::InProgress => stored,
        // Its callbacks first: `pending` is announced when the work starts.
        // A cancellation may win the race to start: then nothing is done.
        RequestStatus::Pending => {
            let pending = announce(services, stored).await?;
            match transition(services, &pending, RequestStatus::InProgress).await? {
                Some(started) => started,
                None => return Ok(Handled::Done),
            }
        }
    };
    let done = match started.kind {
        RequestKind::Erasure => erasure::run(services, &started, identities).await?,
        RequestKind::Access => access::prepare_results(services, &started, identities).await?,
    };
    transition(services, &done, RequestStatus::Completed).await?;
    Ok(Handled::Done)
}

/// Queues the callbacks of the request's current status, once: the
/// statuses announced are kept with the request, so a job redelivered
/// after a crash queues what is missing (at least once, as OpenDSR asks).
pub(crate) async fn announce(
    services: &Services,
    mut request: PrivacyRequest,
) -> StoreResult<PrivacyRequest> {
    let urls = request
        .opendsr
        .as_ref()
        .map(|o| o.status_callback_urls.clone())
        .unwrap_or_default();
    if urls.is_empty() || request.announced.contains(&request.status) {
        return Ok(request);
    }
    let jobs: Vec<PrivacyJob> = urls
        .into_iter()
        .map(|url| PrivacyJob::Callback {
            workspace_id: request.workspace_id.clone(),
            request_id: request.id.clone(),
            url,
            status: request.status,
        })
        .collect();
    services.queues.privacy.send(&jobs).await?;
    request.announced.push(request.status);
    // A lost race only means another writer moved the status on; its own
    // announcement follows.
    services
        .privacy
        .requests
        .update_request(&request, request.status)
        .await?;
    Ok(request)
}

/// The attempt-log key of one callback (its attempts, across receives).
pub(crate) fn callback_key(request_id: &str, url: &str, status: RequestStatus) -> String {
    derived_uuid(&["opendsr-callback", request_id, url, status.as_str()])
}

/// Keeps a job that will not be retried, with why (ERROR line, counted).
pub(crate) async fn dead_letter(
    services: &Services,
    job: &PrivacyJob,
    reason: crate::dead_letters::Reason,
) -> StoreResult<()> {
    let body =
        serde_json::to_string(job).map_err(crate::ports::StoreError::encode("a privacy job"))?;
    let letter = crate::dead_letters::message(QueueName::Privacy, body, 0, reason);
    crate::dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await
}
