//! `GET /v1/users/{uid}`.

use serde_json::json;

use super::{ApiError, ApiResponse, success};
use crate::config::WorkspaceConfig;
use crate::runtime::Services;

pub async fn get(
    services: &Services,
    ws: &WorkspaceConfig,
    uid: &str,
) -> Result<ApiResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("no user with uid {uid:?}"));
    let ids = services
        .profiles
        .find_by_uids(&ws.id, &[uid.to_owned()])
        .await?;
    let id = ids.get(uid).ok_or_else(not_found)?;
    let profile = services
        .profiles
        .get_profiles(&ws.id, std::slice::from_ref(id))
        .await?
        .pop()
        .ok_or_else(not_found)?;
    let segments = services.segments.segments_of(&ws.id, id).await?;
    Ok(success(json!({
        "moengage_user_id": profile.moengage_user_id,
        "uid": profile.uid,
        "attributes": profile.attributes,
        "anonymous_ids": profile.anonymous_ids,
        "segments": segments,
    })))
}
