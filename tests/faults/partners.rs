//! The partners of the ingest scenario: the requests mParticle, Amplitude
//! and Customer.io send, and how they retry — each resends the same
//! request until it is answered 2xx (a 5xx, a failed invocation or no
//! answer all mean "not received": docs/interface/http.md).

use std::sync::atomic::{AtomicUsize, Ordering};

use engage_bridge_tests::basic;
use engage_bridge_tests::faults::cloud::{api_request, http};
use serde_json::{Value, json};
use shared::lambda::Handler;

pub const WS: &str = "acme";
pub const SECRET: &str = "acme-secret";
/// Resends of one request before the partner gives up (it never should).
const MAX_SENDS: usize = 40;

/// What the partners sent, and what they had to send again.
#[derive(Default)]
pub struct Tally {
    pub requests: AtomicUsize,
    pub refused: AtomicUsize,
}

impl Tally {
    /// Sends an HTTP request until a 2xx; its body.
    pub async fn http(&self, handler: &Handler, method: &str, path: &str, body: &Value) -> Value {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let auth = basic(WS, SECRET);
        for _ in 0..MAX_SENDS {
            let request = api_request(method, path, &[("authorization", &auth)], &body.to_string());
            let (status, answer) = http(handler, request).await;
            if (200..300).contains(&status) {
                return answer;
            }
            assert!(
                status >= 500 || status == 429,
                "{method} {path}: a refusal the partner would not retry: {status} {answer}"
            );
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        panic!("{method} {path} was never acknowledged in {MAX_SENDS} sends");
    }

    /// Invokes `handler` directly (a Firehose call) until it succeeds.
    pub async fn invoke(&self, handler: &Handler, payload: &Value) -> Value {
        self.requests.fetch_add(1, Ordering::Relaxed);
        for _ in 0..MAX_SENDS {
            let event = lambda_runtime::LambdaEvent::new(payload.clone(), Default::default());
            match handler.invoke(event).await {
                Ok(answer) => return answer,
                Err(_) => self.refused.fetch_add(1, Ordering::Relaxed),
            };
        }
        panic!("a Firehose call was never acknowledged in {MAX_SENDS} sends");
    }
}

/// An Events-API request of one batch for `uid`: its events carry the
/// given probes (as a custom attribute), its user attribute `plan`.
pub fn events_api(uid: &str, plan: &str, probes: &[String]) -> Value {
    let events: Vec<Value> = probes
        .iter()
        .enumerate()
        .map(|(k, probe)| {
            json!({"event_type": "custom_event", "data": {
                "event_name": "Probe", "custom_event_type": "other",
                "source_message_id": probe,
                "timestamp_unixtime_ms": 1_795_341_605_000_i64 + k as i64,
                "custom_attributes": {"probe": probe}
            }})
        })
        .collect();
    json!({
        "events": events,
        "user_identities": [{"identity_type": "customer_id", "identity": uid,
            "timestamp_unixtime_ms": 1}],
        "user_attributes": {"plan": plan},
        "environment": "production",
        "batch_id": format!("batch-{uid}"),
        "schema_version": 2,
        "timestamp_unixtime_ms": 1_795_341_661_000_i64
    })
}

/// A Firehose event-processing request for `uid` (a direct invocation).
pub fn firehose(uid: &str, probes: &[String]) -> Value {
    let events: Vec<Value> = probes
        .iter()
        .enumerate()
        .map(|(k, probe)| {
            json!({"type": "custom_event", "id": uuid::Uuid::new_v4().to_string(),
                "timestamp_ms": 1_795_341_605_000_i64 + k as i64, "name": "Probe",
                "custom_event_type": "other", "attributes": {"probe": probe}})
        })
        .collect();
    json!({
        "type": "event_processing_request",
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp_ms": 1_795_341_662_000_i64,
        "firehose_version": "3.2.0",
        "source_id": "b5328100-69d6-46d6-8984-b9881beefbf5",
        "account": {"account_id": 123456,
            "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "user_identities": [{"type": "customer", "encoding": "raw", "value": uid}],
        "events": events
    })
}

/// A Customer.io reporting webhook.
pub fn customerio(event_id: &str, customer: &str) -> Value {
    json!({
        "data": {"customer_id": customer, "identifiers": {"id": customer},
            "email_address": format!("{customer}@example.com")},
        "event_id": event_id,
        "object_type": "customer",
        "metric": "subscribed",
        "timestamp": 1_795_341_600
    })
}

/// An Amplitude Cohort Webhooks request.
pub fn cohort(
    cohort_id: &str,
    in_cohort: bool,
    computed_time: i64,
    message_id: &str,
    uids: &[String],
) -> Value {
    json!({
        "cohort_name": format!("Cohort {cohort_id}"),
        "cohort_id": cohort_id,
        "in_cohort": in_cohort,
        "computed_time": computed_time.to_string(),
        "message_id": message_id,
        "users": uids.iter().map(|u| json!({"user_id": u})).collect::<Vec<_>>(),
    })
}
