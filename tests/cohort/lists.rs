//! The list API: `POST /v1/amplitude/lists`, `/lists/{id}/add`, `/remove`.

use std::time::Duration;

use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::json;
use shared::domain::time::now_ms;
use shared::domain::{Segment, SegmentSource};

use crate::common::*;

const LIST: &str = "amplitude-7khm89cz";

async fn create_list(b: &Backend, auth: &str) {
    let r = post(
        b,
        "/v1/amplitude/lists",
        auth,
        &json!({"name": "[Amplitude] Cart Drop off: 7khm89cz", "context": {"cohort": "x"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "success", "listId": LIST, "list_id": LIST})
    );
}

/// Waits for the start of the next second, so the calls that follow fall
/// within one second.
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1_000 - (now_ms() % 1_000) as u64 + 5)).await;
}

async fn list_change(b: &Backend, auth: &str, verb: &str, user_ids: &[&str]) -> Response {
    let r = post(
        b,
        &format!("/v1/amplitude/lists/{LIST}/{verb}"),
        auth,
        &json!({"userIds": user_ids}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

async fn creating_a_list_is_idempotent(b: &Backend) {
    let auth = setup(b, None).await;
    create_list(b, &auth).await;
    create_list(b, &auth).await;
    let r = get(b, "/v1/segments", &auth).await;
    let segments = r.body["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{}", r.body);
    assert_eq!(
        segments[0],
        json!({
            "id": LIST, "name": "Cart Drop off", "type": "Partner - Amplitude",
            "source": "Amplitude", "cohort_id": "7khm89cz", "member_count": 0,
            "sync_count": 0, "last_synced_at": null
        })
    );
}

async fn add_and_remove_through_the_list(b: &Backend) {
    let auth = setup(b, None).await;
    let one = profile_with_uid(b, "u1", None).await;
    profile_with_uid(b, "u2", None).await;
    create_list(b, &auth).await;

    let r = post(
        b,
        &format!("/v1/amplitude/lists/{LIST}/add"),
        &auth,
        &json!({"userIds": ["u1", "u2", "nobody"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["listId"], LIST);
    assert_eq!(r.body["action"], "Added");
    assert_eq!(r.body["staged_users"], 3);
    let added_at = r.body["computed_time"].as_i64().unwrap();
    assert!((added_at - now_ms() / 1000).abs() <= 2);
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, LIST, 100).await;
    assert_eq!(member_ids(&members), vec!["u1", "u2"]);
    assert_eq!(drain_events(b).await.len(), 2);

    let r = list_change(b, &auth, "remove", &["u1"]).await;
    assert_eq!(r.body["action"], "Removed");
    let removed_at = r.body["time_ms"].as_i64().unwrap();
    assert_eq!(r.body["computed_time"], removed_at / 1000);
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, LIST, 100).await;
    assert_eq!(member_ids(&members), vec!["u2"]);
    assert_eq!(
        sorted(&drain_events(b).await),
        vec![expected_list_partner_sync(
            LIST,
            &one,
            Some("u1"),
            removed_at,
            "Removed"
        )]
    );
    let s = segment(b, &auth, LIST).await;
    assert_eq!(
        (s["member_count"].clone(), s["sync_count"].clone()),
        (json!(1), json!(2))
    );
}

/// Amplitude's list sync sends `/add` and then `/remove` for the same user;
/// both may arrive within one second, even one millisecond: the later one
/// wins (docs/rules/member-matching.md "Ordering: versions"), whatever order
/// the staged changes are applied in.
async fn add_then_remove_within_one_second_ends_removed(b: &Backend) {
    let auth = setup(b, None).await;
    let one = profile_with_uid(b, "u1", None).await;
    profile_with_uid(b, "u2", None).await;
    create_list(b, &auth).await;
    let calls = [
        ("add", vec!["u1", "u2"]),
        ("remove", vec!["u1"]),
        ("add", vec!["u2"]),
        ("remove", vec!["u2"]),
        ("add", vec!["u2"]),
    ];
    // The calls are meant to fall within one second (the sharpest case): a
    // round that straddled two (a slow machine) is applied and run again (it
    // ends in the same state, so the next round starts from it). After five
    // rounds the last one is checked as it is: later-wins must hold across
    // seconds too, so the assertions below stay true either way.
    let mut round = 0;
    let times = loop {
        round += 1;
        next_second().await;
        let mut times = Vec::new();
        for (verb, ids) in &calls {
            let body = list_change(b, &auth, verb, ids).await.body;
            let seconds = body["computed_time"].as_i64().unwrap();
            times.push(body["time_ms"].as_i64().unwrap_or(seconds * 1000));
        }
        if times.iter().all(|t| t / 1000 == times[0] / 1000) {
            break times;
        }
        if round == 5 {
            eprintln!(
                "{}: the calls never fit in one second; checking the last round",
                b.kind
            );
            break times;
        }
        apply_staged(b).await;
        drain_events(b).await;
    };
    // The consumer applies staged messages concurrently, in any order.
    apply_staged(b).await;
    let (members, _) = all_members(b, &auth, LIST, 100).await;
    assert_eq!(member_ids(&members), vec!["u2"], "{}", b.kind);
    assert_eq!(segment(b, &auth, LIST).await["member_count"], 1);
    let events = drain_events(b).await;
    let removed = expected_list_partner_sync(LIST, &one, Some("u1"), times[1], "Removed");
    assert!(
        sorted(&events).contains(&removed),
        "{}: u1's removal is announced: {events:?}",
        b.kind
    );
}

async fn unknown_lists_are_404(b: &Backend) {
    let auth = setup(b, None).await;
    // An mParticle audience is not an Amplitude list.
    b.segments
        .ensure_segment(WS, &Segment::new(SegmentSource::Mparticle, "42", "VIP"))
        .await
        .unwrap();
    for uri in [
        "/v1/amplitude/lists/amplitude-nope/add",
        "/v1/amplitude/lists/amplitude-nope/remove",
        "/v1/amplitude/lists/mparticle-42/add",
    ] {
        let r = post(b, uri, &auth, &json!({"userIds": ["u1"]})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.body);
        assert_eq!(r.body["status"], "error");
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains("no Amplitude list"),
            "{}",
            r.body
        );
    }
    assert_eq!(apply_staged(b).await, (0, 0));
    // Other verbs are not routes.
    let r = post(
        b,
        &format!("/v1/amplitude/lists/{LIST}/replace"),
        &auth,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn bad_list_requests_are_400(b: &Backend) {
    let auth = setup(b, None).await;
    let cases = [
        (
            json!({"name": "Cart Drop off: 7khm89cz"}),
            "is not of the form",
        ),
        (
            json!({"name": "[Amplitude] Cart Drop off"}),
            "is not of the form",
        ),
        (
            json!({"title": "[Amplitude] Cart: 1"}),
            "missing field `name`",
        ),
        (json!({"name": 7}), "name"),
        // The wrapper is parsed first, then the name rule (docs/rules/cohort-names.md).
        (
            json!({"name": "[Amplitude] Cart$Drop: 7khm89cz"}),
            "cohort name contains the restricted character $",
        ),
        (
            json!({"name": "[Amplitude] .Cart: 7khm89cz"}),
            "cohort name starts with a period",
        ),
        (json!({"name": "[Amplitude] Cart: a/b"}), "cohort_id"),
    ];
    for (body, needle) in cases {
        let r = post(b, "/v1/amplitude/lists", &auth, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        let error = r.body["error"].as_str().unwrap();
        assert!(error.contains(needle), "{body}: {error}");
    }
    create_list(b, &auth).await;
    for (body, needle) in [
        (json!({"user_ids": ["u1"]}), "missing field `userIds`"),
        (json!({"userIds": "u1"}), "userIds"),
        (json!({"userIds": ["u1", null]}), "userIds[1]"),
    ] {
        let r = post(b, &format!("/v1/amplitude/lists/{LIST}/add"), &auth, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains(needle),
            "{}",
            r.body
        );
    }
    let too_many: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let r = post(
        b,
        &format!("/v1/amplitude/lists/{LIST}/add"),
        &auth,
        &json!({"userIds": too_many}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"].as_str().unwrap().contains("at most 10000"),
        "{}",
        r.body
    );
    assert_eq!(apply_staged(b).await, (0, 0));
    assert_eq!(
        get(b, "/v1/segments", &auth).await.body["segments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

contract_tests!(
    creating_a_list_is_idempotent,
    add_and_remove_through_the_list,
    add_then_remove_within_one_second_ends_removed,
    unknown_lists_are_404,
    bad_list_requests_are_400,
);
