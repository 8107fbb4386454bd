//! Access (docs/interface/privacy.md "Access"): everything engage-bridge
//! holds for a user as one JSON document — `GET /v1/users/{uid}/export`,
//! `engage-bridge users export`, and an OpenDSR access request's results.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::erasure::{USER_DELETED_CODE, USER_DELETED_NAME, resolve};
use super::request::{AccessSubject, Identity, PrivacyRequest, Target};
use super::{scrub, suppression};
use crate::delivery_log::model::LogQuery;
use crate::domain::ids::moengage_user_id;
use crate::domain::page::{MAX_LIMIT, PageRequest};
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::domain::{Event, ProfileKey};
use crate::ports::StoreResult;
use crate::runtime::Services;

/// How long an OpenDSR access request's results stay available; its
/// subject (the identities, in clear) is forgotten then, or as soon as one
/// of its users is erased.
pub const RESULTS_AVAILABLE: Duration = Duration::from_secs(14 * 24 * 3600);

#[derive(Debug, Serialize)]
pub struct Export {
    pub uid: Option<String>,
    pub profile: Option<ExportProfile>,
    pub identities: Identities,
    pub segments: Vec<ExportSegment>,
    /// The delivery log's attempts that carried events of the user.
    pub deliveries: Vec<ExportDelivery>,
    pub dead_letters: Vec<ExportDeadLetter>,
    /// When the uid was suppressed (erased), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ExportProfile {
    pub moengage_user_id: String,
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Serialize)]
pub struct Identities {
    pub uid: Option<String>,
    pub moengage_user_id: Option<String>,
    pub anonymous_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct ExportSegment {
    pub id: String,
    pub name: Option<String>,
    pub source: Option<&'static str>,
}

/// One delivery attempt, as far as it is the user's: the request's other
/// users and bodies are not theirs to see.
#[derive(Debug, Serialize)]
pub struct ExportDelivery {
    pub id: String,
    pub at: String,
    pub stream: String,
    pub moe_request_id: String,
    pub outcome: &'static str,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Event names and codes of the request.
    pub events: Vec<String>,
}

/// The most deliveries an export lists (the newest; the log keeps
/// `[console] delivery_log_days` of them).
pub const MAX_DELIVERIES: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct ExportDeadLetter {
    pub id: String,
    pub kept_at: String,
    pub reason: String,
    pub events: Vec<Event>,
}

/// The export of `uid`, or None when nothing is held.
pub async fn export_user(
    services: &Services,
    workspace: &str,
    uid: &str,
) -> StoreResult<Option<Export>> {
    let target = Target {
        uid: Some(uid.to_owned()),
        moengage_user_id: moengage_user_id(workspace, &ProfileKey::Uid(uid.to_owned())),
    };
    export_target(services, workspace, &target).await
}

/// The export of one user (a uid, or a profile without one).
pub async fn export_target(
    services: &Services,
    workspace: &str,
    target: &Target,
) -> StoreResult<Option<Export>> {
    let id = &target.moengage_user_id;
    let profile = services
        .profiles
        .get_profiles(workspace, std::slice::from_ref(id))
        .await?
        .pop();
    let mut segments = Vec::new();
    if profile.is_some() {
        for segment_id in services.segments.segments_of(workspace, id).await? {
            let segment = services
                .segments
                .get_segment(workspace, &segment_id)
                .await?;
            segments.push(ExportSegment {
                name: segment.as_ref().map(|s| s.name.clone()),
                source: segment.as_ref().map(|s| s.source.name()),
                id: segment_id,
            });
        }
    }
    let erased = scrub::Erased::new(workspace, std::slice::from_ref(target), profile.as_slice());
    let dead_letters = dead_letters_of(services, &erased).await?;
    let deliveries = match &target.uid {
        Some(uid) => deliveries_of(services, workspace, uid).await?,
        None => Vec::new(),
    };
    if profile.is_none() && dead_letters.is_empty() && deliveries.is_empty() {
        return Ok(None);
    }
    let suppressed_since = match &target.uid {
        Some(uid) => suppression::since(services, workspace, uid)
            .await?
            .map(rfc3339_ms),
        None => None,
    };
    let attribute = |name: &str| {
        profile
            .as_ref()
            .and_then(|p| p.attributes.get(name).cloned())
    };
    Ok(Some(Export {
        uid: target.uid.clone(),
        identities: Identities {
            uid: target.uid.clone(),
            moengage_user_id: profile.as_ref().map(|p| p.moengage_user_id.clone()),
            anonymous_ids: profile
                .as_ref()
                .map(|p| p.anonymous_ids.clone())
                .unwrap_or_default(),
            email: attribute("email"),
            mobile: attribute("mobile"),
        },
        profile: profile.map(|p| ExportProfile {
            moengage_user_id: p.moengage_user_id,
            attributes: p.attributes,
        }),
        segments,
        deliveries,
        dead_letters,
        suppressed_since,
    }))
}

/// The delivery log's entries naming `uid`, newest first.
async fn deliveries_of(
    services: &Services,
    workspace: &str,
    uid: &str,
) -> StoreResult<Vec<ExportDelivery>> {
    let mut query = LogQuery {
        uid: Some(uid.to_owned()),
        limit: 500,
        ..LogQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let page = services.delivery_log.list(workspace, &query).await?;
        // The `User Deleted` event's own records are the erasure's, kept
        // for its receivers (docs/interface/privacy.md "Access").
        let of_the_user = page.entries.into_iter().filter(|e| {
            !e.events
                .names
                .iter()
                .all(|n| n == USER_DELETED_NAME || n == USER_DELETED_CODE)
        });
        out.extend(of_the_user.map(|e| ExportDelivery {
            at: rfc3339_ms(e.at_ms),
            outcome: e.outcome.as_str(),
            id: e.id,
            stream: e.stream,
            moe_request_id: e.moe_request_id,
            attempt: e.attempt,
            status: e.status,
            events: e.events.names,
        }));
        match page.next_before {
            Some(before) if out.len() < MAX_DELIVERIES => query.before = Some(before),
            _ => break,
        }
    }
    out.truncate(MAX_DELIVERIES);
    Ok(out)
}

async fn dead_letters_of(
    services: &Services,
    erased: &scrub::Erased,
) -> StoreResult<Vec<ExportDeadLetter>> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let found = services.dead_letters.list_dead_letters(&page).await?;
        for kept in found.items {
            let events = scrub::events_of(&kept.letter, erased);
            if !events.is_empty() {
                out.push(ExportDeadLetter {
                    id: kept.id,
                    kept_at: rfc3339_ms(kept.at_ms),
                    reason: kept.letter.reason().to_owned(),
                    events,
                });
            }
        }
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}

/// An OpenDSR access request: its users are resolved now and kept (the
/// subject) until its results expire.
pub async fn prepare_results(
    services: &Services,
    request: &PrivacyRequest,
    identities: &[Identity],
) -> StoreResult<PrivacyRequest> {
    let ws = &request.workspace_id;
    let targets = resolve(services, ws, identities).await?;
    let key = suppression::key(services, ws).await?;
    let hashes = identities
        .iter()
        .map(|i| key.hash(i.value()))
        .chain(
            targets
                .iter()
                .filter_map(|t| t.uid.as_deref())
                .map(|u| key.hash(u)),
        )
        .collect();
    let subject = AccessSubject {
        identities: identities.to_vec(),
        targets,
        hashes,
        expires_at_ms: now_ms() + RESULTS_AVAILABLE.as_millis() as i64,
    };
    services
        .privacy
        .requests
        .put_access_subject(ws, &request.id, &subject)
        .await?;
    Ok(request.clone())
}

/// The results of an access request: the export of its one user, or of
/// each when its identities named several; None when nothing is held (or
/// the results expired, or the user was erased since).
pub async fn results(
    services: &Services,
    workspace: &str,
    request_id: &str,
) -> StoreResult<Option<Value>> {
    let Some(subject) = services
        .privacy
        .requests
        .access_subject(workspace, request_id)
        .await?
    else {
        return Ok(None);
    };
    let mut exports = Vec::new();
    for target in &subject.targets {
        if let Some(export) = export_target(services, workspace, target).await? {
            exports.push(
                serde_json::to_value(export)
                    .map_err(crate::ports::StoreError::encode("an export"))?,
            );
        }
    }
    let mut document = match exports.len() {
        0 => return Ok(None),
        1 => exports.remove(0),
        _ => serde_json::json!({ "exports": exports }),
    };
    document["status"] = Value::from("success");
    Ok(Some(document))
}
