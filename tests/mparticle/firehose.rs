//! Firehose over HTTP and as a direct Lambda invocation: registration,
//! credentials, event processing, rate limit.

use engage_bridge_tests::invoke;
use engage_bridge_tests::{Backend, basic, contract_tests, workspace};
use http::StatusCode;
use serde_json::{Value, json};
use shared::topology::Function;

use crate::support::*;

fn assert_registration(response: &Value) {
    assert_eq!(response["type"], "module_registration_response");
    assert_eq!(response["firehose_version"], "3.2.0");
    // Derived from the sample request's id (docs/rules/ids.md), by hand.
    assert_eq!(response["id"], "bf5650fb-c5fb-5ca9-8f3b-c4ee9f2e0645");
    assert!(response["timestamp_ms"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(response["name"], "engage-bridge");
    assert!(
        response["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(response["version"].is_string());
    let registration = &response["event_processing_registration"];
    assert_eq!(
        registration["account_settings"],
        json!([
            {"type": "text", "id": "workspace_id", "name": "Workspace ID",
             "description": "The engage-bridge workspace id (the Data API ID of the workspace).",
             "visible": true, "required": true, "confidential": false},
            {"type": "text", "id": "secret_key", "name": "Secret Key",
             "description": "The workspace secret (the Data API key).",
             "visible": true, "required": true, "confidential": true}
        ])
    );
    assert_eq!(
        registration["supported_event_types"],
        json!([
            "custom_event",
            "product_action",
            "promotion_action",
            "impression",
            "user_attribute_change",
            "user_identity_change"
        ])
    );
    assert_eq!(
        response["audience_processing_registration"]["account_settings"],
        registration["account_settings"]
    );
    assert_eq!(response["permissions"]["allow_access_mpid"], true);
}

/// Module registration needs no credentials, over HTTP and directly (with
/// the events/ sample).
async fn module_registration_needs_no_credentials(b: &Backend) {
    let request = sample("mparticle-ingest/firehose-module-registration.json");
    let reply = post_firehose(b, &request, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_registration(&reply.body);

    let direct = invoke(b, Function::MparticleIngest, request).await.unwrap();
    assert_registration(&direct);
    assert_eq!(
        direct["id"], reply.body["id"],
        "response id derives from the request id"
    );
}

/// The events/ sample: direct invocation authenticated by the account
/// settings, mapped like the Events API (same device → same
/// `moengage_device_id`).
async fn event_processing_sample_via_direct_invocation(b: &Backend) {
    b.workspaces
        .apply(&[workspace("demo", "change-me")])
        .await
        .unwrap();
    let request = sample("mparticle-ingest/firehose-event-processing.json");
    let response = invoke(b, Function::MparticleIngest, request.clone())
        .await
        .unwrap();
    assert_eq!(response["type"], "event_processing_response", "{response}");
    assert_eq!(
        response.as_object().unwrap().len(),
        4,
        "exactly the SDK's response fields: {response}"
    );
    let reply = call(
        b,
        "GET",
        "/v1/users/cust-1001",
        Some(&basic("demo", "change-me")),
        Vec::new(),
    )
    .await;
    assert_eq!(
        reply.body["attributes"],
        json!({"first_name": "Jane", "last_name": "Doe", "city": "Berlin", "country": "DE",
               "plan": "premium", "favourite_categories": ["Shoes", "Accessories"],
               "email": "jane.doe@example.com"})
    );
    let events = drain_events(b).await;
    assert_eq!(events.len(), 2, "session_start skipped");
    let custom = named(&events, "Viewed Product Page");
    let device = json!({
        "platform": "ios", "sdk_version": "8.22.0", "brand": "Apple", "product": "iPhone15,2",
        "manufacturer": "Apple", "os_version": "17.1", "model": "iPhone15,2",
        "locale_language": "en", "locale_country": "US", "timezone_offset": 0,
        "application_name": "Demo App", "application_version": "2.3.1",
        "ios_vendor_id": "0D2A1F4C-6B3E-4F5A-8C7D-9E0F1A2B3C4D",
        // runtime_environment.client_ip_address, under the Events-API name.
        "ip": "203.0.113.10",
        // (demo, "mparticle-device", "ios_vendor_id", the idfv): docs/rules/ids.md.
        "moengage_device_id": "2b7ce2c0-eda3-5859-b5bc-c8ca51e09100"
    });
    assert_eq!(
        custom,
        &json!({
            "event_name": "Viewed Product Page",
            "event_code": "Viewed Product Page",
            // (demo, "mparticle", "event", its Firehose id, its name): docs/rules/ids.md.
            "event_uuid": "59ba3086-e439-5bec-a159-2ae05427cd3a",
            "event_time": 1_795_341_605,
            "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE",
            "uid": "cust-1001",
            "event_attributes": {"product_id": "SKU-1", "category": "Shoes"},
            "user_attributes": {"moengage_user_id": reply.body["moengage_user_id"]},
            "device_attributes": device
        })
    );
    assert_eq!(
        named(&events, "purchase")["event_attributes"],
        json!({"checkout_flow": "express", "transaction_id": "T-100045", "currency_code": "USD",
               "total_amount": 114.97, "tax_amount": 9.99, "shipping_amount": 5.0,
               "products": [{"size": "42", "id": "SKU-1", "name": "Trail Running Shoe",
                             "brand": "Acme", "category": "Shoes", "price": 49.99,
                             "quantity": 2, "total_amount": 99.98}]})
    );

    // The Events-API sample describes the same iPhone (ios_idfv).
    let batch = invoke(
        b,
        Function::MparticleIngest,
        sample("mparticle-ingest/events-batch.json"),
    )
    .await
    .unwrap();
    assert_eq!(batch["statusCode"], 200, "{batch}");
    let other = drain_events(b).await;
    assert_eq!(
        other[0]["device_attributes"]["moengage_device_id"],
        custom["device_attributes"]["moengage_device_id"]
    );

    // A redelivery gives the same events.
    invoke(b, Function::MparticleIngest, request).await.unwrap();
    assert_eq!(drain_events(b).await, events);
}

/// Wrong credentials: 401 over HTTP, a failed invocation (`Unauthorized`)
/// directly; never a hint which part was wrong, never the secret.
async fn bad_credentials_are_refused(b: &Backend) {
    setup(b, |_| {}).await;
    let request = |id: &str, secret: &str| {
        json!({
            "type": "event_processing_request", "id": "r", "timestamp_ms": 1, "firehose_version": "3.2.0",
            "account": {"account_id": 1, "account_settings": {"workspace_id": id, "secret_key": secret}},
            "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
            "events": [{"type": "custom_event", "id": "e", "timestamp_ms": 1, "name": "A"}]
        })
    };
    let mut http_bodies = Vec::new();
    let mut direct_bodies = Vec::new();
    for (id, secret) in [(WS, "wrong-secret"), ("nobody", SECRET)] {
        let reply = post_firehose(b, &request(id, secret), Some(&auth())).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "account settings win over Basic"
        );
        http_bodies.push(reply.body);
        let direct = invoke(b, Function::MparticleIngest, request(id, secret))
            .await
            .unwrap_err();
        direct_bodies.push((direct.error_type(), direct.to_string()));
    }
    // No credentials at all.
    let mut anonymous = request(WS, SECRET);
    anonymous.as_object_mut().unwrap().remove("account");
    assert_eq!(
        post_firehose(b, &anonymous, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let direct = invoke(b, Function::MparticleIngest, anonymous.clone())
        .await
        .unwrap_err();
    direct_bodies.push((direct.error_type(), direct.to_string()));

    assert!(http_bodies.windows(2).all(|w| w[0] == w[1]));
    assert!(direct_bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        direct_bodies[0],
        ("Unauthorized", "missing or invalid credentials".to_owned())
    );
    assert!(!format!("{http_bodies:?}{direct_bodies:?}").contains("wrong-secret"));
    assert!(drain_events(b).await.is_empty());

    // Over HTTP, Basic auth is enough when there are no account settings.
    let reply = post_firehose(b, &anonymous, Some(&auth())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["type"], "event_processing_response");
    assert_eq!(drain_events(b).await.len(), 1);
}

/// Every Firehose event type docs/rules/mparticle-mapping.md does not map is skipped
/// (the response has the SDK's shape, so the counts are only logged;
/// nothing else is produced).
async fn firehose_unsupported_types_are_skipped(b: &Backend) {
    setup(b, |_| {}).await;
    let types = [
        "session_start",
        "session_end",
        "screen_view",
        "error",
        "privacy_setting_change",
        "push_subscription",
        "application_state_transition",
        "push_message_receipt",
        "push_message_open",
        "attribution",
        "promotion_action",
        "impression",
        "something_new",
    ];
    let mut events: Vec<Value> = types
        .iter()
        .enumerate()
        .map(
            |(i, t)| json!({"type": t, "id": format!("e{i}"), "timestamp_ms": 1, "action": "view"}),
        )
        .collect();
    events.push(json!({"type": "custom_event", "id": "c", "timestamp_ms": 1, "name": "Kept"}));
    let request = json!({
        "type": "event_processing_request", "id": "r", "timestamp_ms": 1, "firehose_version": "3.2.0",
        "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
        "events": events
    });
    let reply = post_firehose(b, &request, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let events = drain_events(b).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_name"], "Kept");
}

/// Firehose requests count against the same per-minute limit.
async fn firehose_rate_limit(b: &Backend) {
    setup(b, |ws| ws.mparticle_requests_per_minute = 1).await;
    avoid_minute_boundary().await;
    let request = json!({
        "type": "audience_subscription_request", "id": "r", "timestamp_ms": 1, "firehose_version": "3.2.0",
        "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "audience_id": 1, "audience_name": "A", "action": "add"
    });
    let first = invoke(b, Function::MparticleIngest, request.clone())
        .await
        .unwrap();
    assert_eq!(first["type"], "audience_subscription_response");
    // Over the limit, a direct invocation fails, so mParticle retries it.
    let limited = invoke(b, Function::MparticleIngest, request.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(limited.contains("rate limit exceeded"), "{limited}");
    assert!(limited.contains("retry after"), "{limited}");
    let reply = post_firehose(b, &request, None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.headers.contains_key("retry-after"));
    // Registration needs no workspace, so no limit applies to it.
    let registration = sample("mparticle-ingest/firehose-module-registration.json");
    assert_eq!(
        post_firehose(b, &registration, None).await.status,
        StatusCode::OK
    );
}

/// Malformed Firehose requests are 400s naming the path.
async fn firehose_bad_input(b: &Backend) {
    setup(b, |_| {}).await;
    let cases = [
        (
            json!({"id": "r"}),
            "invalid request body: missing field \"type\" (the Firehose message type)",
        ),
        (
            json!({"type": "dsr_processing_request"}),
            "invalid request body at type: unsupported Firehose message type \"dsr_processing_request\"",
        ),
        (
            json!({"type": "event_processing_request",
                   "account": {"account_settings": {"workspace_id": WS, "secret_key": SECRET}},
                   "events": [{"type": "custom_event", "id": "e", "name": ["x"]}]}),
            "invalid request body at events[0].name: expected a string, found an array",
        ),
    ];
    for (body, message) in cases {
        let reply = post_firehose(b, &body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.body["error"], message);
        let direct = invoke(b, Function::MparticleIngest, body)
            .await
            .unwrap_err();
        assert_eq!(direct.error_type(), "InvalidRequest");
        assert_eq!(direct.to_string(), message);
    }
}

contract_tests!(
    module_registration_needs_no_credentials,
    event_processing_sample_via_direct_invocation,
    bad_credentials_are_refused,
    firehose_unsupported_types_are_skipped,
    firehose_rate_limit,
    firehose_bad_input,
);
