//! Cohort Webhooks end to end: ack, stage, apply, Partner Sync events.

use std::time::Duration;

use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};
use shared::config::UnknownCohortUsers;
use shared::domain::{ProfileKey, ProfileUpdate};

use crate::common::*;

const SEGMENT: &str = "amplitude-7khm89cz";

async fn adds_then_removes_with_one_partner_sync_event_per_change(b: &Backend) {
    let auth = setup(b, None).await;
    let one = profile_with_uid(b, "user_one@example.com", None).await;
    let two = profile_with_uid(b, "user_two@example.com", None).await;

    let body = webhook(
        "7khm89cz",
        true,
        1_692_206_763,
        "9baaa88f::enter::0",
        users(&["user_one@example.com", "user_two@example.com", "stranger"]),
    );
    let ack = send_webhook(b, &auth, &body).await;
    assert_eq!(
        ack,
        json!({
            "status": "success", "duplicate": false, "message_id": "9baaa88f::enter::0",
            "segment_id": SEGMENT, "action": "Added", "computed_time": 1_692_206_763,
            "staged_users": 3, "skipped_without_id": 0, "staged_messages": 1
        })
    );
    // Acknowledged = staged: the segment exists and the sync is counted,
    // members arrive when the consumer runs.
    let before = segment(b, &auth, SEGMENT).await;
    assert_eq!(before["name"], "Cart Drop off");
    assert_eq!(before["type"], "Partner - Amplitude");
    assert_eq!(before["sync_count"], 1);
    assert_eq!(before["member_count"], 0);
    assert!(before["last_synced_at"].is_string());

    assert_eq!(apply_staged(b).await, (1, 0));
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(
        member_ids(&members),
        vec!["user_one@example.com", "user_two@example.com"]
    );
    assert_eq!(segment(b, &auth, SEGMENT).await["member_count"], 2);
    assert_eq!(
        sorted(&drain_events(b).await),
        sorted_values(vec![
            expected_partner_sync(
                SEGMENT,
                "7khm89cz",
                &one,
                Some("user_one@example.com"),
                1_692_206_763,
                "Added"
            ),
            expected_partner_sync(
                SEGMENT,
                "7khm89cz",
                &two,
                Some("user_two@example.com"),
                1_692_206_763,
                "Added"
            ),
        ])
    );

    let body = webhook(
        "7khm89cz",
        false,
        1_692_210_000,
        "9baaa88f::exit::0",
        users(&["user_one@example.com"]),
    );
    assert_eq!(send_webhook(b, &auth, &body).await["action"], "Removed");
    assert_eq!(apply_staged(b).await, (1, 0));
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(member_ids(&members), vec!["user_two@example.com"]);
    let after = segment(b, &auth, SEGMENT).await;
    assert_eq!(
        (after["member_count"].clone(), after["sync_count"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        sorted(&drain_events(b).await),
        vec![expected_partner_sync(
            SEGMENT,
            "7khm89cz",
            &one,
            Some("user_one@example.com"),
            1_692_210_000,
            "Removed"
        )]
    );
}

async fn a_replayed_message_id_is_acknowledged_and_not_applied(b: &Backend) {
    let auth = setup(b, None).await;
    profile_with_uid(b, "u1", None).await;
    let body = webhook("7khm89cz", true, 100, "m-1", users(&["u1"]));
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;
    assert_eq!(drain_events(b).await.len(), 1);

    // Amplitude retries after a timeout: same message_id (even if the body
    // were to differ) is acknowledged as a duplicate and nothing is staged.
    for replay in [
        body.clone(),
        webhook("7khm89cz", false, 200, "m-1", users(&["u1"])),
    ] {
        let r = post(b, "/v1/amplitude/cohorts", &auth, &replay).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["status"], "success");
        assert_eq!(r.body["duplicate"], true);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("already received")
        );
    }
    assert_eq!(apply_staged(b).await, (0, 0), "nothing staged for replays");
    assert!(drain_events(b).await.is_empty());
    let s = segment(b, &auth, SEGMENT).await;
    assert_eq!(
        (s["member_count"].clone(), s["sync_count"].clone()),
        (json!(1), json!(1))
    );
    // message_ids are per workspace: another message id is a new sync.
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", false, 200, "m-2", users(&["u1"])),
    )
    .await;
    apply_staged(b).await;
    assert_eq!(segment(b, &auth, SEGMENT).await["member_count"], 0);
}

async fn an_older_change_never_overrides_a_newer_one(b: &Backend) {
    let auth = setup(b, None).await;
    let m = profile_with_uid(b, "u1", None).await;
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", true, 2_000, "new-add", users(&["u1"])),
    )
    .await;
    apply_staged(b).await;
    drain_events(b).await;
    // A removal computed earlier arrives late: ignored, no event.
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", false, 1_000, "old-remove", users(&["u1"])),
    )
    .await;
    assert_eq!(apply_staged(b).await, (1, 0));
    assert!(drain_events(b).await.is_empty());
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(
        members,
        vec![json!({"moengage_user_id": m, "uid": "u1", "moe_anonymous_id": null})]
    );

    // Both orders end in the newest state: a removal at 3 000 staged before
    // a late add at 2 500, applied in one consumer batch.
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", false, 3_000, "newest-remove", users(&["u1"])),
    )
    .await;
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", true, 2_500, "late-add", users(&["u1"])),
    )
    .await;
    apply_staged(b).await;
    assert_eq!(segment(b, &auth, SEGMENT).await["member_count"], 0);
    let events = drain_events(b).await;
    assert!(
        events
            .iter()
            .any(|e| e.event_time == 3_000 && e.event_attributes["Action"] == "Removed"),
        "{events:?}"
    );
}

async fn unknown_users_are_dropped_and_counted_by_default(b: &Backend) {
    let auth = setup(b, None).await;
    profile_with_uid(b, "known", None).await;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([{"user_id": "known"}, {"user_id": "stranger"}, {"device_id": "unseen-device"}]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(member_ids(&members), vec!["known"]);
    assert_eq!(drain_events(b).await.len(), 1);
    // `drop`: no profile is created for them (docs/rules/member-matching.md).
    assert!(
        b.profiles
            .find_by_uids(WS, &["stranger".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.profiles
            .find_by_anonymous_ids(WS, &["unseen-device".into()])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn unknown_users_get_a_profile_with_create(b: &Backend) {
    let ws = workspace_with(|w| w.unknown_cohort_users = UnknownCohortUsers::Create);
    let auth = setup(b, Some(ws)).await;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([
            // `create` (docs/rules/member-matching.md "Scenarios"): keyed by the Amplitude user id.
            {"user_id": "CleverTap1", "user_properties": {"moe_anonymous_id": "anon-of-ct1"}},
            // No user id: the device id becomes the key.
            {"user_id": null, "device_id": "543C-3455-4555-3SRD"}
        ]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;

    let by_uid = mid(ProfileKey::Uid("CleverTap1".into()));
    let by_device = mid(ProfileKey::AnonymousId("543C-3455-4555-3SRD".into()));
    assert_eq!(
        b.profiles
            .find_by_uids(WS, &["CleverTap1".into()])
            .await
            .unwrap()["CleverTap1"],
        by_uid
    );
    assert_eq!(
        b.profiles
            .find_by_anonymous_ids(WS, &["543C-3455-4555-3SRD".into()])
            .await
            .unwrap()["543C-3455-4555-3SRD"],
        by_device
    );
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    let mut members = members;
    members.sort_by_key(|m| m["moengage_user_id"].as_str().unwrap().to_owned());
    let mut expected = vec![
        json!({"moengage_user_id": by_uid, "uid": "CleverTap1", "moe_anonymous_id": "anon-of-ct1"}),
        json!({"moengage_user_id": by_device, "uid": null, "moe_anonymous_id": "543C-3455-4555-3SRD"}),
    ];
    expected.sort_by_key(|m| m["moengage_user_id"].as_str().unwrap().to_owned());
    assert_eq!(members, expected);
    assert_eq!(
        sorted(&drain_events(b).await),
        sorted_values(vec![
            expected_partner_sync(
                SEGMENT,
                "7khm89cz",
                &by_uid,
                Some("CleverTap1"),
                100,
                "Added"
            ),
            expected_partner_sync(SEGMENT, "7khm89cz", &by_device, None, 100, "Added"),
        ])
    );

    // The next sync matches the created profiles instead of creating more.
    send_webhook(
        b,
        &auth,
        &webhook(
            "7khm89cz",
            false,
            200,
            "m-2",
            json!([{"device_id": "543C-3455-4555-3SRD"}]),
        ),
    )
    .await;
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(member_ids(&members), vec!["CleverTap1"]);
}

/// Under `create`, users known only by a user id are not looked up first
/// (shared/src/cohort/matching.rs): creating their profiles tells which
/// existed. An existing one is matched, not re-created nor changed, and the
/// sync's record counts only the profiles it created.
async fn create_counts_only_the_profiles_it_made(b: &Backend) {
    let ws = workspace_with(|w| w.unknown_cohort_users = UnknownCohortUsers::Create);
    let auth = setup(b, Some(ws)).await;
    let mut known = ProfileUpdate::new(ProfileKey::Uid("known-1".into()));
    known.set_attributes.insert("city".into(), json!("Pune"));
    let known = b.profiles.update_profiles(WS, &[known]).await.unwrap();
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([
            {"user_id": "known-1"},
            {"user_id": "new-1"},
            {"user_id": "new-1"},
            {"user_id": null, "device_id": "dev-new"}
        ]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;

    assert_eq!(
        b.profiles
            .get_profiles(WS, &[known[0].moengage_user_id.clone()])
            .await
            .unwrap(),
        known,
        "the existing profile is left as it was"
    );
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(member_ids(&members), vec!["dev-new", "known-1", "new-1"]);
    b.delivery_log.flush(Duration::from_secs(5)).await;
    let syncs = b.delivery_log.store.syncs(WS, SEGMENT, 10).await.unwrap();
    let [sync] = &syncs[..] else {
        panic!("one sync record: {syncs:?}")
    };
    // Three users (a repeated one is staged once): known-1 matched, new-1
    // and dev-new given a new profile.
    assert_eq!(
        (sync.users, sync.applied, sync.created, sync.dropped),
        (3, 3, 2, 0),
        "{sync:?}"
    );
}

async fn anonymous_users_match_by_moe_anonymous_id_or_device_id(b: &Backend) {
    let auth = setup(b, None).await;
    let identified = profile_with_uid(b, "cust-1", Some(("moe_anonymous_id", "anon-1"))).await;
    let device_only = b
        .profiles
        .update_profiles(
            WS,
            &[shared::domain::ProfileUpdate::new(ProfileKey::AnonymousId(
                "dev-2".into(),
            ))],
        )
        .await
        .unwrap()
        .remove(0)
        .moengage_user_id;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([
            {"user_id": null, "user_properties": {"moe_anonymous_id": "anon-1"}},
            {"device_id": "dev-2"},
            // An Amplitude user id unknown here, with a known anonymous id:
            // matched through the anonymous id.
            {"user_id": "amp-only", "user_properties": {"moe_anonymous_id": "anon-1"}}
        ]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;
    let (mut members, _) = all_members(b, &auth, SEGMENT, 100).await;
    members.sort_by_key(|m| m["moe_anonymous_id"].as_str().unwrap().to_owned());
    assert_eq!(
        members,
        vec![
            // The profile's own uid is shown, not nothing or Amplitude's id.
            json!({"moengage_user_id": identified, "uid": "cust-1", "moe_anonymous_id": "anon-1"}),
            json!({"moengage_user_id": device_only, "uid": null, "moe_anonymous_id": "dev-2"}),
        ]
    );
    // One event per member, even though two users resolved to one profile.
    assert_eq!(
        sorted(&drain_events(b).await),
        sorted_values(vec![
            expected_partner_sync(
                SEGMENT,
                "7khm89cz",
                &identified,
                Some("cust-1"),
                100,
                "Added"
            ),
            expected_partner_sync(SEGMENT, "7khm89cz", &device_only, None, 100, "Added"),
        ])
    );
}

async fn a_custom_anonymous_id_attribute_is_used(b: &Backend) {
    let ws = workspace_with(|w| w.anonymous_id_attribute = "ct_anon".into());
    let auth = setup(b, Some(ws)).await;
    let m = profile_with_uid(b, "cust-9", Some(("ct_anon", "x-1"))).await;
    profile_with_uid(b, "decoy", Some(("moe_anonymous_id", "moe-1"))).await;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([{"user_properties": {"moe_anonymous_id": "moe-1", "ct_anon": "x-1"}}]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(
        members,
        vec![json!({"moengage_user_id": m, "uid": "cust-9", "moe_anonymous_id": "x-1"})]
    );
}

async fn user_id_matches_before_the_anonymous_id(b: &Backend) {
    let auth = setup(b, None).await;
    let by_uid = profile_with_uid(b, "u1", None).await;
    profile_with_uid(b, "other", Some(("moe_anonymous_id", "anon-x"))).await;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([{"user_id": "u1", "user_properties": {"moe_anonymous_id": "anon-x"}}]),
    );
    send_webhook(b, &auth, &body).await;
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, SEGMENT, 100).await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["moengage_user_id"], by_uid);
}

async fn members_page_through_the_http_route(b: &Backend) {
    let auth = setup(b, None).await;
    let uids: Vec<String> = (0..25).map(|i| format!("user-{i:02}")).collect();
    for uid in &uids {
        profile_with_uid(b, uid, None).await;
    }
    let refs: Vec<&str> = uids.iter().map(String::as_str).collect();
    send_webhook(
        b,
        &auth,
        &webhook("7khm89cz", true, 100, "m-1", users(&refs)),
    )
    .await;
    apply_staged(b).await;
    let (members, pages) = all_members(b, &auth, SEGMENT, 10).await;
    assert_eq!(pages, 3);
    assert_eq!(member_ids(&members), uids);
    // Cursors are opaque and URL-safe.
    let first = get(
        b,
        &format!("/v1/segments/{SEGMENT}/members?limit=10"),
        &auth,
    )
    .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert!(
        cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{cursor}"
    );
    let bad = get(
        b,
        &format!("/v1/segments/{SEGMENT}/members?cursor=%%%"),
        &auth,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Segments page too.
    let list = get(b, "/v1/segments?limit=1", &auth).await;
    assert_eq!(list.body["segments"][0]["id"], SEGMENT);
    assert_eq!(list.body["next_cursor"], Value::Null);
}

async fn users_without_any_id_are_skipped_and_reported(b: &Backend) {
    let auth = setup(b, None).await;
    let body = webhook(
        "7khm89cz",
        true,
        100,
        "m-1",
        json!([{"user_properties": {"name": "nobody"}}, {"user_id": ""}]),
    );
    let ack = send_webhook(b, &auth, &body).await;
    assert_eq!(ack["staged_users"], 0);
    assert_eq!(ack["skipped_without_id"], 2);
    assert_eq!(ack["staged_messages"], 0);
    assert_eq!(segment(b, &auth, SEGMENT).await["sync_count"], 1);
}

contract_tests!(
    adds_then_removes_with_one_partner_sync_event_per_change,
    a_replayed_message_id_is_acknowledged_and_not_applied,
    an_older_change_never_overrides_a_newer_one,
    unknown_users_are_dropped_and_counted_by_default,
    unknown_users_get_a_profile_with_create,
    create_counts_only_the_profiles_it_made,
    anonymous_users_match_by_moe_anonymous_id_or_device_id,
    a_custom_anonymous_id_attribute_is_used,
    user_id_matches_before_the_anonymous_id,
    members_page_through_the_http_route,
    users_without_any_id_are_skipped_and_reported,
);
