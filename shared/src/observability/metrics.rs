//! The metrics of docs/interface/observability.md, named in one table and
//! recorded through the `metrics` facade; `serve` renders them as
//! Prometheus text, the Lambda functions flush them as CloudWatch EMF.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::domain::{Event, EventSource};

pub const HTTP_REQUESTS: &str = "engage_bridge_http_requests_total";
pub const EVENTS_INGESTED: &str = "engage_bridge_events_ingested_total";
pub const EVENTS_DELIVERED: &str = "engage_bridge_events_delivered_total";
pub const ATTEMPTS_FAILED: &str = "engage_bridge_delivery_attempts_failed_total";
pub const DEAD_LETTERS: &str = "engage_bridge_dead_letters_total";
pub const EVENTS_DROPPED: &str = "engage_bridge_events_dropped_total";
pub const ITEMS_SKIPPED: &str = "engage_bridge_items_skipped_total";
pub const DELIVERY_DURATION: &str = "engage_bridge_delivery_duration_seconds";
pub const QUEUE_DEPTH: &str = "engage_bridge_queue_depth";
pub const DEAD_LETTER_DEPTH: &str = "engage_bridge_dead_letter_depth";
pub const PRIVACY_REQUESTS: &str = "engage_bridge_privacy_requests_total";
pub const DELIVERY_LOG_FAILURES: &str = "engage_bridge_delivery_log_failures_total";
pub const STREAMS_DISABLED: &str = "engage_bridge_streams_disabled_total";
pub const AWS_RETRIES: &str = "engage_bridge_aws_retries_total";

/// The CloudWatch namespace of the EMF lines.
pub const NAMESPACE: &str = "EngageBridge";

#[cfg(any(feature = "serve", feature = "lambda"))]
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route and status");
    describe_counter!(EVENTS_INGESTED, "events put on the events queue, by source");
    describe_counter!(EVENTS_DELIVERED, "events a stream's receiver accepted");
    describe_counter!(
        ATTEMPTS_FAILED,
        "failed delivery attempts, by status (or error kind)"
    );
    describe_counter!(DEAD_LETTERS, "dead letters kept, by stream");
    describe_counter!(EVENTS_DROPPED, "events a stream cannot carry, by reason");
    describe_counter!(
        ITEMS_SKIPPED,
        "input items not applied, by source and reason"
    );
    describe_histogram!(
        DELIVERY_DURATION,
        metrics::Unit::Seconds,
        "stream request durations"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "messages on a queue (visible, in flight and delayed)"
    );
    describe_counter!(
        STREAMS_DISABLED,
        "streams disabled because their endpoint answered 410 Gone"
    );
    describe_counter!(
        AWS_RETRIES,
        "AWS calls retried (SDK retries and partial batch results), by service and operation"
    );
    describe_gauge!(
        DEAD_LETTER_DEPTH,
        "dead letters kept, by workspace and stream"
    );
    describe_counter!(
        PRIVACY_REQUESTS,
        "privacy requests entering a status, by kind (erasure, access)"
    );
    describe_counter!(
        DELIVERY_LOG_FAILURES,
        "delivery-log writes lost (buffer full or the log failing); deliveries are unaffected"
    );
}

/// Installs the Prometheus recorder once (serve); its handle renders `/metrics`.
#[cfg(feature = "serve")]
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    use std::sync::OnceLock;
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // A recorder installed already (tests) keeps recording there.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// Installs the CloudWatch EMF recorder once (Lambda): flush it after each
/// invocation, on stdout, where Lambda sends it to CloudWatch Logs.
#[cfg(feature = "lambda")]
pub fn emf() -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    use std::sync::OnceLock;
    static COLLECTOR: OnceLock<Option<&'static metrics_cloudwatch_embedded::Collector>> =
        OnceLock::new();
    *COLLECTOR.get_or_init(|| {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .init()
            .ok()?;
        describe();
        Some(collector)
    })
}

pub fn http_request(route: &str, status: u16) {
    counter!(HTTP_REQUESTS, "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
}

/// Events put on the events queue, counted by their source.
pub fn events_ingested(workspace_id: &str, events: &[Event]) {
    let mut counts: Vec<(EventSource, u64)> = Vec::new();
    for event in events {
        match counts.iter_mut().find(|(s, _)| *s == event.event_source) {
            Some((_, n)) => *n += 1,
            None => counts.push((event.event_source, 1)),
        }
    }
    for (source, count) in counts {
        counter!(EVENTS_INGESTED, "workspace_id" => workspace_id.to_owned(), "source" => source.as_str())
            .increment(count);
    }
}

pub fn events_delivered(workspace_id: &str, stream: &str, count: usize) {
    if count > 0 {
        counter!(EVENTS_DELIVERED, "workspace_id" => workspace_id.to_owned(), "stream" => stream.to_owned())
            .increment(count as u64);
    }
}

/// `status`: the HTTP status, or what failed without one (`timeout`, `error`).
pub fn attempt_failed(workspace_id: &str, stream: &str, status: &str) {
    counter!(ATTEMPTS_FAILED, "workspace_id" => workspace_id.to_owned(),
        "stream" => stream.to_owned(), "status" => status.to_owned())
    .increment(1);
}

pub fn stream_disabled(workspace_id: &str, stream: &str) {
    counter!(STREAMS_DISABLED, "workspace_id" => workspace_id.to_owned(), "stream" => stream.to_owned())
        .increment(1);
}

pub fn dead_letter(workspace_id: &str, stream: &str) {
    counter!(DEAD_LETTERS, "workspace_id" => workspace_id.to_owned(), "stream" => stream.to_owned())
        .increment(1);
}

pub fn events_dropped(workspace_id: &str, stream: &str, reason: &'static str, count: usize) {
    if count > 0 {
        counter!(EVENTS_DROPPED, "workspace_id" => workspace_id.to_owned(),
            "stream" => stream.to_owned(), "reason" => reason)
        .increment(count as u64);
    }
}

/// Input items not applied, counted and logged at WARN, one line per reason.
pub fn items_skipped(workspace_id: &str, source: EventSource, reason: &str, count: u64) {
    if count > 0 {
        counter!(ITEMS_SKIPPED, "workspace_id" => workspace_id.to_owned(),
            "source" => source.as_str(), "reason" => reason.to_owned())
        .increment(count);
        tracing::warn!(
            workspace_id,
            source = source.as_str(),
            reason,
            count,
            "items skipped"
        );
    }
}

pub fn delivery_duration(workspace_id: &str, stream: &str, took: Duration) {
    histogram!(DELIVERY_DURATION, "workspace_id" => workspace_id.to_owned(), "stream" => stream.to_owned())
        .record(took.as_secs_f64());
}

pub fn queue_depth(queue: &str, depth: u64) {
    gauge!(QUEUE_DEPTH, "queue" => queue.to_owned()).set(depth as f64);
}

pub fn dead_letter_depth(workspace_id: &str, stream: &str, depth: u64) {
    gauge!(DEAD_LETTER_DEPTH, "workspace_id" => workspace_id.to_owned(), "stream" => stream.to_owned())
        .set(depth as f64);
}

/// A privacy request entering `status` (docs/interface/privacy.md).
pub fn privacy_request(workspace_id: &str, kind: &'static str, status: &'static str) {
    counter!(PRIVACY_REQUESTS, "workspace_id" => workspace_id.to_owned(),
        "kind" => kind, "status" => status)
    .increment(1);
}

/// Delivery-log records lost (the delivery itself went on).
pub fn delivery_log_failure(workspace_id: &str) {
    counter!(DELIVERY_LOG_FAILURES, "workspace_id" => workspace_id.to_owned()).increment(1);
}

/// One more attempt of an AWS call: the SDK's retry of a failed attempt,
/// or another round for what a batch call left undone.
pub fn aws_retry(service: &str, operation: &str) {
    counter!(AWS_RETRIES, "service" => service.to_owned(), "operation" => operation.to_owned())
        .increment(1);
}
