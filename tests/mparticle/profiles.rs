//! Profiles (docs/rules/mparticle-mapping.md): identity choice, reserved and custom attributes,
//! identities, attribute and identity changes, anonymous ids.

use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};
use shared::config::MparticleIdentity;

use crate::support::*;

/// Reserved attributes map to standard ones whatever their letter case;
/// identities (here as a map) to `email` and `mobile`.
async fn reserved_attributes_and_identities(b: &Backend) {
    setup(b, |_| {}).await;
    let body = json!([
        {
            "user_identities": {"customer_id": "u1", "email": "a@example.com",
                                "mobile_number": "+4915112345678", "other": "x"},
            "user_attributes": {
                "$FirstName": "Jane", "$LastName": "Doe", "$Gender": "F", "$Age": 34,
                "$Address": "Main St 1", "$City": "Berlin", "$State": "BE", "$Zip": "10115",
                "$Country": "DE"
            }
        },
        {
            "user_identities": {"customer_id": "u2"},
            "user_attributes": {
                "$firstname": "Joe", "$LASTNAME": "Roe", "$gender": "M", "$age": "41",
                "$address": "Side St 2", "$city": "Pune", "$state": "MH", "$zip": "411001",
                "$country": "IN", "$mobile": "+919812345678", "$Custom": "kept as is"
            }
        }
    ]);
    let reply = post_events(b, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["profiles"], 2);
    assert_eq!(
        get_user(b, "u1").await.body["attributes"],
        json!({
            "first_name": "Jane", "last_name": "Doe", "gender": "F", "age": 34,
            "address": "Main St 1", "city": "Berlin", "state": "BE", "zip": "10115",
            "country": "DE", "email": "a@example.com", "mobile": "+4915112345678"
        })
    );
    assert_eq!(
        get_user(b, "u2").await.body["attributes"],
        json!({
            "first_name": "Joe", "last_name": "Roe", "gender": "M", "age": "41",
            "address": "Side St 2", "city": "Pune", "state": "MH", "zip": "411001",
            "country": "IN", "mobile": "+919812345678", "$Custom": "kept as is"
        })
    );
}

/// Each `mparticle_identity` picks the uid; a batch without it is skipped
/// and counted.
async fn identity_choice_decides_the_uid(b: &Backend) {
    let body = json!([
        {"mpid": -8433569171194955432_i64,
         "user_identities": [{"identity_type": "customer_id", "identity": "c1"},
                             {"identity_type": "email", "identity": "c1@example.com"}],
         "user_attributes": {"plan": "gold"}},
        {"mpid": "77", "user_identities": [{"identity_type": "email", "identity": "e2@example.com"}]},
        {"user_identities": {"customer_id": "c3"}},
        {"mpid": 5, "user_identities": {"other": "nothing"}}
    ]);
    let cases = [
        (MparticleIdentity::CustomerId, vec!["c1", "c3"], 2),
        (
            MparticleIdentity::Email,
            vec!["c1@example.com", "e2@example.com"],
            2,
        ),
        (
            MparticleIdentity::Mpid,
            vec!["-8433569171194955432", "77", "5"],
            1,
        ),
    ];
    for (identity, uids, skipped) in cases {
        setup(b, |ws| ws.mparticle_identity = identity).await;
        let reply = post_events(b, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["profiles"], uids.len(), "{identity:?}");
        assert_eq!(reply.body["skipped_batches"], skipped, "{identity:?}");
        for uid in uids {
            let user = get_user(b, uid).await;
            assert_eq!(user.status, StatusCode::OK, "{identity:?} {uid}");
            assert_eq!(user.body["uid"], uid);
        }
    }
    // The same person under each identity is one profile per uid.
    let user = get_user(b, "-8433569171194955432").await.body;
    assert_eq!(user["attributes"]["plan"], "gold");
    assert_eq!(user["attributes"]["email"], "c1@example.com");
}

/// Custom attributes keep their types; objects only with
/// `allow_object_attributes`, else skipped and counted.
async fn object_attributes_need_the_flag(b: &Backend) {
    let body = batch("u1", json!([]));
    let mut body = body;
    body["user_attributes"] = json!({
        "text": "x", "number": 1.5, "flag": false, "date": "2026-11-22T10:00:00Z",
        "list": ["a", "b"], "tag": null,
        "address_object": {"street": "Main St", "no": 1},
        "list_of_objects": [{"a": 1}]
    });
    setup(b, |_| {}).await;
    let reply = post_events(b, &body).await;
    assert_eq!(reply.body["skipped_attributes"], 2, "{}", reply.body);
    assert_eq!(
        get_user(b, "u1").await.body["attributes"],
        json!({"text": "x", "number": 1.5, "flag": false, "date": "2026-11-22T10:00:00Z",
               "list": ["a", "b"], "tag": null})
    );

    setup(b, |ws| ws.allow_object_attributes = true).await;
    let reply = post_events(b, &body).await;
    assert_eq!(reply.body["skipped_attributes"], 0, "{}", reply.body);
    let attributes = get_user(b, "u1").await.body["attributes"].clone();
    assert_eq!(
        attributes["address_object"],
        json!({"street": "Main St", "no": 1})
    );
    assert_eq!(attributes["list_of_objects"], json!([{"a": 1}]));
}

/// `user_attribute_change` sets and deletes attributes (reserved names
/// mapped); `user_identity_change` updates identities; the batch's state and
/// `deleted_user_attributes` come last.
async fn attribute_and_identity_changes(b: &Backend) {
    setup(b, |_| {}).await;
    let first = json!({
        "user_identities": {"customer_id": "u1", "email": "old@example.com"},
        "user_attributes": {"$City": "Berlin", "plan": "silver", "score": 1, "legacy": "x"}
    });
    assert_eq!(post_events(b, &first).await.status, StatusCode::OK);

    let changes = json!({
        "user_identities": [{"identity_type": "customer_id", "identity": "u1"}],
        "deleted_user_attributes": ["legacy"],
        "events": [
            {"event_type": "user_attribute_change", "data": {
                "user_attribute_name": "plan", "new": "gold", "old": "silver",
                "deleted": false, "is_new_attribute": false, "event_id": 1}},
            {"event_type": "user_attribute_change", "data": {
                "user_attribute_name": "$city", "new": null, "old": "Berlin",
                "deleted": true, "is_new_attribute": false, "event_id": 2}},
            {"event_type": "user_attribute_change", "data": {
                "user_attribute_name": "interests", "new": ["run", "swim"],
                "deleted": false, "is_new_attribute": true, "event_id": 3}},
            {"event_type": "user_identity_change", "data": {
                "new": {"identity_type": "email", "identity": "new@example.com",
                        "timestamp_unixtime_ms": 1, "created_this_batch": true},
                "old": {"identity_type": "email", "identity": "old@example.com",
                        "timestamp_unixtime_ms": 1, "created_this_batch": false},
                "event_id": 4}},
            {"event_type": "user_identity_change", "data": {
                "new": {"identity_type": "mobile_number", "identity": "+4915100000000",
                        "timestamp_unixtime_ms": 1},
                "old": {"identity_type": "mobile_number", "identity": null,
                        "timestamp_unixtime_ms": 1},
                "event_id": 5}}
        ]
    });
    let reply = post_events(b, &changes).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["events"], 0,
        "changes update the profile, not events"
    );
    assert_eq!(
        get_user(b, "u1").await.body["attributes"],
        json!({"plan": "gold", "score": 1, "interests": ["run", "swim"],
               "email": "new@example.com", "mobile": "+4915100000000"})
    );

    // An identity removed (no new value) removes its attribute.
    let removal = json!({
        "user_identities": {"customer_id": "u1"},
        "events": [{"event_type": "user_identity_change", "data": {
            "new": {"identity_type": "mobile_number", "identity": null, "timestamp_unixtime_ms": 2},
            "old": {"identity_type": "mobile_number", "identity": "+4915100000000", "timestamp_unixtime_ms": 1}
        }}]
    });
    assert_eq!(post_events(b, &removal).await.status, StatusCode::OK);
    let attributes = get_user(b, "u1").await.body["attributes"].clone();
    assert!(attributes.get("mobile").is_none(), "{attributes}");
}

/// Firehose `user_attribute_change` (added/removed maps) and
/// `user_identity_change` (added/removed identity lists).
async fn firehose_changes(b: &Backend) {
    setup(b, |_| {}).await;
    let request = |events: Value| {
        json!({
            "type": "event_processing_request", "id": "r", "timestamp_ms": 1, "firehose_version": "3.2.0",
            "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
            "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
            "events": events
        })
    };
    let first = request(json!([
        {"type": "user_attribute_change", "id": "e1", "timestamp_ms": 1,
         "added": {"$FirstName": "Jane", "plan": "silver", "legacy": "x"}, "removed": {}},
        {"type": "user_identity_change", "id": "e2", "timestamp_ms": 1,
         "added": [{"type": "email", "encoding": "raw", "value": "old@example.com"}], "removed": []}
    ]));
    assert_eq!(post_firehose(b, &first, None).await.status, StatusCode::OK);
    let second = request(json!([
        {"type": "user_attribute_change", "id": "e3", "timestamp_ms": 2,
         "added": {"plan": "gold"}, "removed": {"plan": "silver", "legacy": "x"}},
        {"type": "user_identity_change", "id": "e4", "timestamp_ms": 2,
         "added": [{"type": "email", "encoding": "sha256", "value": "ab12"}],
         "removed": [{"type": "email", "encoding": "raw", "value": "old@example.com"}]}
    ]));
    let reply = post_firehose(b, &second, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        get_user(b, "u1").await.body["attributes"],
        json!({"first_name": "Jane", "plan": "gold"}),
        "hashed identities are not stored as attributes"
    );
}

/// The workspace's anonymous-id attribute becomes one of the profile's
/// anonymous ids (what cohort members are matched against).
async fn anonymous_id_attribute_is_an_anonymous_id(b: &Backend) {
    setup(b, |ws| ws.anonymous_id_attribute = "device_key".into()).await;
    let mut body = batch("u1", json!([]));
    body["user_attributes"] = json!({"device_key": "anon-7", "moe_anonymous_id": "other"});
    assert_eq!(post_events(b, &body).await.status, StatusCode::OK);
    let user = get_user(b, "u1").await.body;
    assert_eq!(user["anonymous_ids"], json!(["anon-7"]));
    assert_eq!(user["attributes"]["device_key"], "anon-7");
    let found = b
        .profiles
        .find_by_anonymous_ids(WS, &["anon-7".to_owned(), "other".to_owned()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        Value::String(found["anon-7"].clone()),
        user["moengage_user_id"]
    );
}

/// A profile keeps a bounded amount of attributes: a huge text value is
/// cut, and attributes that would take the profile past its budget, across
/// any number of requests, are not kept; both are counted.
async fn a_profile_keeps_a_bounded_amount_of_attributes(b: &Backend) {
    use shared::input::limits::{ATTRIBUTE_VALUE_BYTES, PROFILE_ATTRIBUTE_BYTES};
    setup(b, |_| {}).await;
    let huge = json!({"user_identities": {"customer_id": "u1"},
                      "user_attributes": {"bio": "x".repeat(2 << 20)}});
    let reply = post_events(b, &huge).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["cut_attributes"], 1);
    let bio = get_user(b, "u1").await.body["attributes"]["bio"].clone();
    assert_eq!(bio.as_str().unwrap().len(), ATTRIBUTE_VALUE_BYTES);

    let value = "v".repeat(ATTRIBUTE_VALUE_BYTES - 64);
    let mut skipped = 0;
    for request in 0..6 {
        let attributes: serde_json::Map<String, Value> = (0..3)
            .map(|i| (format!("a{request}{i}"), json!(value)))
            .collect();
        let body = json!({"user_identities": {"customer_id": "u1"}, "user_attributes": attributes});
        let reply = post_events(b, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        skipped += reply.body["skipped_attributes"].as_u64().unwrap();
    }
    let attributes = get_user(b, "u1").await.body["attributes"].clone();
    let kept = attributes.as_object().unwrap();
    let bytes: usize = kept
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum();
    assert!(
        bytes <= PROFILE_ATTRIBUTE_BYTES,
        "{} bytes kept ({})",
        bytes,
        b.kind
    );
    assert!(skipped > 0, "{}", b.kind);
    assert_eq!(
        kept.len() as u64 - 1 + skipped,
        18,
        "every attribute kept or counted"
    );
}

contract_tests!(
    a_profile_keeps_a_bounded_amount_of_attributes,
    reserved_attributes_and_identities,
    identity_choice_decides_the_uid,
    object_attributes_need_the_flag,
    attribute_and_identity_changes,
    firehose_changes,
    anonymous_id_attribute_is_an_anonymous_id,
);
