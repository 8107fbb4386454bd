//! The events `coldstart` hands the functions: the samples of `events/` for
//! the first invocation, and for `--warm` invocations what the functions
//! handle under load: the e2e workload's Events-API request (100 events for
//! 10 users) through API Gateway, and an SQS batch of 10 events-queue
//! messages of 100 such events (as mParticle ingest queues them, ~70 KiB
//! each).

use bytes::Bytes;
use serde_json::Value;

use crate::workload::{Kind, Shape, Workload};

/// The first invocation's event: the sample events of `events/`.
pub fn sample(name: &str) -> fn(usize) -> Bytes {
    match name {
        "mparticle-ingest" => |_| {
            Bytes::from_static(include_bytes!(
                "../../events/mparticle-ingest/events-batch.json"
            ))
        },
        // A fresh message_id per run, or repeats are acknowledged unapplied.
        "cohort-ingest" => |run| {
            let mut event: Value = serde_json::from_slice(include_bytes!(
                "../../events/cohort-ingest/amplitude-cohort-webhook.json"
            ))
            .expect("sample event");
            let mut body: Value =
                serde_json::from_str(event["body"].as_str().unwrap_or("{}")).expect("sample body");
            body["message_id"] =
                Value::from(format!("coldstart-{}-{run}", crate::workload::now_ms()));
            event["body"] = Value::from(body.to_string());
            Bytes::from(event.to_string())
        },
        "stream-dispatch" => |_| {
            Bytes::from_static(include_bytes!(
                "../../events/stream-dispatch/sqs-events.json"
            ))
        },
        "retry" => |_| Bytes::from_static(include_bytes!("../../events/retry/sqs-retry.json")),
        _ => |_| Bytes::from_static(br#"{"hello":"world"}"#),
    }
}

/// A warm invocation's event: the load-sized one where there is one, else
/// the sample.
pub fn warm(name: &str) -> fn(usize) -> Bytes {
    match name {
        "mparticle-ingest" => mparticle_request,
        "stream-dispatch" => events_batch,
        other => sample(other),
    }
}

/// The sample API Gateway event carrying the e2e workload's request `seq`.
fn mparticle_request(seq: usize) -> Bytes {
    let mut event: Value = serde_json::from_slice(include_bytes!(
        "../../events/mparticle-ingest/events-batch.json"
    ))
    .expect("sample event");
    let workload = Workload::new(Shape {
        workload: Kind::Mparticle,
        users_per_request: 10,
        events_per_user: 10,
        user_pool: 100_000,
        cohort_users: 0,
    });
    let body = workload.request(seq as u64).body;
    event["headers"]["content-length"] = Value::from(body.len().to_string());
    event["body"] = Value::from(String::from_utf8_lossy(&body).into_owned());
    Bytes::from(event.to_string())
}

/// An SQS batch of 10 events-queue messages of 100 events (workspace `demo`).
fn events_batch(seq: usize) -> Bytes {
    let records: Vec<Value> = (0..10)
        .map(|m| {
            let id = format!("{seq:08x}-0000-4000-8000-{m:012x}");
            let events: Vec<String> = (0..100).map(|i| queued_event(seq, m, i)).collect();
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("receipt-{id}"),
                "body": format!(r#"{{"workspace_id":"demo","events":[{}]}}"#, events.join(",")),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": crate::workload::now_ms().to_string(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:engage-bridge-EventsQueue",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    Bytes::from(serde_json::json!({ "Records": records }).to_string())
}

/// One event as mParticle ingest queues the e2e workload's (756 bytes).
fn queued_event(seq: usize, message: usize, i: usize) -> String {
    let user = (seq * 1000 + message * 100 + i) / 10;
    format!(
        r#"{{"event_name":"Viewed Product {page}","event_code":"Viewed Product {page}","event_uuid":"{seq:08x}-{message:04x}-5000-8000-{i:012x}","event_time":1796142619,"event_type":"USER_ACTION_EVENT","event_source":"MPARTICLE","uid":"load-{user}","event_attributes":{{"category":"Shoes","on_sale":"true","position":{i},"price":"49.99","product_id":"SKU-{i}"}},"user_attributes":{{"moengage_user_id":"3580f29f-651a-59b4-be01-{user:012x}"}},"device_attributes":{{"brand":"Apple","device_manufacturer":"Apple","ios_idfv":"0D2A1F4C-6B3E-4F5A-8C7D-{user:012}","locale_country":"US","locale_language":"en","moengage_device_id":"1888b6a4-9549-5fa6-a131-{user:012x}","os_version":"17.1","platform":"iOS","product":"iPhone15,2","timezone_offset":0}}}}"#,
        page = i % 10,
    )
}
