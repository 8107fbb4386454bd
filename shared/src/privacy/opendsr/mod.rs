//! The OpenDSR processor (docs/interface/privacy.md "OpenDSR"): mParticle's
//! Data Subject Request forwarding, and any OpenDSR controller, submit
//! erasure and access requests; engage-bridge answers, tracks and calls
//! back, signing with `[privacy] signing_key`.

pub mod callback;
mod read;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};

pub use read::{OpenDsrError, Submitted, read_request};

use super::request::{OpenDsrDetails, PrivacyRequest, RequestKind, RequestStatus};
use super::settings::PrivacySettings;
use super::{find_request, submit, suppression, transition};
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::runtime::Services;

/// The OpenDSR API version answered.
pub const API_VERSION: &str = "3.0";
pub const SIGNATURE_HEADER: &str = "x-opendsr-signature";
pub const DOMAIN_HEADER: &str = "x-opendsr-processor-domain";
/// What a request's answer promises: erasures end within seconds (the
/// suppression grace and the steps), access within less.
pub const EXPECTED_WITHIN: Duration = Duration::from_secs(3600);

/// `GET /v1/opendsr/discovery`.
pub fn discovery(settings: &PrivacySettings) -> Value {
    json!({
        "api_version": API_VERSION,
        "supported_identities": [
            {"identity_type": "controller_customer_id", "identity_format": "raw"},
            {"identity_type": "email", "identity_format": "raw"},
        ],
        "supported_subject_request_types": ["erasure", "access"],
        "processor_certificate": settings.processor_certificate_url,
    })
}

/// The headers that sign an OpenDSR body (none without a key).
pub fn signature_headers(settings: &PrivacySettings, body: &[u8]) -> Vec<(&'static str, String)> {
    let Some(key) = &settings.signing_key else {
        return Vec::new();
    };
    let mut headers = vec![(SIGNATURE_HEADER, key.sign_base64(body))];
    if let Some(domain) = &settings.processor_domain {
        headers.push((DOMAIN_HEADER, domain.clone()));
    }
    headers
}

/// The `201` answer to a request (the same for a repeated one).
#[derive(Debug, Serialize)]
pub struct Created {
    pub controller_id: String,
    pub subject_request_id: String,
    pub received_time: String,
    pub expected_completion_time: String,
    pub encoded_request: String,
}

/// `POST /v1/opendsr/requests`: reads the request, keeps it once per
/// `subject_request_id`, and answers.
pub async fn create(
    services: &Services,
    workspace: &str,
    body: &[u8],
) -> Result<Created, OpenDsrError> {
    let submitted = read_request(body)?;
    let existing = services
        .privacy
        .requests
        .get_request(workspace, &submitted.subject_request_id)
        .await?;
    let kept = match existing {
        Some(existing) => existing,
        None => {
            let key = suppression::key(services, workspace).await?;
            let now = now_ms();
            let mut request = PrivacyRequest::new(
                submitted.subject_request_id.clone(),
                workspace,
                submitted.kind,
                submitted
                    .identities
                    .iter()
                    .map(|i| key.hash(i.value()))
                    .collect(),
                now,
            );
            request.opendsr = Some(OpenDsrDetails {
                received_time: rfc3339_ms(now),
                expected_completion_time: rfc3339_ms(now + EXPECTED_WITHIN.as_millis() as i64),
                status_callback_urls: submitted.status_callback_urls.clone(),
                api_version: submitted.api_version.clone(),
            });
            submit(services, request, submitted.identities).await?
        }
    };
    let details = details(&kept);
    Ok(Created {
        controller_id: kept.workspace_id,
        subject_request_id: kept.id,
        received_time: details.received_time,
        expected_completion_time: details.expected_completion_time,
        encoded_request: STANDARD.encode(body),
    })
}

/// What a request's answers show, also for requests made through the API.
fn details(request: &PrivacyRequest) -> OpenDsrDetails {
    request.opendsr.clone().unwrap_or_else(|| OpenDsrDetails {
        received_time: rfc3339_ms(request.created_at_ms),
        expected_completion_time: rfc3339_ms(
            request.created_at_ms + EXPECTED_WITHIN.as_millis() as i64,
        ),
        status_callback_urls: Vec::new(),
        api_version: None,
    })
}

/// Where an access request's results are served: absolute under
/// `[server] public_url`, else a path on the host asked.
pub fn results_url(settings: &PrivacySettings, request: &PrivacyRequest) -> Option<String> {
    let ready = request.kind == RequestKind::Access && request.status == RequestStatus::Completed;
    ready.then(|| {
        let base = settings
            .public_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        format!("{base}/v1/opendsr/requests/{}/results", request.id)
    })
}

/// A request's status, as `GET /v1/opendsr/requests/{id}` answers and
/// callbacks say it.
#[derive(Debug, Serialize)]
pub struct Status {
    pub controller_id: String,
    pub subject_request_id: String,
    pub request_status: RequestStatus,
    pub expected_completion_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Callbacks only: the URL called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_callback_url: Option<String>,
}

pub fn status_of(settings: &PrivacySettings, request: &PrivacyRequest) -> Status {
    let details = details(request);
    Status {
        controller_id: request.workspace_id.clone(),
        subject_request_id: request.id.clone(),
        request_status: request.status,
        expected_completion_time: details.expected_completion_time,
        results_url: results_url(settings, request),
        api_version: details.api_version,
        status_callback_url: None,
    }
}

/// `GET /v1/opendsr/requests/{id}`.
pub async fn status(
    services: &Services,
    workspace: &str,
    id: &str,
) -> Result<Status, OpenDsrError> {
    let request = find_request(services, workspace, id).await?;
    Ok(status_of(&services.privacy.settings, &request))
}

/// The `202` answer to a cancellation.
#[derive(Debug, Serialize)]
pub struct Cancelled {
    pub controller_id: String,
    pub subject_request_id: String,
    pub received_time: String,
    pub api_version: &'static str,
}

/// `DELETE /v1/opendsr/requests/{id}`: only a pending request can be
/// cancelled (`405` otherwise).
pub async fn cancel(
    services: &Services,
    workspace: &str,
    id: &str,
) -> Result<Cancelled, OpenDsrError> {
    let request = find_request(services, workspace, id).await?;
    let not_pending = |status: RequestStatus| {
        OpenDsrError::NotAllowed(format!(
            "the request is {}; only a pending request can be cancelled",
            status.as_str()
        ))
    };
    if request.status != RequestStatus::Pending {
        return Err(not_pending(request.status));
    }
    if transition(services, &request, RequestStatus::Cancelled)
        .await?
        .is_none()
    {
        let now = find_request(services, workspace, id).await?;
        return Err(not_pending(now.status));
    }
    Ok(Cancelled {
        controller_id: workspace.to_owned(),
        subject_request_id: id.to_owned(),
        received_time: rfc3339_ms(now_ms()),
        api_version: API_VERSION,
    })
}
