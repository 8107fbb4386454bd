//! One HTTP request of a delivery: built by the sink, sent, its answer read
//! and classified by the sink, and traced for the delivery log.

use std::time::{Duration, Instant};

use super::super::sink::{Answer, Sink};
use crate::delivery_log::model::EventSummary;
use crate::delivery_log::trace::{self, Trace};
use crate::domain::time::now_ms;
use crate::domain::{Attempt, Event, FailureKind};
use crate::outbound::HttpClient;
use crate::outbound::client::SendError;

/// Sends `items` (the prepared `events`) as request `id` of delivery
/// `request_id`: the receiver's answer as the sink reads it, and the trace.
pub(super) async fn send_one<S: Sink>(
    sink: &S,
    client: &HttpClient,
    (request_id, id): (&str, String),
    items: &[&S::Item],
    events: &[&Event],
) -> (Answer, Trace) {
    let started = Instant::now();
    let mut trace = Trace {
        request_id: id,
        at_ms: now_ms(),
        ..Trace::default()
    };
    // The body is shared with the trace, not copied (a 100-event body is
    // ≈ 50 KB; BENCHMARKS.md "Issue 22, twenty-third session").
    let body = bytes::Bytes::from(sink.body(request_id, items));
    let sent = match sink
        .request(client.builder(), request_id, body.clone())
        .build()
    {
        Ok(request) => {
            trace.request = Some(trace::request(&request));
            trace.body = Some(body);
            client.execute(request).await
        }
        Err(e) => Err(SendError::of(e)),
    };
    let answer = match sent {
        // Redirects are not followed: they could lead past the destination
        // check (docs/interface/streams.md "Destinations").
        Ok(response) if response.status().is_redirection() => {
            let status = response.status().as_u16();
            trace.response = Some(trace::response(status, response.headers(), ""));
            Answer::Failed {
                attempt: Attempt::answered(
                    status,
                    format!(
                        "HTTP {status}: the destination redirects, and redirects are not followed"
                    ),
                ),
                wait: Duration::ZERO,
            }
        }
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = retry_after(&response);
            let headers = response.headers().clone();
            let body = response.text().await.unwrap_or_default();
            trace.response = Some(trace::response(status, &headers, &body));
            sink.classify(status, retry_after, &body, items)
        }
        Err(e) => Answer::Failed {
            attempt: Attempt::unanswered(e.kind(), e.to_string()),
            wait: Duration::ZERO,
        },
    };
    trace.took = started.elapsed();
    trace.events = EventSummary::of(events);
    trace.status = trace.response.as_ref().map(|r| r.status);
    trace.accepted = answer == Answer::Accepted;
    trace.error = match &answer {
        Answer::Accepted => None,
        Answer::Failed { attempt, .. }
        | Answer::Throttled { attempt, .. }
        | Answer::Unauthorized(attempt)
        | Answer::Gone(attempt) => {
            trace.refused = attempt.kind == FailureKind::RefusedDestination;
            Some(attempt.error.clone())
        }
        Answer::Rejected(bad) => Some(format!(
            "{} of {} events rejected: {}",
            bad.len(),
            items.len(),
            bad.first().map(|(_, why)| why.as_str()).unwrap_or_default()
        )),
        Answer::TooLarge => Some("HTTP 413: too large, split and sent again".into()),
    };
    (answer, trace)
}

fn retry_after(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
}
