//! Live (`/console/live`): events as they are dispatched, over Server-Sent
//! Events (`serve`); `engage-bridge console` polls the delivery log every
//! 2 s instead. At most 50 events a second reach the browser; the rest are
//! counted (`N not shown`). Without JavaScript the page lists the latest
//! delivery attempts.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Query;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use maud::html;
use serde::Deserialize;
use serde_json::json;
use shared::delivery_log::LiveEvent;
use shared::delivery_log::model::{LogEntry, LogQuery};
use shared::domain::time::{now_ms, rfc3339_ms};
use tokio::sync::{broadcast, mpsc};

use crate::LiveSource;
use crate::context::Ctx;
use crate::layout::{self, Nav, time};

/// Events sent to the browser per second at most.
pub const MAX_PER_SECOND: u32 = 50;
const POLL_EVERY: Duration = Duration::from_secs(2);

#[derive(Deserialize, Default, Clone)]
pub struct LiveFilters {
    #[serde(default)]
    event: String,
    #[serde(default)]
    uid: String,
}

impl LiveFilters {
    fn event_matches(&self, name: &str, code: &str) -> bool {
        let want = self.event.trim();
        want.is_empty() || want == name || want == code
    }

    fn uid_matches(&self, uid: Option<&str>) -> bool {
        let want = self.uid.trim();
        want.is_empty() || uid == Some(want)
    }
}

pub async fn page(ctx: Ctx, Query(f): Query<LiveFilters>) -> Response {
    let recent = LogQuery {
        event: (!f.event.trim().is_empty()).then(|| f.event.trim().to_owned()),
        uid: (!f.uid.trim().is_empty()).then(|| f.uid.trim().to_owned()),
        limit: 20,
        ..LogQuery::default()
    };
    let entries = match ctx.services().delivery_log.list(ctx.ws(), &recent).await {
        Ok(found) => found.entries,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let source = match ctx.console.0.options.live {
        LiveSource::Dispatch => "Events as they are dispatched to the streams.",
        LiveSource::DeliveryLog => {
            "Delivery attempts as the delivery log records them (polled every 2 s)."
        }
    };
    let stream_url = format!(
        "/console/live/events?{}",
        layout::query(&[("event", f.event.trim()), ("uid", f.uid.trim())])
    );
    let body = html! {
        form.filters method="get" action="/console/live" {
            div.field {
                label for="l-event" { "Event (name or code)" }
                input #l-event name="event" type="text" value=(f.event);
            }
            div.field {
                label for="l-uid" { "User (uid)" }
                input #l-uid name="uid" type="text" value=(f.uid);
            }
            div.field.buttons { button type="submit" { "Filter" } }
        }
        div.bar.live-controls #live data-source=(stream_url) hidden {
            button #live-pause type="button" { "Pause" }
            button #live-resume.secondary type="button" hidden { "Resume" }
            span #live-status role="status" aria-live="polite" { "Connecting…" }
            span #live-skipped.quiet {}
        }
        p.hint { (source) " At most " (MAX_PER_SECOND) " a second are shown." }
        div.table-wrap { table #live-table {
            thead { tr {
                th scope="col" { "Time" }
                th scope="col" { "Event" }
                th scope="col" { "uid" }
                th scope="col" { "Source" }
                th scope="col" { "Streams selected" }
            } }
            tbody #live-rows {
                @for e in &entries {
                    tr {
                        td { (time(e.at_ms)) }
                        td { (e.events.names.join(", ")) }
                        td { (e.events.uids.join(", ")) }
                        td { "delivery log" }
                        td { (e.stream) " (" (e.outcome.as_str()) ")" }
                    }
                }
            }
        } }
        noscript { p.hint { "Without JavaScript this page lists the latest delivery attempts; reload it to see newer ones." } }
    };
    layout::page(&ctx, Nav::Live, "Live", body)
}

fn live_json(event: &LiveEvent) -> String {
    json!({
        "time": rfc3339_ms(event.at_ms),
        "event": event.event_name,
        "code": event.event_code,
        "uid": event.uid,
        "source": event.source,
        "streams": event.streams,
    })
    .to_string()
}

fn entry_json(entry: &LogEntry) -> String {
    json!({
        "time": rfc3339_ms(entry.at_ms),
        "event": entry.events.names.join(", "),
        "code": "",
        "uid": entry.events.uids.join(", "),
        "source": "delivery log",
        "streams": [format!("{} ({})", entry.stream, entry.outcome.as_str())],
    })
    .to_string()
}

/// What goes to the browser: an event, or how many were not shown.
enum Out {
    Row(String),
    Skipped(u64),
}

pub async fn events(ctx: Ctx, Query(f): Query<LiveFilters>) -> Response {
    let (tx, rx) = mpsc::channel::<Out>(256);
    let ws = ctx.ws().to_owned();
    match ctx.console.0.options.live {
        LiveSource::Dispatch => {
            let live = ctx.services().delivery_log.subscribe_live();
            tokio::spawn(from_dispatch(live, ws, f, tx));
        }
        LiveSource::DeliveryLog => {
            let services = ctx.services().clone();
            tokio::spawn(async move {
                let mut since = now_ms();
                let mut limiter = Limiter::default();
                loop {
                    tokio::time::sleep(POLL_EVERY).await;
                    let query = LogQuery {
                        since_ms: Some(since),
                        uid: (!f.uid.trim().is_empty()).then(|| f.uid.trim().to_owned()),
                        event: (!f.event.trim().is_empty()).then(|| f.event.trim().to_owned()),
                        limit: 500,
                        ..LogQuery::default()
                    };
                    let Ok(found) = services.delivery_log.list(&ws, &query).await else {
                        continue;
                    };
                    for entry in found.entries.iter().rev() {
                        since = since.max(entry.at_ms + 1);
                        if !limiter.send(&tx, Out::Row(entry_json(entry))).await {
                            return;
                        }
                    }
                    if !limiter.tick(&tx).await {
                        return;
                    }
                }
            });
        }
    }
    Sse::new(stream(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// At most [`MAX_PER_SECOND`] rows a second; the rest counted.
#[derive(Default)]
struct Limiter {
    window: Option<tokio::time::Instant>,
    sent: u32,
    skipped: u64,
}

impl Limiter {
    /// Sends (or counts) a row; false once the browser is gone.
    async fn send(&mut self, tx: &mpsc::Sender<Out>, row: Out) -> bool {
        let now = tokio::time::Instant::now();
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
        {
            if !self.tick(tx).await {
                return false;
            }
            self.window = Some(now);
            self.sent = 0;
        }
        if self.sent >= MAX_PER_SECOND {
            self.skipped += 1;
            return !tx.is_closed();
        }
        self.sent += 1;
        tx.send(row).await.is_ok()
    }

    /// Says how many were not shown since the last tick.
    async fn tick(&mut self, tx: &mpsc::Sender<Out>) -> bool {
        if self.skipped > 0 {
            let skipped = std::mem::take(&mut self.skipped);
            return tx.send(Out::Skipped(skipped)).await.is_ok();
        }
        !tx.is_closed()
    }
}

async fn from_dispatch(
    mut live: broadcast::Receiver<std::sync::Arc<LiveEvent>>,
    ws: String,
    f: LiveFilters,
    tx: mpsc::Sender<Out>,
) {
    let mut limiter = Limiter::default();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) => {
                    if event.workspace_id != ws
                        || !f.event_matches(&event.event_name, &event.event_code)
                        || !f.uid_matches(event.uid.as_deref())
                    {
                        continue;
                    }
                    if !limiter.send(&tx, Out::Row(live_json(&event))).await {
                        return;
                    }
                }
                // The browser fell behind the buffer: those were not shown.
                Err(broadcast::error::RecvError::Lagged(n)) => limiter.skipped += n,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick() => {
                if !limiter.tick(&tx).await {
                    return;
                }
            }
        }
    }
}

fn stream(rx: mpsc::Receiver<Out>) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        let out = rx.recv().await?;
        let event = match out {
            Out::Row(data) => SseEvent::default().event("row").data(data),
            Out::Skipped(n) => SseEvent::default().event("skipped").data(n.to_string()),
        };
        Some((Ok(event), rx))
    })
}
