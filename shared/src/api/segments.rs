//! `GET /v1/segments`, `/v1/segments/{id}`, `/v1/segments/{id}/members`.

use serde_json::json;

use super::{ApiError, ApiRequest, ApiResponse, query_param, success};
use crate::config::WorkspaceConfig;
use crate::domain::page::{self, DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
use crate::runtime::Services;

/// `limit` (default 100, honoured up to 1000) and `cursor` from the query.
pub fn page_request(request: &ApiRequest) -> Result<PageRequest, ApiError> {
    let limit = match query_param(request, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_LIMIT),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit must be a positive integer, got {text:?}"
                )));
            }
        },
    };
    let after = match query_param(request, "cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(
            page::decode_cursor(&cursor)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this API issued"))?,
        ),
    };
    Ok(PageRequest { limit, after })
}

pub async fn list(
    services: &Services,
    ws: &WorkspaceConfig,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let page = services
        .segments
        .list_segments(&ws.id, &page_request(request)?)
        .await?;
    Ok(success(json!({
        "segments": page.items,
        "next_cursor": page.next_after.as_deref().map(page::encode_cursor),
    })))
}

pub async fn get(
    services: &Services,
    ws: &WorkspaceConfig,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let segment = services
        .segments
        .get_segment(&ws.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no segment with id {id:?}")))?;
    Ok(success(
        serde_json::to_value(segment).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

pub async fn members(
    services: &Services,
    ws: &WorkspaceConfig,
    id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let page_request = page_request(request)?;
    if services.segments.get_segment(&ws.id, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no segment with id {id:?}")));
    }
    let page = services
        .segments
        .list_members(&ws.id, id, &page_request)
        .await?;
    Ok(success(json!({
        "members": page.items,
        "next_cursor": page.next_after.as_deref().map(page::encode_cursor),
    })))
}
