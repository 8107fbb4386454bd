//! Privacy and data lifecycle (docs/interface/privacy.md): erasure,
//! suppression, access, the OpenDSR processor and retention.
//!
//! A request is made durable before it is answered: its job (carrying the
//! identities, which are kept nowhere else) goes on the privacy queue, then
//! its record (ids, kind, state, keyed hashes) is kept. The privacy queue's
//! consumer (`job`) carries it out; every step is idempotent, so a job
//! redelivered after a crash (kill -9 mid-erasure) resumes it.

pub mod access;
pub mod erasure;
pub mod job;
pub mod keyed;
pub mod message;
pub mod opendsr;
pub mod ports;
pub mod request;
pub mod retention;
mod scrub;
pub mod settings;
pub mod suppression;

use std::sync::Arc;

use self::message::PrivacyJob;
use self::ports::{PrivacyRequestStore, SuppressionStore, UserDataStore};
use self::request::{Identity, PrivacyRequest, RequestKind, RequestStatus};
use self::settings::PrivacySettings;
use self::suppression::SuppressionCache;
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::error::{RequestError, RequestResult};
use crate::input::{check_len, limits};
use crate::observability::metrics;
use crate::ports::StoreResult;
use crate::runtime::Services;

/// The privacy concern of [`Services`]: its stores, settings and the
/// per-process suppression cache.
#[derive(Clone)]
pub struct PrivacyServices {
    pub suppressions: Arc<dyn SuppressionStore>,
    pub requests: Arc<dyn PrivacyRequestStore>,
    pub data: Arc<dyn UserDataStore>,
    pub settings: Arc<PrivacySettings>,
    pub(crate) cache: Arc<SuppressionCache>,
}

impl PrivacyServices {
    pub fn new<S>(store: Arc<S>) -> Self
    where
        S: SuppressionStore + PrivacyRequestStore + UserDataStore + 'static,
    {
        Self {
            suppressions: store.clone(),
            requests: store.clone(),
            data: store,
            settings: Arc::new(PrivacySettings::default()),
            cache: Arc::default(),
        }
    }
}

/// A uid as a request may name it: not empty, within the id limit.
pub fn check_uid(uid: &str) -> RequestResult<()> {
    if uid.is_empty() {
        return Err(RequestError::bad_request("the uid must not be empty"));
    }
    check_len("uid", uid, limits::USER_ID_BYTES)
        .map_err(|e| RequestError::bad_request(e.to_string()))
}

/// Counts and logs a request entering `status` (ids only: never a uid).
pub(crate) fn report(request: &PrivacyRequest) {
    metrics::privacy_request(
        &request.workspace_id,
        request.kind.as_str(),
        request.status.as_str(),
    );
    tracing::info!(
        workspace_id = %request.workspace_id,
        privacy_request_id = %request.id,
        kind = request.kind.as_str(),
        status = request.status.as_str(),
        "privacy request"
    );
}

/// Makes a request durable: its job first (a crash before the record is
/// kept leaves a job that keeps the record itself), then the record. Returns
/// the record kept (an earlier one with the same id wins).
pub async fn submit(
    services: &Services,
    request: PrivacyRequest,
    identities: Vec<Identity>,
) -> StoreResult<PrivacyRequest> {
    let job = PrivacyJob::Received {
        workspace_id: request.workspace_id.clone(),
        request: Box::new(request.clone()),
        identities,
    };
    services.queues.privacy.send(&[job]).await?;
    let kept = services.privacy.requests.create_request(&request).await?;
    if kept == request {
        report(&kept);
    }
    Ok(kept)
}

/// `DELETE /v1/users/{uid}`, `engage-bridge users delete`: an erasure of
/// `uid` (known or not: an unknown uid is still suppressed).
pub async fn erase_user(
    services: &Services,
    workspace: &str,
    uid: &str,
) -> RequestResult<PrivacyRequest> {
    check_uid(uid)?;
    let hash = suppression::key(services, workspace).await?.hash(uid);
    let request = PrivacyRequest::new(
        random_id(),
        workspace,
        RequestKind::Erasure,
        vec![hash],
        now_ms(),
    );
    Ok(submit(services, request, vec![Identity::Uid(uid.to_owned())]).await?)
}

/// A request of the workspace by id (another workspace's id is unknown).
pub async fn find_request(
    services: &Services,
    workspace: &str,
    id: &str,
) -> RequestResult<PrivacyRequest> {
    services
        .privacy
        .requests
        .get_request(workspace, id)
        .await?
        .ok_or_else(|| RequestError::NotFound(format!("no privacy request {id:?}")))
}

/// Moves a request from `from` to `to` (compare-and-set on the status),
/// then counts it and queues its callbacks. None when another writer moved
/// it first.
pub(crate) async fn transition(
    services: &Services,
    request: &PrivacyRequest,
    to: RequestStatus,
) -> StoreResult<Option<PrivacyRequest>> {
    let mut next = request.clone();
    next.status = to;
    next.updated_at_ms = now_ms();
    if !services
        .privacy
        .requests
        .update_request(&next, request.status)
        .await?
    {
        return Ok(None);
    }
    report(&next);
    Ok(Some(job::announce(services, next).await?))
}
