//! Segments (`/console/segments`): the workspace's segments; a segment's
//! page lists its members (paged) and its sync history.

use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use maud::html;
use serde::Deserialize;
use shared::domain::PageRequest;

use crate::context::Ctx;
use crate::layout::{self, Nav, count, page, time, time_text};

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct Paging {
    #[serde(default)]
    after: String,
}

fn request(p: &Paging) -> PageRequest {
    PageRequest {
        limit: PAGE,
        after: (!p.after.is_empty()).then(|| p.after.clone()),
    }
}

pub async fn list(ctx: Ctx, Query(p): Query<Paging>) -> Response {
    let found = match ctx
        .services()
        .segments
        .list_segments(ctx.ws(), &request(&p))
        .await
    {
        Ok(found) => found,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let body = html! {
        @if found.items.is_empty() {
            p.empty { "No segments yet. Amplitude cohort syncs and mParticle audiences create them." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Name" }
                    th scope="col" { "Source" }
                    th scope="col" { "Type" }
                    th scope="col" class="num" { "member_count" }
                    th scope="col" { "last_synced_at" }
                    th scope="col" class="num" { "sync_count" }
                } }
                tbody {
                    @for s in &found.items {
                        tr {
                            th scope="row" { a href={ "/console/segments/" (layout::seg(&s.id)) } { (s.name) } div.sub.mono { (s.id) } }
                            td { (s.source.name()) }
                            td { (s.source.segment_type()) }
                            td.num { (count(s.member_count.max(0) as u64)) }
                            td { @match &s.last_synced_at { Some(at) => (time_text(at)), None => span.quiet { "never" } } }
                            td.num { (count(s.sync_count.max(0) as u64)) }
                        }
                    }
                }
            } }
        }
        @if let Some(next) = &found.next_after {
            nav.pager aria-label="Pages" { a href={ "/console/segments?" (layout::query(&[("after", next)])) } { "Next" } }
        }
    };
    page(&ctx, Nav::Segments, "Segments", body)
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>, Query(p): Query<Paging>) -> Response {
    let services = ctx.services();
    let segment = match services.segments.get_segment(ctx.ws(), &id).await {
        Ok(Some(segment)) => segment,
        Ok(None) => {
            return layout::page_with(
                &ctx,
                Nav::Segments,
                "Segment",
                StatusCode::NOT_FOUND,
                html! {
                    p.empty { "This workspace has no such segment." }
                },
            );
        }
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let members_page = request(&p);
    let read = futures::try_join!(
        services.segments.list_members(ctx.ws(), &id, &members_page),
        services.delivery_log.store.syncs(ctx.ws(), &id, 50),
    );
    let (members, syncs) = match read {
        Ok(read) => read,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let body = html! {
        p.back { a href="/console/segments" { "← Segments" } }
        dl.facts {
            div { dt { "Id" } dd.mono { (segment.id) } }
            div { dt { "Source" } dd { (segment.source.name()) " (" (segment.cohort_id) ")" } }
            div { dt { "member_count" } dd { (count(segment.member_count.max(0) as u64)) } }
            div { dt { "sync_count" } dd { (count(segment.sync_count.max(0) as u64)) } }
            div { dt { "last_synced_at" } dd { @match &segment.last_synced_at { Some(at) => (time_text(at)), None => "never" } } }
        }
        section aria-labelledby="members-title" {
            h2 #members-title { "Members" }
            @if members.items.is_empty() {
                p.empty { "No members." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "uid" } th scope="col" { "Anonymous id" } th scope="col" { "moengage_user_id" } } }
                    tbody {
                        @for m in &members.items {
                            tr {
                                td { @match &m.uid { Some(uid) => a href={ "/console/users?" (layout::query(&[("q", uid)])) } { (uid) }, None => span.quiet { "–" } } }
                                td.mono { (m.moe_anonymous_id.as_deref().unwrap_or("–")) }
                                td.mono { (m.moengage_user_id) }
                            }
                        }
                    }
                } }
            }
            nav.pager aria-label="Member pages" {
                @if !p.after.is_empty() { a href={ "/console/segments/" (layout::seg(&id)) } { "First" } }
                @if let Some(next) = &members.next_after {
                    a href={ "/console/segments/" (layout::seg(&id)) "?" (layout::query(&[("after", next)])) } { "Next" }
                }
            }
        }
        section aria-labelledby="syncs-title" {
            h2 #syncs-title { "Sync history" }
            @if syncs.is_empty() {
                p.empty { "No sync recorded within the retention." }
            } @else {
                div.table-wrap { table {
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "message_id" } th scope="col" { "Action" }
                        th scope="col" class="num" { "Users" } th scope="col" class="num" { "Applied" }
                        th scope="col" class="num" { "Created" } th scope="col" class="num" { "Dropped" }
                        th scope="col" class="num" { "Duplicates" }
                    } }
                    tbody {
                        @for s in &syncs {
                            tr {
                                td { (time(s.at_ms)) }
                                td.mono { (s.message_id.as_deref().unwrap_or("–")) }
                                td { (s.action) }
                                td.num { (s.users) } td.num { (s.applied) } td.num { (s.created) }
                                td.num { (s.dropped) } td.num { (s.duplicates) }
                            }
                        }
                    }
                } }
            }
        }
    };
    page(&ctx, Nav::Segments, &segment.name, body)
}
