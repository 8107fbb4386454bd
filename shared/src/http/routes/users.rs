//! `GET /v1/users/{uid}` (docs/interface/http.md "Users").

use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::http::extract::PathParam;
use crate::http::{Success, Workspace};
use crate::runtime::Services;

#[derive(Serialize, schemars::JsonSchema)]
pub struct User {
    moengage_user_id: String,
    uid: Option<String>,
    attributes: Map<String, Value>,
    anonymous_ids: Vec<String>,
    segments: Vec<String>,
}

pub async fn get(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(uid): PathParam,
) -> Result<Success<User>, RequestError> {
    let not_found = || RequestError::NotFound(format!("no user with uid {uid:?}"));
    let ids = services
        .profiles
        .find_by_uids(&ws.id, std::slice::from_ref(&uid))
        .await?;
    let id = ids.get(&uid).ok_or_else(not_found)?;
    let profile = services
        .profiles
        .get_profiles(&ws.id, std::slice::from_ref(id))
        .await?
        .pop()
        .ok_or_else(not_found)?;
    let segments = services.segments.segments_of(&ws.id, id).await?;
    Ok(Success(User {
        moengage_user_id: profile.moengage_user_id,
        uid: profile.uid,
        attributes: profile.attributes,
        anonymous_ids: profile.anonymous_ids,
        segments,
    }))
}
