//! Overview (`/console`): one row per stream with its status, counts, what
//! waits, dead letters and its last success and error; the workspace's
//! funnel for 1 h, 24 h or 7 d (the counts the metrics use); Send test
//! event and Pause / Resume.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use shared::config::{SinkConfig, StreamConfig};
use shared::delivery_log::Pending;
use shared::delivery_log::model::{CountKind, StreamCounts, StreamHealth};
use shared::domain::ids::request_id;
use shared::domain::stream_state::Hold;
use shared::domain::time::now_ms;
use shared::streams::control;
use shared::streams::deliver::deliver_to_stream;
use shared::streams::dlq::{self, Filter};
use shared::streams::enrich::Profiles;
use shared::streams::record::{self, Fate};

use crate::context::Ctx;
use crate::layout::{self, Nav, badge, count, csrf, time};

const HOUR_MS: i64 = 3_600_000;

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    #[serde(default)]
    window: String,
    /// What the last action did (after its redirect).
    #[serde(default)]
    notice: String,
    #[serde(default)]
    failed: String,
}

/// The funnel's windows: (query value, label, length).
const WINDOWS: [(&str, &str, i64); 3] = [
    ("1h", "1 h", HOUR_MS),
    ("24h", "24 h", 24 * HOUR_MS),
    ("7d", "7 d", 7 * 24 * HOUR_MS),
];

fn of<'a>(counts: &'a [StreamCounts], stream: &str) -> Option<&'a StreamCounts> {
    counts.iter().find(|c| c.stream == stream)
}

fn get(counts: &[StreamCounts], stream: &str, kind: CountKind) -> u64 {
    of(counts, stream).map_or(0, |c| c.get(kind))
}

/// A stream's status: paused (by the config or by an operator), disabled
/// (after a `410 Gone`), circuit open, failing or healthy.
fn status(
    ctx: &Ctx,
    stream: &StreamConfig,
    hold: Option<Hold>,
    health: Option<&StreamHealth>,
) -> String {
    match hold {
        Some(Hold::Config) => return "paused".into(),
        Some(Hold::Operator) => return "paused (by operator)".into(),
        Some(Hold::Gone) => return "disabled".into(),
        None => {}
    }
    if ctx.services().gates.is_open(ctx.ws(), &stream.name) {
        return "circuit open".into();
    }
    let failing = health.is_some_and(|h| match (&h.last_error, &h.last_success) {
        (Some(error), Some(success)) => error.at_ms > success.at_ms,
        (Some(_), None) => true,
        _ => false,
    });
    if failing {
        "failing".into()
    } else {
        "healthy".into()
    }
}

fn destination(stream: &StreamConfig) -> String {
    match &stream.sink {
        SinkConfig::Webhook(webhook) => url::Url::parse(&webhook.url)
            .map(|u| shared::delivery_log::trace::masked_url(&u))
            .unwrap_or_else(|_| "(invalid URL)".into()),
        SinkConfig::Amplitude(amplitude) => {
            shared::streams::sink::amplitude::endpoint(amplitude).to_owned()
        }
    }
}

fn funnel(counts: &[StreamCounts], window: &str) -> Markup {
    let n = |kind| get(counts, "", kind);
    let steps = [
        (
            "received",
            n(CountKind::Received),
            "events dispatch received",
        ),
        (
            "delivered",
            n(CountKind::Delivered),
            "events receivers accepted (per stream)",
        ),
        (
            "not selected by any stream",
            n(CountKind::NotSelected),
            "events no stream takes",
        ),
        (
            "retrying",
            n(CountKind::Retrying),
            "events whose first attempt failed",
        ),
        (
            "dead-lettered",
            n(CountKind::DeadLettered),
            "events kept as dead letters",
        ),
        (
            "dropped",
            n(CountKind::Dropped),
            "events a stream cannot carry",
        ),
    ];
    html! {
        section.funnel aria-labelledby="funnel-title" {
            div.section-head {
                h2 #funnel-title { "Funnel" }
                nav.tabs aria-label="Window" {
                    @for (value, label, _) in WINDOWS {
                        @if value == window {
                            a href={ "/console?window=" (value) } aria-current="true" { (label) }
                        } @else {
                            a href={ "/console?window=" (value) } { (label) }
                        }
                    }
                }
            }
            dl.steps {
                @for (label, value, title) in steps {
                    div.step title=(title) {
                        dt { (label) }
                        dd { (count(value)) }
                    }
                }
            }
        }
    }
}

pub async fn page(ctx: Ctx, Query(q): Query<OverviewQuery>) -> Response {
    let window = WINDOWS
        .iter()
        .find(|(v, _, _)| *v == q.window)
        .unwrap_or(&WINDOWS[1]);
    let log = &ctx.services().delivery_log;
    let now = now_ms();
    let filter = Filter {
        workspace: Some(ctx.ws().to_owned()),
        ..Filter::default()
    };
    let read = futures::try_join!(
        log.store.counts(ctx.ws(), now - HOUR_MS),
        log.store.counts(ctx.ws(), now - 24 * HOUR_MS),
        log.store.counts(ctx.ws(), now - window.2),
        log.store.health(ctx.ws()),
        dlq::list(ctx.services(), &filter),
        ctx.services().stream_states.stream_states(ctx.ws()),
    );
    let (hour, day, chosen, health, dead, states) = match read {
        Ok(read) => read,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let mut dead_by_stream: HashMap<&str, usize> = HashMap::new();
    for letter in &dead {
        *dead_by_stream.entry(letter.stream.as_str()).or_default() += 1;
    }
    let body = html! {
        @if !q.notice.is_empty() {
            p.notice role="status" { (q.notice) }
        }
        @if !q.failed.is_empty() {
            p.error role="alert" { (q.failed) }
        }
        (funnel(&chosen, window.0))
        section aria-labelledby="streams-title" {
            h2 #streams-title { "Streams" }
            @if ctx.workspace.streams.is_empty() {
                p.empty { "This workspace has no streams. Add one under [[workspaces.streams]] in the config file." }
            } @else {
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Stream" }
                                th scope="col" { "Status" }
                                th scope="col" class="num" { "Delivered" div.sub { "1 h · 24 h" } }
                                th scope="col" class="num" { "Failed attempts" div.sub { "1 h · 24 h" } }
                                th scope="col" class="num" { "Waiting" div.sub { "events" } }
                                th scope="col" class="num" { "Dead letters" }
                                th scope="col" { "Last success" }
                                th scope="col" { "Last error" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            }
                        }
                        tbody {
                            @for stream in &ctx.workspace.streams {
                                (row(&ctx, stream, Hold::of(stream.enabled, states.get(&stream.name)), &hour, &day, health.iter().find(|h| h.stream == stream.name), dead_by_stream.get(stream.name.as_str()).copied().unwrap_or(0)))
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&ctx, Nav::Overview, "Overview", body)
}

fn row(
    ctx: &Ctx,
    stream: &StreamConfig,
    hold: Option<Hold>,
    hour: &[StreamCounts],
    day: &[StreamCounts],
    health: Option<&StreamHealth>,
    dead: usize,
) -> Markup {
    let name = stream.name.as_str();
    let status = status(ctx, stream, hold, health);
    let deliveries = format!("/console/deliveries?{}", layout::query(&[("stream", name)]));
    html! {
        tr {
            th scope="row" {
                a href=(deliveries) { (name) }
                div.sub { (stream.sink.stream_type_name()) " · " (destination(stream)) }
                div.sub { (credentials(stream)) }
            }
            td { (badge(&status)) }
            td.num { (count(get(hour, name, CountKind::Delivered))) " · " (count(get(day, name, CountKind::Delivered))) }
            td.num { (count(get(hour, name, CountKind::FailedAttempts))) " · " (count(get(day, name, CountKind::FailedAttempts))) }
            td.num { (count(health.map_or(0, |h| h.waiting_events))) }
            td.num {
                @if dead > 0 {
                    a href={ "/console/dead-letters?" (layout::query(&[("stream", name)])) } { (count(dead as u64)) }
                } @else { "0" }
            }
            td { @match health.and_then(|h| h.last_success.as_ref()) {
                Some(last) => (time(last.at_ms)),
                None => span.quiet { "never" },
            } }
            td { @match health.and_then(|h| h.last_error.as_ref()) {
                Some(last) => {
                    (time(last.at_ms))
                    div.sub {
                        @if let Some(status) = last.status { "HTTP " (status) ": " }
                        (short(last.error.as_deref().unwrap_or("")))
                    }
                },
                None => span.quiet { "none" },
            } }
            td.actions {
                form method="post" action={ "/console/streams/" (layout::seg(name)) "/test" } {
                    (csrf(ctx))
                    button type="submit" { "Send test event" }
                }
                @match hold {
                    None => form method="post" action={ "/console/streams/" (layout::seg(name)) "/pause" } {
                        (csrf(ctx))
                        button.secondary type="submit" { "Pause" }
                    },
                    Some(Hold::Operator | Hold::Gone) => form method="post" action={ "/console/streams/" (layout::seg(name)) "/resume" } {
                        (csrf(ctx))
                        button.secondary type="submit" { "Resume" }
                    },
                    // Only the config file turns it back on.
                    Some(Hold::Config) => span.quiet { "enabled = false in the config" },
                }
            }
        }
    }
}

/// How the stream authenticates, every secret value shown as `••••`.
fn credentials(stream: &StreamConfig) -> Markup {
    use shared::config::StreamAuth;
    match &stream.sink {
        SinkConfig::Webhook(webhook) => html! {
            @match &webhook.auth {
                StreamAuth::None => "no auth",
                StreamAuth::Basic { username, .. } => { "basic " (username) ":" (layout::masked()) },
                StreamAuth::Header { name, .. } => { "header " (name) ": " (layout::masked()) },
                StreamAuth::OAuth2(oauth2) => { "oauth2 client " (oauth2.client_id) ": " (layout::masked()) },
            }
            @for name in webhook.headers.keys() { " · " (name) ": " (layout::masked()) }
            @if !webhook.signing_secrets.is_empty() {
                " · signed (" (webhook.signing_secrets.len()) " " (layout::masked()) ")"
            }
        },
        SinkConfig::Amplitude(_) => html! { "api_key " (layout::masked()) },
    }
}

/// A reason cut to a line.
fn short(reason: &str) -> String {
    let mut chars = reason.chars();
    let cut: String = chars.by_ref().take(80).collect();
    if chars.next().is_some() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

fn back(notice: &str, failed: bool) -> Response {
    let key = if failed { "failed" } else { "notice" };
    Redirect::to(&format!("/console?{}", layout::query(&[(key, notice)]))).into_response()
}

fn stream_of<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a StreamConfig> {
    ctx.workspace.streams.iter().find(|s| s.name == name)
}

/// `Send test event`: one `Email Sent` straight to the stream, as
/// `streams test` sends it, recorded in the delivery log.
pub async fn send_test(
    ctx: Ctx,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refused) = ctx.refuse_csrf(&form.csrf) {
        return refused;
    }
    let Some(stream) = stream_of(&ctx, &name) else {
        return layout::message_page(
            &ctx.console,
            StatusCode::NOT_FOUND,
            "Not found",
            "This workspace has no such stream.",
        );
    };
    let event = shared::streams::test_event::event();
    let events = vec![event.clone()];
    let id = request_id(ctx.ws(), &stream.name, &events);
    let http = ctx.services().http();
    let mut outcome = deliver_to_stream(
        http,
        &ctx.workspace,
        stream,
        &Profiles::default(),
        &id,
        &events,
    )
    .await;
    let mut log = Pending::default();
    record::outcome(&mut log, ctx.ws(), stream, &mut outcome, Fate::Test);
    ctx.services().delivery_log.submit(log);
    if outcome.delivered == 1 {
        return back(
            &format!(
                "Test event delivered to {name} (event_uuid {}).",
                event.event_uuid
            ),
            false,
        );
    }
    let why = outcome
        .retry
        .first()
        .map(|r| r.attempt.error.clone())
        .or_else(|| outcome.dead.first().map(|d| d.reason.to_string()))
        .unwrap_or_else(|| "the event was not sent (no user_id or device_id for Amplitude)".into());
    back(
        &format!("{name} did not accept the test event: {why}"),
        true,
    )
}

pub async fn pause(ctx: Ctx, Path(name): Path<String>, Form(form): Form<ActionForm>) -> Response {
    set_paused(ctx, name, form, true).await
}

pub async fn resume(ctx: Ctx, Path(name): Path<String>, Form(form): Form<ActionForm>) -> Response {
    set_paused(ctx, name, form, false).await
}

/// Pause / Resume: an operator override kept in the store (issue 21's
/// stream state). Until that store is here, the button says so.
async fn set_paused(ctx: Ctx, name: String, form: ActionForm, paused: bool) -> Response {
    if let Some(refused) = ctx.refuse_csrf(&form.csrf) {
        return refused;
    }
    if stream_of(&ctx, &name).is_none() {
        return layout::message_page(
            &ctx.console,
            StatusCode::NOT_FOUND,
            "Not found",
            "This workspace has no such stream.",
        );
    }
    let services = ctx.services();
    let changed = if paused {
        control::pause(services, ctx.ws(), &name).await
    } else {
        control::resume(services, ctx.ws(), &name).await
    };
    match changed {
        Ok(_) if paused => {
            tracing::info!(workspace_id = %ctx.ws(), stream = %name, "stream paused from the console");
            back(&format!("{name} is paused; its batches wait."), false)
        }
        Ok(_) => {
            tracing::info!(workspace_id = %ctx.ws(), stream = %name, "stream resumed from the console");
            back(
                &format!("{name} is resumed; its waiting batches are being sent."),
                false,
            )
        }
        Err(e) => back(&format!("{name}: {e}"), true),
    }
}
