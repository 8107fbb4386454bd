//! Dead letters (`/console/dead-letters`): list and detail; replay one,
//! the selected ones or all matching the filter (a preview first, then
//! Confirm), discard with a confirmation; large replays show progress.
//! Replays are `dlq replay`'s (`shared::streams::dlq::replay`), always
//! within the signed-in workspace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra_form::Form;
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use shared::domain::DeadLetter;
use shared::streams::dlq::{self, Filter, Listing};

use crate::context::Ctx;
use crate::layout::{self, Nav, csrf, page, pretty, time_text};
use crate::session;

/// Axum's `Form` reads repeated keys (`id=a&id=b`) only through a sequence
/// field: the selection is parsed from the raw pairs instead.
mod axum_extra_form {
    use axum::extract::{FromRequest, Request};
    use axum::response::{IntoResponse, Response};

    pub struct Form(pub Vec<(String, String)>);

    impl<S: Send + Sync> FromRequest<S> for Form {
        type Rejection = Response;

        async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
            let bytes = axum::body::Bytes::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(
                url::form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ))
        }
    }

    impl Form {
        pub fn get(&self, key: &str) -> &str {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map_or("", |(_, v)| v.as_str())
        }

        pub fn all(&self, key: &str) -> Vec<String> {
            self.0
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect()
        }
    }
}

/// A selection awaiting Confirm, and replays under way.
#[derive(Default)]
pub struct Jobs {
    selections: Mutex<HashMap<String, Selection>>,
    replays: Mutex<HashMap<String, Arc<Mutex<Progress>>>>,
}

struct Selection {
    session: String,
    workspace: String,
    ids: Vec<String>,
    made: Instant,
}

#[derive(Clone, Default)]
struct Progress {
    session: String,
    workspace: String,
    done: usize,
    total: usize,
    finished: bool,
    error: Option<String>,
}

const SELECTION_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    stream: String,
    #[serde(default)]
    reason: String,
}

/// This workspace's dead letters matching the filter.
async fn matching(
    ctx: &Ctx,
    stream: &str,
    reason: &str,
) -> Result<Vec<(Listing, DeadLetter)>, Response> {
    let filter = Filter {
        workspace: Some(ctx.ws().to_owned()),
        stream: (!stream.is_empty()).then(|| stream.to_owned()),
        ids: Vec::new(),
    };
    let found = dlq::selected(ctx.services(), &filter)
        .await
        .map_err(|e| layout::failure(&ctx.console, &e.to_string()))?;
    let reason = reason.trim().to_lowercase();
    Ok(found
        .into_iter()
        .filter(|(l, _)| reason.is_empty() || l.reason.to_lowercase().contains(&reason))
        .collect())
}

fn first_last(listing: &Listing) -> (Markup, Markup) {
    match (listing.attempts.first(), listing.attempts.last()) {
        (Some(first), Some(last)) => (time_text(&first.at), time_text(&last.at)),
        _ => (
            html! { span.quiet { "none" } },
            html! { span.quiet { "none" } },
        ),
    }
}

pub async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> Response {
    let found = match matching(&ctx, &q.stream, &q.reason).await {
        Ok(found) => found,
        Err(failure) => return failure,
    };
    let events: usize = found.iter().map(|(l, _)| l.event_uuids.len()).sum();
    let body = html! {
        form.filters method="get" action="/console/dead-letters" {
            div.field {
                label for="d-stream" { "Stream" }
                select #d-stream name="stream" {
                    option value="" { "any" }
                    @for s in &ctx.workspace.streams {
                        option value=(s.name) selected[q.stream == s.name] { (s.name) }
                    }
                }
            }
            div.field {
                label for="d-reason" { "Reason contains" }
                input #d-reason name="reason" type="text" value=(q.reason);
            }
            div.field.buttons { button type="submit" { "Filter" } }
        }
        @if found.is_empty() {
            p.empty { "No dead letters" @if !q.stream.is_empty() || !q.reason.is_empty() { " match the filter" } ". Batches land here after their last retry fails." }
        } @else {
            p { (found.len()) " dead letters, " (events) " events." }
            form method="post" action="/console/dead-letters/replay" {
                (csrf(&ctx))
                input type="hidden" name="stream" value=(q.stream);
                input type="hidden" name="reason" value=(q.reason);
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { input #select-all type="checkbox" aria-label="Select all"; }
                                th scope="col" { "Id" }
                                th scope="col" { "Stream" }
                                th scope="col" { "Reason" }
                                th scope="col" class="num" { "Events" }
                                th scope="col" { "First attempt" }
                                th scope="col" { "Last attempt" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            }
                        }
                        tbody {
                            @for (l, _) in &found {
                                @let (first, last) = first_last(l);
                                tr {
                                    td { input type="checkbox" name="id" value=(l.id) aria-label={ "Select " (l.id) }; }
                                    td.mono { a href={ "/console/dead-letters/" (layout::seg(&l.id)) } { (short_id(&l.id)) } }
                                    td { @if l.stream.is_empty() { span.quiet { "(none)" } } @else { (l.stream) } }
                                    td { (l.reason) }
                                    td.num { (l.event_uuids.len()) }
                                    td { (first) }
                                    td { (last) }
                                    td { button.secondary type="submit" name="one" value=(l.id) { "Replay" } }
                                }
                            }
                        }
                    }
                }
                div.bar {
                    button type="submit" name="scope" value="selected" { "Replay selected" }
                    button type="submit" name="scope" value="all" { "Replay all matching the filter" }
                    button.danger type="submit" formaction="/console/dead-letters/discard" name="scope" value="selected" { "Discard selected" }
                }
            }
        }
    };
    page(&ctx, Nav::DeadLetters, "Dead letters", body)
}

fn short_id(id: &str) -> &str {
    id.get(..24).unwrap_or(id)
}

/// What a replay or discard form selects, within this workspace.
async fn selection(ctx: &Ctx, form: &Form) -> Result<Vec<(Listing, DeadLetter)>, Response> {
    let found = matching(ctx, form.get("stream"), form.get("reason")).await?;
    let one = form.get("one");
    if !one.is_empty() {
        return Ok(found.into_iter().filter(|(l, _)| l.id == one).collect());
    }
    if form.get("scope") == "all" {
        return Ok(found);
    }
    let ids = form.all("id");
    Ok(found
        .into_iter()
        .filter(|(l, _)| ids.contains(&l.id))
        .collect())
}

fn remember(ctx: &Ctx, ids: Vec<String>) -> String {
    let token = session::token();
    if let Ok(mut selections) = ctx.console.0.jobs.selections.lock() {
        selections.retain(|_, s| s.made.elapsed() < SELECTION_LIFETIME);
        selections.insert(
            token.clone(),
            Selection {
                session: ctx.session_id.clone(),
                workspace: ctx.ws().to_owned(),
                ids,
                made: Instant::now(),
            },
        );
    }
    token
}

fn recall(ctx: &Ctx, token: &str) -> Option<Vec<String>> {
    let mut selections = ctx.console.0.jobs.selections.lock().ok()?;
    let selection = selections.remove(token)?;
    (selection.session == ctx.session_id
        && selection.workspace == ctx.ws()
        && selection.made.elapsed() < SELECTION_LIFETIME)
        .then_some(selection.ids)
}

fn nothing_selected(ctx: &Ctx) -> Response {
    layout::page_with(
        ctx,
        Nav::DeadLetters,
        "Dead letters",
        StatusCode::BAD_REQUEST,
        html! {
            p.empty { "Nothing selected: tick one or more dead letters, or use Replay all matching the filter." }
            p { a href="/console/dead-letters" { "Back to the dead letters" } }
        },
    )
}

/// What a preview asks the operator to confirm.
struct Preview {
    title: &'static str,
    verb: &'static str,
    consequence: &'static str,
    action: &'static str,
    danger: bool,
    button: &'static str,
}

/// The preview of a replay or a discard: how many dead letters and events,
/// then Confirm (the selection kept server-side behind a token) or Cancel.
async fn preview(ctx: Ctx, form: Form, what: Preview) -> Response {
    if let Some(refused) = ctx.refuse_csrf(form.get("csrf")) {
        return refused;
    }
    let chosen = match selection(&ctx, &form).await {
        Ok(chosen) => chosen,
        Err(failure) => return failure,
    };
    if chosen.is_empty() {
        return nothing_selected(&ctx);
    }
    let events: usize = chosen.iter().map(|(l, _)| l.event_uuids.len()).sum();
    let n = chosen.len();
    let token = remember(&ctx, chosen.into_iter().map(|(l, _)| l.id).collect());
    page(
        &ctx,
        Nav::DeadLetters,
        what.title,
        html! {
            p.preview { strong { (n) " dead letters, " (events) " events will be " (what.verb) "." } }
            p { (what.consequence) }
            form.bar method="post" action=(what.action) {
                (csrf(&ctx))
                input type="hidden" name="selection" value=(token);
                button.danger[what.danger] type="submit" { (what.button) }
                a.button.secondary href="/console/dead-letters" { "Cancel" }
            }
        },
    )
}

pub async fn replay_preview(ctx: Ctx, form: Form) -> Response {
    let what = Preview {
        title: "Replay dead letters",
        verb: "replayed",
        consequence: "Each batch is sent again at once with its moe_request_id; if it fails again it goes through the retries again.",
        action: "/console/dead-letters/replay/confirm",
        danger: false,
        button: "Confirm",
    };
    preview(ctx, form, what).await
}

pub async fn replay_confirm(ctx: Ctx, form: Form) -> Response {
    if let Some(refused) = ctx.refuse_csrf(form.get("csrf")) {
        return refused;
    }
    let Some(ids) = recall(&ctx, form.get("selection")) else {
        return layout::page_with(
            &ctx,
            Nav::DeadLetters,
            "Replay dead letters",
            StatusCode::BAD_REQUEST,
            html! {
                p.empty { "This selection has expired or was confirmed already." }
                p { a href="/console/dead-letters" { "Back to the dead letters" } }
            },
        );
    };
    let job = session::token();
    let progress = Arc::new(Mutex::new(Progress {
        session: ctx.session_id.clone(),
        workspace: ctx.ws().to_owned(),
        total: ids.len(),
        ..Progress::default()
    }));
    if let Ok(mut replays) = ctx.console.0.jobs.replays.lock() {
        if replays.len() > 100 {
            replays.retain(|_, p| p.lock().map(|p| !p.finished).unwrap_or(false));
        }
        replays.insert(job.clone(), progress.clone());
    }
    let services = ctx.services().clone();
    let filter = Filter {
        workspace: Some(ctx.ws().to_owned()),
        stream: None,
        ids,
    };
    tokio::spawn(async move {
        let seen = progress.clone();
        let report = move |done: usize, total: usize| {
            if let Ok(mut p) = seen.lock() {
                (p.done, p.total) = (done, total);
            }
        };
        let result = dlq::replay(&services, &filter, false, &report).await;
        if let Ok(mut p) = progress.lock() {
            p.finished = true;
            match result {
                Ok(replayed) => p.done = replayed.len(),
                Err(e) => {
                    tracing::error!(error = %e, "console: a replay failed");
                    p.error = Some(
                        "the store failed during the replay; what was replayed stays replayed"
                            .into(),
                    );
                }
            }
        }
    });
    Redirect::to(&format!("/console/dead-letters/jobs/{job}")).into_response()
}

pub async fn job(ctx: Ctx, Path(job): Path<String>) -> Response {
    let progress = ctx
        .console
        .0
        .jobs
        .replays
        .lock()
        .ok()
        .and_then(|r| r.get(&job).cloned())
        .and_then(|p| p.lock().ok().map(|p| p.clone()))
        .filter(|p| p.session == ctx.session_id && p.workspace == ctx.ws());
    let Some(p) = progress else {
        return layout::page_with(
            &ctx,
            Nav::DeadLetters,
            "Replay",
            StatusCode::NOT_FOUND,
            html! {
                p.empty { "No such replay." }
            },
        );
    };
    let percent = (p.done * 100).checked_div(p.total).unwrap_or(100);
    let body = html! {
        div.progress #progress
            hx-get=[(!p.finished).then(|| format!("/console/dead-letters/jobs/{job}"))]
            hx-trigger=[(!p.finished).then_some("every 1s")]
            hx-select="#progress" hx-swap="outerHTML" {
            @if p.finished {
                @if let Some(error) = &p.error {
                    p.error role="alert" { "Replay stopped: " (error) " (" (p.done) " of " (p.total) ")." }
                } @else {
                    p.notice role="status" { "Replayed " (p.done) " of " (p.total) " dead letters." }
                }
                p { a href="/console/dead-letters" { "Back to the dead letters" } " · " a href="/console/deliveries" { "Follow them in Deliveries" } }
            } @else {
                p role="status" { "Replaying: " (p.done) " of " (p.total) "…" }
                progress max=(p.total) value=(p.done) aria-label="Replay progress" { (percent) "%" }
                noscript { p { a href={ "/console/dead-letters/jobs/" (job) } { "Refresh" } } }
            }
        }
    };
    page(&ctx, Nav::DeadLetters, "Replay", body)
}

pub async fn discard_preview(ctx: Ctx, form: Form) -> Response {
    let what = Preview {
        title: "Discard dead letters",
        verb: "discarded",
        consequence: "Discarded dead letters are gone for good: their events are not delivered.",
        action: "/console/dead-letters/discard/confirm",
        danger: true,
        button: "Discard",
    };
    preview(ctx, form, what).await
}

pub async fn discard_confirm(ctx: Ctx, form: Form) -> Response {
    if let Some(refused) = ctx.refuse_csrf(form.get("csrf")) {
        return refused;
    }
    let Some(ids) = recall(&ctx, form.get("selection")) else {
        return layout::page_with(
            &ctx,
            Nav::DeadLetters,
            "Discard dead letters",
            StatusCode::BAD_REQUEST,
            html! {
                p.empty { "This selection has expired or was confirmed already." }
            },
        );
    };
    // Only this workspace's letters: the selection was made from its list.
    if let Err(e) = ctx.services().dead_letters.remove_dead_letters(&ids).await {
        return layout::failure(&ctx.console, &e.to_string());
    }
    tracing::info!(workspace_id = %ctx.ws(), count = ids.len(), "console: dead letters discarded");
    page(
        &ctx,
        Nav::DeadLetters,
        "Discard dead letters",
        html! {
            p.notice role="status" { "Discarded " (ids.len()) " dead letters." }
            p { a href="/console/dead-letters" { "Back to the dead letters" } }
        },
    )
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>) -> Response {
    let found = match matching(&ctx, "", "").await {
        Ok(found) => found,
        Err(failure) => return failure,
    };
    let Some((listing, letter)) = found.into_iter().find(|(l, _)| l.id == id) else {
        return layout::page_with(
            &ctx,
            Nav::DeadLetters,
            "Dead letter",
            StatusCode::NOT_FOUND,
            html! {
                p.empty { "No such dead letter in this workspace (it may have been replayed or discarded)." }
                p { a href="/console/dead-letters" { "Back to the dead letters" } }
            },
        );
    };
    let body = html! {
        p.back { a href="/console/dead-letters" { "← Dead letters" } }
        dl.facts {
            div { dt { "Id" } dd.mono { (listing.id) } }
            div { dt { "Stream" } dd { (listing.stream) } }
            @if !listing.moe_request_id.is_empty() {
                div { dt { "moe_request_id" } dd.mono { a href={ "/console/deliveries?" (layout::query(&[("request", &listing.moe_request_id)])) } { (listing.moe_request_id) } } }
            }
            div.wide { dt { "Reason" } dd { (listing.reason) } }
        }
        form.bar method="post" action="/console/dead-letters/replay" {
            (csrf(&ctx))
            button type="submit" name="one" value=(listing.id) { "Replay" }
            button.danger type="submit" formaction="/console/dead-letters/discard" name="one" value=(listing.id) { "Discard" }
        }
        section aria-labelledby="attempts-title" {
            h2 #attempts-title { "Attempts" }
            @if listing.attempts.is_empty() {
                p.empty { "No attempt was made." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "#" } th scope="col" { "Time" } th scope="col" class="num" { "HTTP status" } th scope="col" { "Error" } } }
                    tbody {
                        @for (i, a) in listing.attempts.iter().enumerate() {
                            tr { td { (i + 1) } td { (time_text(&a.at)) } td.num { @if let Some(s) = a.status { (s) } @else { "–" } } td { (a.error) } }
                        }
                    }
                } }
            }
        }
        section aria-labelledby="events-title" {
            @match &letter {
                DeadLetter::Batch(batch) => {
                    h2 #events-title { "Events (" (batch.events.len()) ")" }
                    pre.code { (pretty(&serde_json::to_string(&batch.events).unwrap_or_default())) }
                },
                DeadLetter::Message(message) => {
                    h2 #events-title { "Message (queue " (message.queue.as_str()) ", received " (message.receive_count) " times)" }
                    pre.code { (pretty(&message.body)) }
                },
            }
        }
    };
    page(&ctx, Nav::DeadLetters, "Dead letter", body)
}
