//! The privacy queue's consumer (function
//! `mparticle-ingest`, a consumer of `serve`): a request as received, which
//! the handler carries out, and the OpenDSR status callbacks, each sent on
//! the retry schedule (docs/interface/privacy.md "Processing").

use super::message::PrivacyJob;
use super::request::{Identity, PrivacyRequest, RequestKind, RequestStatus};
use super::{access, erasure, opendsr, transition};
use crate::ports::StoreResult;
use crate::queue::batch::Handled;
use crate::runtime::Services;

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
