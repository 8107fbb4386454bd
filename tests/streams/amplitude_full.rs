//! User-action events exported to Amplitude fully
//! (docs/rules/amplitude-export.md "Full export"), from mParticle payloads
//! mParticle itself publishes (tests/fixtures/SOURCES.md) through ingest,
//! the events queue and stream-dispatch, to a local HTTP V2 receiver.

use engage_bridge_tests::{Backend, basic, fixture, queued_events, sqlite};
use http::StatusCode;
use serde_json::{Map, Value, json};
use shared::domain::Event;
use shared::topology::QueueName;

use crate::fixtures::*;

async fn post(b: &Backend, uri: &str, body: &Value) {
    let request = http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", basic("ws", "s"))
        .body(body.to_string().into_bytes())
        .unwrap();
    let response = engage_bridge_tests::call(b, request).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(response.body())
    );
}

/// Runs stream-dispatch over what ingest queued; returns the queued events.
async fn dispatch_queued(b: &Backend) -> Vec<Event> {
    let received = take_all(&*b.queues.events).await;
    let events = queued_events(&received);
    run_handler(b, QueueName::Events, received).await;
    events
}

fn by_type<'a>(events: &'a [Value], event_type: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type:?} in {events:#?}"))
}

/// What the export puts in `event_properties`: every event attribute plus
/// `moengage_user_id` and `$source`.
fn full_properties(event: &Event) -> Value {
    let mut properties: Map<String, Value> = (*event.event_attributes).clone();
    properties.insert(
        "moengage_user_id".into(),
        json!(event.moengage_user_id().unwrap()),
    );
    properties.insert("$source".into(), json!("MPARTICLE"));
    Value::Object(properties)
}

/// mParticle's own S2S sample (a custom event and a purchase whose only
/// product has no id) exported to Amplitude: every attribute, revenue, the
/// stream's selected user attributes, the batch's IP.
#[tokio::test]
async fn mparticles_sample_batch_reaches_amplitude_with_its_content() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(
        &b,
        &server,
        "events = [\"clicked button\", \"purchase\"]\nuser_attributes = [\"first_name\", \"plan\"]",
    )
    .await;
    profile(
        &b,
        "019mr8mf4r",
        json!({"first_name": "Jane", "plan": "premium", "city": "Paris"}),
    )
    .await;
    post(
        &b,
        "/v1/mparticle/events",
        &fixture("mparticle/events-api-custom-and-commerce-batch.json"),
    )
    .await;
    let queued = dispatch_queued(&b).await;
    let events = sent_events(&request_bodies(&server).await);
    assert_eq!(events.len(), 2, "{events:#?}");
    let clicked = queued
        .iter()
        .find(|e| e.event_name == "clicked button")
        .unwrap();
    let user_properties = json!({"first_name": "Jane", "plan": "premium"});
    assert_eq!(
        by_type(&events, "clicked button"),
        &json!({
            "user_id": "019mr8mf4r",
            "event_type": "clicked button",
            "time": 1_634_262_037_000_i64,
            "insert_id": clicked.event_uuid,
            "event_properties": {
                "button_name": "home",
                "moengage_user_id": clicked.moengage_user_id().unwrap(),
                "$source": "MPARTICLE"
            },
            "user_properties": user_properties,
            "ip": "24.5.68.47"
        })
    );
    let purchase = queued.iter().find(|e| e.event_name == "purchase").unwrap();
    assert_eq!(
        by_type(&events, "purchase"),
        &json!({
            "user_id": "019mr8mf4r",
            "event_type": "purchase",
            "time": 1_634_262_037_000_i64,
            "insert_id": purchase.event_uuid,
            // One product without a price, quantity or id: revenue alone.
            "revenue": 14.99,
            "revenueType": "purchase",
            "event_properties": full_properties(purchase),
            "user_properties": user_properties,
            "ip": "24.5.68.47"
        })
    );
    assert_eq!(
        purchase.event_attributes["products"][0]["name"],
        "Leap to Conclusions Mat"
    );
}

/// mParticle's Firehose SDK sample (2018, all event types): its purchase of
/// one product (4 × 19.99, plus tax and shipping: 89.96) and its iOS device.
#[tokio::test]
async fn firehose_sample_purchase_carries_revenue_product_and_device() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(
        &b,
        &server,
        "events = [\"purchase\"]\nuser_attributes = [\"first_name\", \"last_name\"]",
    )
    .await;
    post(
        &b,
        "/v1/mparticle/firehose",
        &fixture("mparticle/firehose-event-processing-request-2018-all-event-types.json"),
    )
    .await;
    let queued = dispatch_queued(&b).await;
    let purchase = queued.iter().find(|e| e.event_name == "purchase").unwrap();
    let events = sent_events(&request_bodies(&server).await);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        events[0],
        json!({
            "user_id": "123456",
            "event_type": "purchase",
            "time": 1_465_574_552_000_i64,
            "insert_id": purchase.event_uuid,
            "revenue": 89.96,
            "revenueType": "purchase",
            "price": 19.99,
            "quantity": 4,
            "productId": "example-sku",
            "event_properties": full_properties(purchase),
            "user_properties": {"first_name": "Brian", "last_name": "O'Brian"},
            "platform": "iOS",
            "os_name": "iOS",
            "idfa": "f16bc54a-7523-49b0-b4c8-2692a4a8e87d"
        })
    );
}

/// A refund (no published sample: tests/fixtures/SOURCES.md finding 19) of
/// one product: negative revenue and price; the device fields of an Android
/// `device_info` and the batch's `application_info`.
#[tokio::test]
async fn a_refund_is_negative_revenue_with_the_devices_fields() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(&b, &server, "events = [\"refund\"]").await;
    let batch = json!({
        "user_identities": [{"identity_type": "customer_id", "identity": "cust-1001"}],
        "device_info": {"platform": "Android", "os_version": "14", "brand": "google",
                        "device_manufacturer": "Google", "device_model": "Pixel 8",
                        "network_carrier": "T-Mobile", "locale_language": "de",
                        "locale_country": "DE",
                        "android_advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d"},
        "application_info": {"application_version": "5.2.0"},
        "ip": "198.51.100.7",
        "events": [{"event_type": "commerce_event", "data": {
            "event_id": 7, "timestamp_unixtime_ms": 1_795_341_605_000_i64, "currency_code": "EUR",
            "product_action": {"action": "refund", "transaction_id": "T-1", "total_amount": 55.0,
                               "products": [{"id": "sku-1", "name": "Shoe", "price": 55.0, "quantity": 1}]}
        }}]
    });
    post(&b, "/v1/mparticle/events", &batch).await;
    let queued = dispatch_queued(&b).await;
    let events = sent_events(&request_bodies(&server).await);
    assert_eq!(
        events,
        vec![json!({
            "user_id": "cust-1001",
            "event_type": "refund",
            "time": 1_795_341_605_000_i64,
            "insert_id": queued[0].event_uuid,
            "revenue": -55.0,
            "revenueType": "refund",
            "price": -55.0,
            "quantity": 1,
            "productId": "sku-1",
            "event_properties": full_properties(&queued[0]),
            "platform": "Android",
            "os_name": "Android",
            "os_version": "14",
            "device_brand": "google",
            "device_manufacturer": "Google",
            "device_model": "Pixel 8",
            "carrier": "T-Mobile",
            "language": "de",
            "country": "DE",
            "app_version": "5.2.0",
            "ip": "198.51.100.7",
            "adid": "38400000-8cf0-11bd-b23e-10b96e40000d"
        })]
    );
}
