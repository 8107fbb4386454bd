//! `POST /v1/mparticle/events`: the wire formats, skipped types, replays,
//! validation and the rate limit.

use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The sample batch (webhook output: identities as an array, 19-digit
/// negative ids) gives exactly these events and this profile.
async fn sample_batch_maps_to_exact_events(b: &Backend) {
    setup(b, |_| {}).await;
    let reply = post_events(b, &sample_batch()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "status": "success", "events": 2, "profiles": 1,
            "skipped": {"session_start": 1}, "skipped_batches": 0, "skipped_attributes": 0,
            "cut_attributes": 0
        })
    );

    let user = get_user(b, "cust-1001").await;
    assert_eq!(user.status, StatusCode::OK);
    assert_eq!(
        user.body["attributes"],
        json!({
            "first_name": "Jane", "last_name": "Doe", "city": "Berlin", "country": "DE",
            "plan": "premium", "loyalty_points": 1200, "newsletter_opt_in": true,
            "favourite_categories": ["Shoes", "Accessories"],
            "email": "jane.doe@example.com"
        })
    );
    // Derived by hand from docs/rules/ids.md: (acme, "uid", cust-1001).
    let moengage_user_id = json!("7ef9a5c2-c3e5-574f-9215-44d528d86363");
    assert_eq!(user.body["moengage_user_id"], moengage_user_id);

    let events = drain_events(b).await;
    assert_eq!(events.len(), 2);
    // (acme, "mparticle-device", "ios_vendor_id", the idfv): docs/rules/ids.md.
    let device_id = json!("37d55b78-1ada-5b57-a584-094aa1daf4ef");
    let device = json!({
        "platform": "iOS", "brand": "Apple", "product": "iPhone15,2",
        "device_manufacturer": "Apple", "os_version": "17.1",
        "ios_idfv": "0D2A1F4C-6B3E-4F5A-8C7D-9E0F1A2B3C4D", "locale_language": "en",
        "locale_country": "US", "timezone_offset": 0, "device_model": "iPhone15,2",
        // The batch's application_info.application_version and ip.
        "application_version": "2.3.1", "ip": "203.0.113.10",
        "moengage_device_id": device_id
    });
    let custom = named(&events, "Viewed Product Page");
    assert_eq!(
        custom,
        &json!({
            "event_name": "Viewed Product Page",
            "event_code": "Viewed Product Page",
            // (acme, "mparticle", "event", its event_id, its name): docs/rules/ids.md.
            "event_uuid": "335cec47-27e5-5c2c-a4b2-f6881706cc09",
            "event_time": 1_795_341_605,
            "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE",
            "uid": "cust-1001",
            "event_attributes": {"product_id": "SKU-1", "category": "Shoes", "on_sale": "true"},
            "user_attributes": {"moengage_user_id": moengage_user_id},
            "device_attributes": device
        })
    );
    let purchase = named(&events, "purchase");
    assert_eq!(
        purchase,
        &json!({
            "event_name": "purchase",
            "event_code": "purchase",
            "event_uuid": "f7235e12-220b-5f27-93cf-d08fdc974bf1",
            "event_time": 1_795_341_660,
            "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE",
            "uid": "cust-1001",
            "event_attributes": {
                "checkout_flow": "express",
                "transaction_id": "T-100045",
                "currency_code": "USD",
                "total_amount": 114.97,
                "shipping_amount": 5.0,
                "tax_amount": 9.99,
                "products": [
                    {"size": "42", "color": "blue", "id": "SKU-1", "name": "Trail Running Shoe",
                     "category": "Shoes", "brand": "Acme", "price": 49.99, "quantity": 2,
                     "total_amount": 99.98},
                    {"id": "SKU-7", "name": "Running Socks", "category": "Accessories",
                     "brand": "Acme", "price": 4.99, "quantity": 1, "total_amount": 4.99}
                ]
            },
            "user_attributes": {"moengage_user_id": moengage_user_id},
            "device_attributes": device
        })
    );
    for event in &events {
        let uuid = uuid::Uuid::parse_str(event["event_uuid"].as_str().unwrap()).unwrap();
        assert_eq!(uuid.get_version_num(), 5, "derived, not random");
        assert!(
            device_id
                .as_str()
                .is_some_and(|d| uuid::Uuid::parse_str(d).is_ok())
        );
    }
    assert_ne!(custom["event_uuid"], purchase["event_uuid"]);
}

/// Every Events-API type that is not mapped is skipped and counted per type,
/// also one mParticle may add later; the request still succeeds.
async fn unsupported_types_are_skipped_and_counted(b: &Backend) {
    setup(b, |_| {}).await;
    let skipped_types = [
        "session_start",
        "session_end",
        "screen_view",
        "crash_report",
        "opt_out",
        "first_run",
        "push_registration",
        "application_state_transition",
        "push_message",
        "network_performance",
        "breadcrumb",
        "profile",
        "uninstall",
        "a_type_from_the_future",
    ];
    let mut events: Vec<Value> = skipped_types
        .iter()
        .map(|t| json!({"event_type": t, "data": {"timestamp_unixtime_ms": 1}}))
        .collect();
    events.push(json!({"event_type": "session_start", "data": null}));
    events.push(json!({"event_type": "custom_event", "data": {
        "event_name": "Signed Up", "custom_event_type": "other", "event_id": 1
    }}));
    let reply = post_events(b, &batch("u1", Value::Array(events))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut expected: serde_json::Map<String, Value> = skipped_types
        .iter()
        .map(|t| (t.to_string(), json!(1)))
        .collect();
    expected.insert("session_start".into(), json!(2));
    assert_eq!(reply.body["skipped"], Value::Object(expected));
    assert_eq!(reply.body["events"], 1);
    let events = drain_events(b).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_name"], "Signed Up");
}

/// A replayed request yields the same event uuids and leaves the profile
/// as it was.
async fn replays_give_the_same_uuids(b: &Backend) {
    setup(b, |_| {}).await;
    // Events with ids, with only a source_message_id, and with neither (the
    // batch id and position identify them).
    let body = batch(
        "u1",
        json!([
            {"event_type": "custom_event", "data": {"event_name": "A", "event_id": -3124860135581862101_i64}},
            {"event_type": "custom_event", "data": {"event_name": "A", "source_message_id": "m-2"}},
            {"event_type": "custom_event", "data": {"event_name": "A"}},
            {"event_type": "custom_event", "data": {"event_name": "A"}}
        ]),
    );
    let mut body_with_attrs = body.clone();
    body_with_attrs["user_attributes"] = json!({"$City": "Pune", "plan": "gold"});
    assert_eq!(
        post_events(b, &body_with_attrs).await.status,
        StatusCode::OK
    );
    let first = drain_events(b).await;
    let profile = get_user(b, "u1").await.body;
    assert_eq!(
        post_events(b, &body_with_attrs).await.status,
        StatusCode::OK
    );
    let second = drain_events(b).await;
    assert_eq!(first, second, "replay yields identical events");
    let uuids: std::collections::HashSet<&Value> = first.iter().map(|e| &e["event_uuid"]).collect();
    assert_eq!(uuids.len(), 4, "distinct events get distinct uuids");
    assert_eq!(get_user(b, "u1").await.body, profile, "profile unchanged");

    // Batches without any id: the content identifies the event.
    let mut anonymous = body.clone();
    anonymous.as_object_mut().unwrap().remove("batch_id");
    post_events(b, &anonymous).await;
    let a = drain_events(b).await;
    post_events(b, &anonymous).await;
    let again = drain_events(b).await;
    assert_eq!(a, again);
    assert_eq!(a[0]["event_uuid"], first[0]["event_uuid"], "own ids win");
    assert_ne!(a[2]["event_uuid"], first[2]["event_uuid"]);
}

/// Invalid input is a 400 naming the JSON path, and nothing of the
/// request is applied.
async fn bad_input_is_rejected_whole(b: &Backend) {
    setup(b, |_| {}).await;
    let good = batch(
        "u1",
        json!([{"event_type": "custom_event", "data": {"event_name": "A", "event_id": 1}}]),
    );
    let bad = batch(
        "u2",
        json!([
            {"event_type": "custom_event", "data": {"event_name": "B", "event_id": 2}},
            {"event_type": "commerce_event", "data": {"product_action": {
                "action": "purchase", "products": [{"id": "p1", "price": "lots"}]
            }}}
        ]),
    );
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([good.clone(), bad]),
            "invalid request body at [1].events[1].data.product_action.products[0].price: expected a number, found a string",
        ),
        (
            json!({"events": [{"data": {}}]}),
            "invalid request body at events[0]: missing field \"event_type\"",
        ),
        (
            json!({"events": [{"event_type": "custom_event", "data": {"event_name": {}}}]}),
            "invalid request body at events[0].data.event_name: expected a string, found an object",
        ),
        (
            json!({"user_identities": {"customer_id": {"nested": 1}}}),
            "invalid request body at user_identities.customer_id: expected a string, found an object",
        ),
        (
            json!({"mpid": 1.5}),
            "invalid request body at mpid: expected an integer or a string id, found a number",
        ),
        (
            json!({"events": {}}),
            "invalid request body at events: expected an array, found an object",
        ),
        (
            json!(42),
            "invalid request body: expected a batch object or an array of batches",
        ),
    ];
    for (body, message) in cases {
        let reply = post_events(b, &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.body, json!({"status": "error", "error": message}));
    }
    let reply = call(
        b,
        "POST",
        "/v1/mparticle/events",
        Some(&auth()),
        b"{\"events\": [".to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .starts_with("request body is not valid JSON"),
        "{}",
        reply.body
    );
    assert_eq!(get_user(b, "u1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get_user(b, "u2").await.status, StatusCode::NOT_FOUND);
    assert!(drain_events(b).await.is_empty(), "nothing queued");

    // 100 batches are accepted, 101 are not.
    let many: Vec<Value> = (0..101)
        .map(|i| batch(&format!("m{i}"), json!([])))
        .collect();
    let reply = post_events(b, &Value::Array(many[..100].to_vec())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["profiles"], 100);
    let reply = post_events(b, &Value::Array(many)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["error"],
        "invalid request body: 101 batches in one request; at most 100 are accepted"
    );
}

/// `mparticle_requests_per_minute` per workspace: over it, 429 with
/// Retry-After and nothing applied.
async fn rate_limit_answers_429(b: &Backend) {
    setup(b, |ws| ws.mparticle_requests_per_minute = 2).await;
    avoid_minute_boundary().await;
    let body = batch(
        "u1",
        json!([{"event_type": "custom_event", "data": {"event_name": "A", "event_id": 1}}]),
    );
    for _ in 0..2 {
        assert_eq!(post_events(b, &body).await.status, StatusCode::OK);
    }
    drain_events(b).await;
    let reply = post_events(b, &json!({"not": "even looked at"})).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        reply.body["error"],
        format!("rate limit exceeded: 2 requests per minute; retry after {retry_after} s")
    );
    assert_eq!(
        post_events(b, &body).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(drain_events(b).await.is_empty());
}

/// Historical data is accepted as is (docs/rules/mparticle-mapping.md): event_time is
/// floor(timestamp_ms / 1000), also before 1970.
async fn historical_timestamps_are_kept(b: &Backend) {
    setup(b, |_| {}).await;
    let body = batch(
        "u1",
        json!([
            {"event_type": "custom_event", "data": {"event_name": "Old", "event_id": 1, "timestamp_unixtime_ms": 1_262_304_000_999_i64}},
            {"event_type": "custom_event", "data": {"event_name": "Older", "event_id": 2, "timestamp_unixtime_ms": "-1500"}},
            {"event_type": "custom_event", "data": {"event_name": "Batch time", "event_id": 3}}
        ]),
    );
    assert_eq!(post_events(b, &body).await.status, StatusCode::OK);
    let events = drain_events(b).await;
    assert_eq!(named(&events, "Old")["event_time"], 1_262_304_000);
    assert_eq!(named(&events, "Older")["event_time"], -2);
    assert_eq!(named(&events, "Batch time")["event_time"], 1_795_341_661);
}

/// Other workspaces' credentials never reach this workspace's data.
async fn unauthenticated_requests_are_refused(b: &Backend) {
    setup(b, |_| {}).await;
    let body = sample_batch().to_string().into_bytes();
    for auth in [None, Some(engage_bridge_tests::basic(WS, "wrong"))] {
        let reply = call(
            b,
            "POST",
            "/v1/mparticle/events",
            auth.as_deref(),
            body.clone(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert!(drain_events(b).await.is_empty());
}

/// A `+` in a path segment is a `+` (only a query string encodes a space
/// that way): `GET /v1/users/jane+1@example.com` finds that user, and not
/// `jane 1@example.com`.
async fn a_plus_in_a_user_id_stays_a_plus(b: &Backend) {
    setup(b, |_| {}).await;
    let event = json!([{"event_type": "custom_event", "data": {"event_name": "A"}}]);
    for uid in ["jane+1@example.com", "jane 1@example.com"] {
        let mut body = batch(uid, event.clone());
        body["user_attributes"] = json!({"who": uid});
        assert_eq!(post_events(b, &body).await.status, StatusCode::OK);
    }
    let plus = get_user(b, "jane+1@example.com").await;
    assert_eq!(plus.status, StatusCode::OK, "{}", b.kind);
    assert_eq!(plus.body["uid"], "jane+1@example.com");
    assert_eq!(plus.body["attributes"]["who"], "jane+1@example.com");
    let space = get_user(b, "jane%201@example.com").await;
    assert_eq!(space.status, StatusCode::OK, "{}", b.kind);
    assert_eq!(space.body["uid"], "jane 1@example.com");
    let encoded_plus = get_user(b, "jane%2B1@example.com").await;
    assert_eq!(encoded_plus.body["uid"], "jane+1@example.com");
}

contract_tests!(
    sample_batch_maps_to_exact_events,
    unsupported_types_are_skipped_and_counted,
    replays_give_the_same_uuids,
    bad_input_is_rejected_whole,
    rate_limit_answers_429,
    historical_timestamps_are_kept,
    unauthenticated_requests_are_refused,
    a_plus_in_a_user_id_stays_a_plus,
);
