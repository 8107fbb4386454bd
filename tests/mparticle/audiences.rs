//! Firehose audiences → segments `mparticle-<audience_id>` with Partner
//! Sync events (docs/rules/mparticle-mapping.md "Audiences", docs/rules/partner-sync.md).

use engage_bridge_tests::{Backend, contract_tests};
use engage_bridge_tests::{fixture, invoke};
use http::StatusCode;
use serde_json::{Value, json};
use shared::topology::Function;

use crate::support::*;

fn membership_request(timestamp_ms: i64, profiles: Value) -> Value {
    json!({
        "type": "audience_membership_change_request",
        "id": format!("req-{timestamp_ms}"),
        "timestamp_ms": timestamp_ms,
        "firehose_version": "3.2.0",
        "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "user_profiles": profiles
    })
}

fn customer(uid: &str) -> Value {
    json!([{"type": "customer", "encoding": "raw", "value": uid},
           {"type": "email", "encoding": "raw", "value": format!("{uid}@example.com")}])
}

async fn segment(b: &Backend, id: &str) -> Value {
    call(
        b,
        "GET",
        &format!("/v1/segments/{id}"),
        Some(&auth()),
        Vec::new(),
    )
    .await
    .body
}

async fn members(b: &Backend, id: &str) -> Vec<Value> {
    let reply = call(
        b,
        "GET",
        &format!("/v1/segments/{id}/members"),
        Some(&auth()),
        Vec::new(),
    )
    .await;
    reply.body["members"].as_array().unwrap().clone()
}

/// SDK 1.x shape (`added_audiences`/`removed_audiences`) and SDK 2.x shape
/// (`audiences[].action`) both become memberships, profiles are created on
/// first sight, and each change is announced.
async fn memberships_become_segments_with_partner_sync(b: &Backend) {
    setup(b, |_| {}).await;
    let added = membership_request(
        1_795_341_600_123,
        json!([
            {"user_identities": customer("u1"), "mpid": "1",
             "added_audiences": [{"audience_id": 456, "audience_name": "VIP Customers"}]},
            {"user_identities": customer("u2"), "mpid": "2",
             "audiences": [
                {"audience_id": 456, "audience_name": "VIP Customers", "action": "add"},
                {"audience_id": 789, "audience_name": "Churn Risk", "action": "add"},
                {"audience_id": 790, "audience_name": "Attrs only", "action": "attribute_update",
                 "user_attributes": [{"key": "k", "value": "v", "action": "upsert"}]}
             ]},
            {"user_identities": [{"type": "customer", "encoding": "md5", "value": "abc"}], "mpid": "3",
             "added_audiences": [{"audience_id": 456, "audience_name": "VIP Customers"}]}
        ]),
    );
    let reply = post_firehose(b, &added, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["type"], "audience_membership_change_response");

    let vip = segment(b, "mparticle-456").await;
    assert_eq!(vip["name"], "VIP Customers");
    assert_eq!(vip["type"], "Partner - mParticle");
    assert_eq!(vip["source"], "mParticle");
    assert_eq!(vip["cohort_id"], "456");
    assert_eq!(vip["member_count"], 2);
    assert_eq!(vip["sync_count"], 1);
    assert_eq!(segment(b, "mparticle-789").await["member_count"], 1);
    assert_eq!(
        segment(b, "mparticle-790").await["status"],
        "error",
        "no membership change"
    );
    let uids: Vec<Value> = members(b, "mparticle-456")
        .await
        .iter()
        .map(|m| m["uid"].clone())
        .collect();
    assert!(
        uids.contains(&json!("u1")) && uids.contains(&json!("u2")),
        "{uids:?}"
    );

    let u1 = get_user(b, "u1").await.body;
    assert_eq!(u1["attributes"], json!({"email": "u1@example.com"}));
    assert_eq!(u1["segments"], json!(["mparticle-456"]));

    let events = drain_events(b).await;
    assert_eq!(events.len(), 3);
    let u1_event = events.iter().find(|e| e["uid"] == "u1").unwrap();
    assert_eq!(
        u1_event,
        &json!({
            "event_name": "Partner Sync",
            "event_code": "PARTNER_SYNC",
            // (acme, segment, member, the request's time, action): docs/rules/ids.md.
            "event_uuid": "eaff47f5-645a-54a8-aa0d-e29d79e474c5",
            "event_time": 1_795_341_600,
            "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE",
            "uid": "u1",
            "event_attributes": {
                "Partner Segment Name": "VIP Customers",
                "Action": "Added",
                "Partner Segment ID": "456",
                "Partner Name": "mParticle",
                "Source": "mParticle"
            },
            "user_attributes": {"moengage_user_id": "72ca1b28-ef9c-530d-be14-d3cd14da93de"},
            "device_attributes": {}
        })
    );

    // Removal, later: both shapes again.
    let removed = membership_request(
        1_795_341_700_000,
        json!([
            {"user_identities": customer("u1"),
             "removed_audiences": [{"audience_id": 456, "audience_name": "VIP Customers"}]},
            {"user_identities": customer("u2"),
             "audiences": [{"audience_id": 456, "audience_name": "VIP Customers", "action": "delete"}]}
        ]),
    );
    let direct = invoke(b, Function::MparticleIngest, removed).await.unwrap();
    assert_eq!(
        direct["type"], "audience_membership_change_response",
        "{direct}"
    );
    assert_eq!(segment(b, "mparticle-456").await["member_count"], 0);
    assert!(members(b, "mparticle-456").await.is_empty());
    let events = drain_events(b).await;
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event["event_attributes"]["Action"], "Removed");
        assert_eq!(event["event_time"], 1_795_341_700);
    }

    // An older request (out of order) changes nothing.
    let late = membership_request(
        1_795_341_650_000,
        json!([{"user_identities": customer("u1"),
                "added_audiences": [{"audience_id": 456, "audience_name": "VIP Customers"}]}]),
    );
    assert_eq!(post_firehose(b, &late, None).await.status, StatusCode::OK);
    assert_eq!(segment(b, "mparticle-456").await["member_count"], 0);
    assert!(drain_events(b).await.is_empty());
}

/// A redelivered membership request re-announces with the same uuids and
/// changes no count.
async fn redelivered_memberships_are_idempotent(b: &Backend) {
    setup(b, |_| {}).await;
    let request = membership_request(
        1_795_341_600_000,
        json!([{"user_identities": customer("u1"),
                "added_audiences": [{"audience_id": 1, "audience_name": "A"}]}]),
    );
    post_firehose(b, &request, None).await;
    let first = drain_events(b).await;
    post_firehose(b, &request, None).await;
    assert_eq!(drain_events(b).await, first);
    assert_eq!(segment(b, "mparticle-1").await["member_count"], 1);
}

/// All changes of a request share its `timestamp_ms`; array order decides
/// (docs/rules/member-matching.md "Ordering: versions"): a customer added and
/// then deleted in one request ends deleted, in either format.
async fn a_customer_added_then_deleted_in_one_request_ends_deleted(b: &Backend) {
    setup(b, |_| {}).await;
    let vip = |action: &str| json!({"audience_id": 456, "audience_name": "VIP", "action": action});
    let request = membership_request(
        1_795_341_600_123,
        json!([
            {"user_identities": customer("u1"), "audiences": [vip("add"), vip("delete")]},
            {"user_identities": customer("u2"), "audiences": [vip("add")]},
            {"user_identities": customer("u3"), "audiences": [vip("add")]},
            {"user_identities": customer("u2"),
             "removed_audiences": [{"audience_id": 456, "audience_name": "VIP"}]},
            {"user_identities": customer("u3"), "audiences": [vip("delete"), vip("add")]}
        ]),
    );
    let reply = post_firehose(b, &request, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let uids: Vec<Value> = members(b, "mparticle-456")
        .await
        .iter()
        .map(|m| m["uid"].clone())
        .collect();
    assert_eq!(uids, vec![json!("u3")], "{}", b.kind);
    assert_eq!(segment(b, "mparticle-456").await["member_count"], 1);
    // Every change is announced; u1's removal among them.
    let events = drain_events(b).await;
    assert!(events.iter().any(|e| e["uid"] == "u1"
        && e["event_attributes"]["Action"] == "Removed"
        && e["event_time"] == 1_795_341_600));
}

/// mParticle's own SDK sample (the pre-2.0 format) carries the same user
/// twice with opposite changes: the second profile's win
/// (tests/fixtures/SOURCES.md, finding 8).
async fn the_sdk_sample_with_one_user_twice_ends_as_its_last_profile_says(b: &Backend) {
    setup(b, |_| {}).await;
    let request =
        fixture("mparticle/firehose-audience-membership-change-request-legacy-added-removed.json");
    let reply = post_firehose(b, &request, Some(&auth())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let customer = "4739c5c11d833bb199c16ff95a92b267";
    for (audience, member) in [(432, true), (654, true), (456, false), (789, false)] {
        let uids: Vec<Value> = members(b, &format!("mparticle-{audience}"))
            .await
            .iter()
            .map(|m| m["uid"].clone())
            .collect();
        assert_eq!(
            uids.contains(&json!(customer)),
            member,
            "{}: audience {audience}",
            b.kind
        );
    }
}

/// Audience subscriptions are acknowledged; `add` creates the segment and
/// `update` renames it.
async fn audience_subscription_is_acknowledged(b: &Backend) {
    setup(b, |_| {}).await;
    let request = |action: &str, name: &str| {
        json!({
            "type": "audience_subscription_request", "id": "s", "timestamp_ms": 1,
            "firehose_version": "3.2.0",
            "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
            "audience_id": 1234, "audience_name": name, "action": action
        })
    };
    let reply = post_firehose(b, &request("add", "New Users"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["type"], "audience_subscription_response");
    assert_eq!(segment(b, "mparticle-1234").await["name"], "New Users");
    post_firehose(b, &request("update", "Newer Users"), None).await;
    assert_eq!(segment(b, "mparticle-1234").await["name"], "Newer Users");
    let reply = post_firehose(b, &request("remove", "Newer Users"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(segment(b, "mparticle-1234").await["member_count"], 0);
}

contract_tests!(
    memberships_become_segments_with_partner_sync,
    redelivered_memberships_are_idempotent,
    a_customer_added_then_deleted_in_one_request_ends_deleted,
    the_sdk_sample_with_one_user_twice_ends_as_its_last_profile_says,
    audience_subscription_is_acknowledged,
);
