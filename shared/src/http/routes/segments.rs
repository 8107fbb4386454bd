//! `GET /v1/segments`, `/v1/segments/{segment_id}`, `.../members`
//! (docs/interface/http.md "Segments").

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::domain::page::{self, DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
use crate::domain::{Member, Segment};
use crate::error::RequestError;
use crate::http::extract::{PathParam, QueryParams};
use crate::http::{Success, Workspace};
use crate::runtime::Services;

/// `?limit=` (default 100, honoured up to 1000) and `?cursor=`.
#[derive(Deserialize)]
pub struct Paging {
    limit: Option<String>,
    cursor: Option<String>,
}

impl Paging {
    fn request(&self) -> Result<PageRequest, RequestError> {
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(MAX_LIMIT),
                _ => {
                    return Err(RequestError::bad_request(format!(
                        "limit must be a positive integer, got {text:?}"
                    )));
                }
            },
        };
        let after =
            match self.cursor.as_deref().filter(|c| !c.is_empty()) {
                None => None,
                Some(cursor) => Some(page::decode_cursor(cursor).ok_or_else(|| {
                    RequestError::bad_request("cursor is not one this API issued")
                })?),
            };
        Ok(PageRequest { limit, after })
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SegmentPage {
    segments: Vec<Segment>,
    next_cursor: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct MemberPage {
    members: Vec<Member>,
    next_cursor: Option<String>,
}

fn not_found(id: &str) -> RequestError {
    RequestError::NotFound(format!("no segment with id {id:?}"))
}

pub async fn list(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Success<SegmentPage>, RequestError> {
    let page = services
        .segments
        .list_segments(&ws.id, &paging.request()?)
        .await?;
    Ok(Success(SegmentPage {
        segments: page.items,
        next_cursor: page.next_after.as_deref().map(page::encode_cursor),
    }))
}

pub async fn get(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
) -> Result<Success<Segment>, RequestError> {
    let segment = services.segments.get_segment(&ws.id, &id).await?;
    segment.map(Success).ok_or_else(|| not_found(&id))
}

pub async fn members(
    State(services): State<Services>,
    Workspace(ws): Workspace,
    PathParam(id): PathParam,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Success<MemberPage>, RequestError> {
    let request = paging.request()?;
    if services.segments.get_segment(&ws.id, &id).await?.is_none() {
        return Err(not_found(&id));
    }
    let page = services
        .segments
        .list_members(&ws.id, &id, &request)
        .await?;
    Ok(Success(MemberPage {
        members: page.items,
        next_cursor: page.next_after.as_deref().map(page::encode_cursor),
    }))
}
