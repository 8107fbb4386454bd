//! Deliveries (`/console/deliveries`): the delivery log newest first, one
//! row per attempt, filtered by query parameters (a filtered view is a
//! shareable URL); a row opens its request and answer.

use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use shared::delivery_log::model::{AttemptOutcome, LogEntry, LogQuery};
use shared::domain::time::now_ms;

use crate::context::Ctx;
use crate::layout::{self, Nav, badge, page, pretty, time};

const PAGE: usize = 50;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    pub stream: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub event: String,
    /// `YYYY-MM-DDTHH:MM` (UTC) or epoch ms.
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub request: String,
    #[serde(default)]
    pub before: String,
}

/// A time a filter field holds: `2026-12-01T17:38`, `2026-12-01`, or epoch ms.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let (date, clock) = text.split_once(['T', ' ']).unwrap_or((text, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse::<i64>().ok());
    let (h, min) = (
        c.next().flatten().unwrap_or(0),
        c.next().flatten().unwrap_or(0),
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 {
        return None;
    }
    // Days since the epoch (civil calendar, proleptic Gregorian).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000)
}

impl Filters {
    fn query(&self) -> LogQuery {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        LogQuery {
            stream: some(&self.stream),
            outcome: AttemptOutcome::parse(self.outcome.trim()),
            uid: some(&self.uid),
            event: some(&self.event),
            moe_request_id: some(&self.request),
            since_ms: parse_time(&self.since),
            until_ms: parse_time(&self.until),
            before: some(&self.before),
            limit: PAGE,
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("stream", self.stream.clone()),
            ("outcome", self.outcome.clone()),
            ("uid", self.uid.clone()),
            ("event", self.event.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("request", self.request.clone()),
        ]
    }

    fn any(&self) -> bool {
        self.pairs().iter().any(|(_, v)| !v.is_empty())
    }
}

fn filter_form(ctx: &Ctx, f: &Filters) -> Markup {
    html! {
        form.filters method="get" action="/console/deliveries" {
            div.field {
                label for="f-stream" { "Stream" }
                select #f-stream name="stream" {
                    option value="" { "any" }
                    @for s in &ctx.workspace.streams {
                        option value=(s.name) selected[f.stream == s.name] { (s.name) }
                    }
                }
            }
            div.field {
                label for="f-outcome" { "Outcome" }
                select #f-outcome name="outcome" {
                    option value="" { "any" }
                    @for o in AttemptOutcome::ALL {
                        option value=(o.as_str()) selected[f.outcome == o.as_str()] { (o.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-uid" { "User (uid)" }
                input #f-uid name="uid" type="text" value=(f.uid);
            }
            div.field {
                label for="f-event" { "Event (name or code)" }
                input #f-event name="event" type="text" value=(f.event);
            }
            div.field {
                label for="f-since" { "Since (UTC)" }
                input #f-since name="since" type="text" placeholder="2026-12-01T09:00" value=(f.since);
            }
            div.field {
                label for="f-until" { "Until (UTC)" }
                input #f-until name="until" type="text" placeholder="2026-12-01T18:00" value=(f.until);
            }
            @if !f.request.is_empty() {
                input type="hidden" name="request" value=(f.request);
            }
            div.field.buttons {
                button type="submit" { "Filter" }
                @if f.any() { a.button.secondary href="/console/deliveries" { "Clear" } }
            }
        }
    }
}

/// The rows of a list of attempts (also the Users page's recent deliveries).
pub fn table(entries: &[LogEntry]) -> Markup {
    html! {
        div.table-wrap {
            table {
                thead {
                    tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Stream" }
                        th scope="col" { "moe_request_id" }
                        th scope="col" { "Events" }
                        th scope="col" { "Outcome" }
                        th scope="col" class="num" { "HTTP status" }
                        th scope="col" class="num" { "Latency (ms)" }
                        th scope="col" class="num" { "Attempt" }
                    }
                }
                tbody {
                    @for e in entries {
                        tr {
                            td { a href={ "/console/deliveries/" (layout::seg(&e.id)) } { (time(e.at_ms)) } }
                            td { (e.stream) }
                            td.mono { a href={ "/console/deliveries?" (layout::query(&[("request", &e.moe_request_id)])) } { (e.moe_request_id) } }
                            td {
                                (e.events.count) " "
                                span.sub { (e.events.names.iter().take(2).cloned().collect::<Vec<_>>().join(", ")) }
                            }
                            td { (badge(e.outcome.as_str())) }
                            td.num { @if let Some(s) = e.status { (s) } @else { "–" } }
                            td.num { @if let Some(l) = e.latency_ms { (l) } @else { "–" } }
                            td.num { (e.attempt) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list(ctx: Ctx, Query(f): Query<Filters>) -> Response {
    let found = match ctx.services().delivery_log.list(ctx.ws(), &f.query()).await {
        Ok(found) => found,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let next = found.next_before.as_ref().map(|before| {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        let owned = f.pairs();
        for (k, v) in &owned {
            pairs.push((k, v));
        }
        pairs.push(("before", before));
        format!("/console/deliveries?{}", layout::query(&pairs))
    });
    let body = html! {
        (filter_form(&ctx, &f))
        @if found.entries.is_empty() {
            p.empty {
                @if f.any() || !f.before.is_empty() { "No delivery attempt matches." }
                @else { "No delivery attempt yet. Events sent to this workspace show here as each stream's receiver is called." }
            }
        } @else {
            (table(&found.entries))
        }
        nav.pager aria-label="Pages" {
            @if !f.before.is_empty() {
                a href={ "/console/deliveries?" (layout::query(&f.pairs().iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())) } { "Newest" }
            }
            @if let Some(next) = next { a href=(next) { "Older" } }
        }
        p.hint { "Kept " (ctx.services().delivery_log.retention_days()) " days. Times are UTC." }
    };
    page(&ctx, Nav::Deliveries, "Deliveries", body)
}

fn headers_table(caption: &str, headers: &[(String, String)]) -> Markup {
    html! {
        table.kv {
            caption { (caption) }
            thead { tr { th scope="col" { "Header" } th scope="col" { "Value" } } }
            tbody {
                @for (name, value) in headers {
                    tr { th scope="row" { (name) } td.mono { (value) } }
                }
            }
        }
    }
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>) -> Response {
    let log = &ctx.services().delivery_log;
    let entry = match log.entry_by_id(ctx.ws(), &id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            return layout::page_with(
                &ctx,
                Nav::Deliveries,
                "Delivery attempt",
                StatusCode::NOT_FOUND,
                html! {
                    p.empty { "No such attempt in this workspace's delivery log (it may be older than the retention)." }
                },
            );
        }
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let body = match log.store.body(ctx.ws(), &entry.moe_request_id).await {
        Ok(body) => body,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let age = (now_ms() - entry.at_ms) / 1000;
    let html = html! {
        p.back { a href="/console/deliveries" { "← Deliveries" } }
        dl.facts {
            div { dt { "Time" } dd { (time(entry.at_ms)) span.sub { " (" (age) " s ago)" } } }
            div { dt { "Stream" } dd { (entry.stream) } }
            div { dt { "moe_request_id" } dd.mono { a href={ "/console/deliveries?" (layout::query(&[("request", &entry.moe_request_id)])) } { (entry.moe_request_id) } } }
            div { dt { "Outcome" } dd { (badge(entry.outcome.as_str())) } }
            div { dt { "Attempt" } dd { (entry.attempt) } }
            div { dt { "HTTP status" } dd { @if let Some(s) = entry.status { (s) } @else { "none" } } }
            div { dt { "Latency" } dd { @if let Some(l) = entry.latency_ms { (l) " ms" } @else { "–" } } }
            @if let Some(error) = &entry.error {
                div.wide { dt { "Reason" } dd { (error) } }
            }
        }
        section aria-labelledby="events-title" {
            h2 #events-title { "Events (" (entry.events.count) ")" }
            p { "Names and codes: " (entry.events.names.join(", ")) }
            @if !entry.events.uids.is_empty() {
                p { "Users: "
                    @for (i, uid) in entry.events.uids.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/console/users?" (layout::query(&[("q", uid)])) } { (uid) }
                    }
                }
            }
            details {
                summary { "event_uuid of each event" }
                ul.mono { @for uuid in &entry.events.uuids { li { (uuid) } } }
            }
        }
        section aria-labelledby="request-title" {
            h2 #request-title { "Request" }
            @match &entry.request {
                Some(request) => {
                    p.mono { (request.method) " " (request.url) }
                    (headers_table("Request headers (secret values shown as ••••)", &request.headers))
                    h3 { "Body (" (request.body_bytes) " bytes)" }
                    @match &body {
                        Some(body) => {
                            @if body.truncated { p.hint { "Only the first 256 KiB are kept." } }
                            pre.code { (pretty(&body.body)) }
                        },
                        None => p.empty { "The body is no longer kept." },
                    }
                },
                None => p.empty { "No request was sent (" (entry.error.as_deref().unwrap_or("not sent")) ")." },
            }
        }
        section aria-labelledby="response-title" {
            h2 #response-title { "Response" }
            @match &entry.response {
                Some(response) => {
                    p { "Status " strong { (response.status) } }
                    (headers_table("Response headers", &response.headers))
                    h3 { "Body" @if response.truncated { " (first 4 KiB)" } }
                    @if response.body.is_empty() { p.empty { "(empty)" } }
                    @else { pre.code { (pretty(&response.body)) } }
                },
                None => p.empty { "No response." },
            }
        }
    };
    page(&ctx, Nav::Deliveries, "Delivery attempt", html)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn filter_times_read_as_utc() {
        assert_eq!(parse_time("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_time("2026-12-01T17:38"), Some(1_796_146_680_000));
        assert_eq!(parse_time("2026-12-01"), Some(1_796_083_200_000));
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01"), None);
    }
}
