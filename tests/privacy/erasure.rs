//! Erasure end to end on both backends (docs/interface/privacy.md
//! "Erasure", "Suppression"): a user created through mParticle and a cohort,
//! then erased, is gone from every route and from the store itself; their
//! queued and dead-lettered events go; they stay out, dropped and counted,
//! until the suppression is lifted.

use std::time::Duration;

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::{DeadBatch, DeadLetter, Event, EventsMessage, PageRequest, RetryMessage};
use shared::privacy::request::RequestStatus;
use shared::privacy::retention;

use crate::support::*;

const UID: &str = "jane-erase-7f3a91";
const EMAIL: &str = "jane.7f3a91@example.com";
const ANON: &str = "anon-7f3a91";
const KEEP: &str = "keep-20c4";

fn campaign_event(uid: &str, n: u32) -> Event {
    serde_json::from_value(json!({
        "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
        "event_uuid": format!("campaign-{uid}-{n}"), "event_time": 1_795_341_000 + i64::from(n),
        "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE", "uid": uid,
        "event_attributes": {"campaign_id": "c-1"}
    }))
    .unwrap()
}

fn dead_batch(ws: &str, events: Vec<Event>) -> DeadLetter {
    DeadLetter::Batch(DeadBatch {
        workspace_id: ws.into(),
        stream: "hook".into(),
        moe_request_id: format!("req-{}", events.len()),
        events,
        attempts: vec![],
        reason: "gave up".into(),
    })
}

async fn member_count(b: &Backend, ws: &str, segment: &str) -> i64 {
    let reply = as_ws(b, ws, "GET", &format!("/v1/segments/{segment}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["member_count"].as_i64().unwrap()
}

async fn dead_letters(b: &Backend) -> Vec<(String, DeadLetter)> {
    b.dead_letters
        .list_dead_letters(&PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|k| (k.id, k.letter))
        .collect()
}

async fn an_erased_user_is_gone_everywhere_and_stays_out_until_lifted(b: &Backend) {
    let ws = workspace_id();
    let receiver = Recorder::new(200);
    let server = receiver.serve().await;
    let extra = format!(
        "customerio = {{ signing_key = \"cio-key\" }}\n\
         [[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\nevents = \"all\"\n",
        server.uri()
    );
    setup(b, &ws, &extra).await;

    // Created through mParticle and a cohort; a second user stays.
    for (uid, email, anon) in [(UID, EMAIL, ANON), (KEEP, "keep@example.com", "anon-keep")] {
        let reply = as_ws(
            b,
            &ws,
            "POST",
            "/v1/mparticle/events",
            Some(&mparticle_batch(uid, email, anon, "Viewed Plan")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let reply = as_ws(
        b,
        &ws,
        "POST",
        "/v1/amplitude/cohorts",
        Some(&cohort_webhook("c77", "m-1", &[UID, KEEP], 1_795_341_700)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    settle(b).await;
    assert_eq!(member_count(b, &ws, "amplitude-c77").await, 2);
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{UID}"), None)
            .await
            .status,
        StatusCode::OK
    );
    let export = as_ws(b, &ws, "GET", &format!("/v1/users/{UID}/export"), None).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(export.body["identities"]["email"], EMAIL);
    assert_eq!(export.body["identities"]["anonymous_ids"], json!([ANON]));
    assert_eq!(export.body["segments"][0]["id"], "amplitude-c77");
    b.delivery_log.flush(Duration::from_secs(10)).await;
    assert!(
        !deliveries_of(b, &ws, UID).await.is_empty(),
        "{}: the delivery log names the user",
        b.kind
    );

    // Kept and queued data of the user: dead letters, the events and retry queues.
    b.dead_letters
        .put_dead_letters(&[
            dead_batch(&ws, vec![campaign_event(UID, 1), campaign_event(KEEP, 1)]),
            dead_batch(&ws, vec![campaign_event(UID, 2)]),
        ])
        .await
        .unwrap();
    let queued =
        EventsMessage::pack(&ws, &[campaign_event(UID, 3), campaign_event(KEEP, 3)]).unwrap();
    b.queues.events.send_encoded(queued).await.unwrap();
    b.queues
        .retry
        .send(&[RetryMessage {
            workspace_id: ws.clone(),
            stream: "hook".into(),
            moe_request_id: "retry-1".into(),
            events: vec![campaign_event(UID, 4)],
            attempts: vec![],
        }])
        .await
        .unwrap();

    // Erase: 202 with a request id, pending, tracked only in its workspace.
    let dropped_before = metric(
        "engage_bridge_events_dropped_total",
        &[
            ("workspace_id", &ws),
            ("reason", "suppressed"),
            ("stream", "-"),
        ],
    );
    let erased = as_ws(b, &ws, "DELETE", &format!("/v1/users/{UID}"), None).await;
    assert_eq!(erased.status, StatusCode::ACCEPTED, "{}", erased.body);
    let id = erased.body["request_id"].as_str().unwrap().to_owned();
    let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
    assert_eq!(
        status.body,
        json!({"status": "success", "request_id": id, "kind": "erasure",
        "request_status": "pending"}),
        "{}",
        b.kind
    );
    let other = format!("{ws}-other");
    assert_eq!(
        as_ws(
            b,
            &other,
            "GET",
            &format!("/v1/privacy/requests/{id}"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    settle(b).await;
    let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
    assert_eq!(status.body["request_status"], "completed", "{}", b.kind);

    // Gone from every route.
    let user = as_ws(b, &ws, "GET", &format!("/v1/users/{UID}"), None).await;
    assert_eq!(user.status, StatusCode::NOT_FOUND, "{}", b.kind);
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{UID}/export"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        member_count(b, &ws, "amplitude-c77").await,
        1,
        "{}: counts follow",
        b.kind
    );
    let members = as_ws(b, &ws, "GET", "/v1/segments/amplitude-c77/members", None).await;
    assert_eq!(members.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(members.body["members"][0]["uid"], KEEP);
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{KEEP}"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        b.profiles
            .find_by_anonymous_ids(&ws, &[ANON.into()])
            .await
            .unwrap()
            .is_empty()
    );
    let suppressed = as_ws(b, &ws, "GET", &format!("/v1/suppressions/{UID}"), None).await;
    assert_eq!(suppressed.status, StatusCode::OK);
    assert_eq!(suppressed.body["suppressed"], true);
    assert!(suppressed.body["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        as_ws(b, &other, "GET", &format!("/v1/suppressions/{UID}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "another workspace's suppressions are not visible"
    );

    // Dead letters: the mixed one keeps the other user's event; the other goes.
    let letters = dead_letters(b).await;
    assert_eq!(letters.len(), 1, "{}", b.kind);
    let DeadLetter::Batch(kept) = &letters[0].1 else {
        panic!("a batch")
    };
    assert_eq!(kept.events, vec![campaign_event(KEEP, 1)], "{}", b.kind);

    // Delivered: one User Deleted event, the other user's event; none of the
    // erased user's queued events.
    wait_for(
        async || {
            receiver
                .bodies()
                .iter()
                .any(|b| b.to_string().contains("EB_USER_DELETED"))
        },
        Duration::from_secs(10),
    )
    .await;
    let delivered: Vec<Value> = receiver
        .bodies()
        .iter()
        .flat_map(|body| body["events"].as_array().cloned().unwrap_or_default())
        .collect();
    let deleted: Vec<&Value> = delivered
        .iter()
        .filter(|e| e["event_code"] == "EB_USER_DELETED")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        deleted[0],
        &json!({"event_name": "User Deleted", "event_code": "EB_USER_DELETED",
            "event_uuid": deleted[0]["event_uuid"], "event_time": deleted[0]["event_time"],
            "event_type": "PRIVACY_EVENT", "event_source": "ENGAGE_BRIDGE", "uid": UID,
            "event_attributes": {}, "device_attributes": {},
            "user_attributes": {"moengage_user_id": user_id(&ws, UID)}}),
        "{}",
        b.kind
    );
    // The delivery log keeps only the User Deleted event's own records.
    b.delivery_log.flush(Duration::from_secs(10)).await;
    let logged = deliveries_of(b, &ws, UID).await;
    assert!(!logged.is_empty(), "{}", b.kind);
    assert!(
        logged
            .iter()
            .all(|e| e.events.names == ["User Deleted", "EB_USER_DELETED"]),
        "{}: {logged:?}",
        b.kind
    );
    let uuids: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["event_uuid"].as_str())
        .collect();
    assert!(uuids.contains(&format!("campaign-{KEEP}-3").as_str()));
    for n in [3, 4] {
        assert!(
            !uuids.contains(&format!("campaign-{UID}-{n}").as_str()),
            "{}: not delivered",
            b.kind
        );
    }
    assert!(
        !delivered.iter().any(|e| e["event_code"] == "PARTNER_SYNC"
            && e["uid"] == UID
            && e["event_attributes"]["Action"] == "Removed"),
        "erasure announces no Partner Sync"
    );
    // SQLite rewrites queued messages without them; SQS cannot, so dispatch
    // and retry drop them (counted).
    let dropped = match b.kind {
        "aws" => 2.0,
        _ => 0.0,
    };
    assert_eq!(
        metric(
            "engage_bridge_events_dropped_total",
            &[
                ("workspace_id", &ws),
                ("reason", "suppressed"),
                ("stream", "-")
            ]
        ) - dropped_before,
        dropped,
        "{}: the queued and the retried event",
        b.kind
    );

    // Gone from the store's own files (SQLite: the sweep `serve` runs
    // compacts after an erasure; the uid's text is nowhere in db or WAL).
    b.privacy
        .data
        .sweep(shared::domain::time::now_ms())
        .await
        .unwrap();
    let text = store_text(b, Files::Store).await;
    for gone in [UID, EMAIL, ANON] {
        assert!(
            !text.contains(gone),
            "{}: {gone:?} is still in the store",
            b.kind
        );
    }
    assert!(text.contains(KEEP), "{}: the scan reads the store", b.kind);

    // It stays out: mParticle, cohorts and Customer.io are dropped and counted.
    let before = metric(
        "engage_bridge_events_dropped_total",
        &[("workspace_id", &ws), ("reason", "suppressed")],
    );
    let again = as_ws(
        b,
        &ws,
        "POST",
        "/v1/mparticle/events",
        Some(&mparticle_batch(UID, EMAIL, ANON, "Came Back")),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        (
            again.body["events"].clone(),
            again.body["profiles"].clone(),
            again.body["suppressed"].clone()
        ),
        (json!(0), json!(0), json!(2)),
        "{}",
        again.body
    );
    let cohort = as_ws(
        b,
        &ws,
        "POST",
        "/v1/amplitude/cohorts",
        Some(&cohort_webhook("c77", "m-2", &[UID], 1_795_341_800)),
    )
    .await;
    assert_eq!(cohort.status, StatusCode::OK);
    let cio = json!({"event_id": "01E4C4C6P79C12J5A6KPE6XNFD", "object_type": "email", "metric": "sent",
        "timestamp": 1_795_341_900, "data": {"identifiers": {"id": UID}, "delivery_id": "d-1"}});
    let cio_reply = as_ws(
        b,
        &ws,
        "POST",
        &format!("/v1/customerio/{ws}/reporting"),
        Some(&cio),
    )
    .await;
    assert_eq!(cio_reply.status, StatusCode::OK, "{}", cio_reply.body);
    assert_eq!(cio_reply.body["suppressed"], true);
    settle(b).await;
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{UID}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(member_count(b, &ws, "amplitude-c77").await, 1);
    assert_eq!(
        metric(
            "engage_bridge_events_dropped_total",
            &[("workspace_id", &ws), ("reason", "suppressed")]
        ) - before,
        4.0,
        "{}",
        b.kind
    );

    // Firehose: its events and its audience memberships.
    let mut firehose: Value = serde_json::from_str(
        &std::fs::read_to_string(
            engage_bridge_tests::repo_root()
                .join("events/mparticle-ingest/firehose-event-processing.json"),
        )
        .unwrap(),
    )
    .unwrap();
    firehose["account"]["account_settings"] = json!({"workspace_id": ws, "secret_key": SECRET});
    firehose["user_identities"] = json!([{"type": "customer", "encoding": "raw", "value": UID}]);
    let before = metric(
        "engage_bridge_events_dropped_total",
        &[("workspace_id", &ws), ("reason", "suppressed")],
    );
    let reply = call(
        b,
        "POST",
        "/v1/mparticle/firehose",
        None,
        firehose.to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let dropped = metric(
        "engage_bridge_events_dropped_total",
        &[("workspace_id", &ws), ("reason", "suppressed")],
    ) - before;
    assert!(
        dropped >= 2.0,
        "{}: the profile update and its events: {dropped}",
        b.kind
    );
    let profiles: Vec<Value> = [UID, KEEP]
        .iter()
        .map(|uid| {
            json!({
                "user_identities": [{"type": "customer", "value": uid}],
                "audiences": [{"audience_id": 99, "audience_name": "VIP", "action": "add"}]
            })
        })
        .collect();
    let audience = json!({
        "type": "audience_membership_change_request", "id": "r-1", "timestamp_ms": 1_795_341_950_000i64,
        "account": {"account_settings": {"workspace_id": ws, "secret_key": SECRET}},
        "user_profiles": profiles
    });
    let reply = call(
        b,
        "POST",
        "/v1/mparticle/firehose",
        None,
        audience.to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        member_count(b, &ws, "mparticle-99").await,
        1,
        "{}: only the other user",
        b.kind
    );
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{UID}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Lifting lets them in again.
    let lifted = as_ws(b, &ws, "DELETE", &format!("/v1/suppressions/{UID}"), None).await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/suppressions/{UID}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let back = as_ws(
        b,
        &ws,
        "POST",
        "/v1/mparticle/events",
        Some(&mparticle_batch(UID, EMAIL, ANON, "Came Back")),
    )
    .await;
    assert_eq!(back.body["events"], 1, "{}", back.body);
    assert_eq!(
        as_ws(b, &ws, "GET", &format!("/v1/users/{UID}"), None)
            .await
            .status,
        StatusCode::OK
    );
}

fn user_id(ws: &str, uid: &str) -> String {
    shared::domain::ids::moengage_user_id(ws, &shared::domain::ProfileKey::Uid(uid.into()))
}

/// Erasing twice, or a uid never seen, is fine: `202`, completed, suppressed.
async fn erasing_an_unknown_uid_or_twice_still_suppresses(b: &Backend) {
    let ws = workspace_id();
    setup(b, &ws, "").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let reply = as_ws(b, &ws, "DELETE", "/v1/users/never-seen", None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        ids.push(reply.body["request_id"].as_str().unwrap().to_owned());
    }
    assert_ne!(ids[0], ids[1]);
    settle(b).await;
    for id in &ids {
        let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
        assert_eq!(status.body["request_status"], "completed", "{}", b.kind);
    }
    let suppressed = as_ws(b, &ws, "GET", "/v1/suppressions/never-seen", None).await;
    assert_eq!(suppressed.status, StatusCode::OK);
    // Workspaces are apart: the same uid elsewhere is neither erased nor suppressed.
    let other = format!("{ws}-other");
    assert_eq!(
        as_ws(b, &other, "GET", "/v1/suppressions/never-seen", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad = as_ws(
        b,
        &ws,
        "DELETE",
        &format!("/v1/users/{}", "x".repeat(2000)),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(
        as_ws(b, &ws, "GET", "/v1/privacy/requests/nope", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_ws(b, &ws, "DELETE", "/v1/suppressions/not-suppressed", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A redelivered erasure job (its consumer died after some steps) resumes
/// and ends where an uninterrupted one ends, announcing the same event.
async fn a_redelivered_erasure_resumes_idempotently(b: &Backend) {
    let ws = workspace_id();
    setup(b, &ws, "").await;
    as_ws(
        b,
        &ws,
        "POST",
        "/v1/mparticle/events",
        Some(&mparticle_batch("twice", "t@example.com", "anon-t", "E")),
    )
    .await;
    engage_bridge_tests::drain_events(b).await;
    let reply = as_ws(b, &ws, "DELETE", "/v1/users/twice", None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    // The job runs; its consumer dies before the completion is kept (the
    // record is put back as it was then) and before the message is deleted:
    // it comes back and runs again.
    let queue = b.queues.raw(shared::topology::QueueName::Privacy);
    let job = queue
        .receive(1, Duration::from_secs(1), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(job.len(), 1);
    engage_bridge_tests::consume(b, shared::topology::QueueName::Privacy, &job).await;
    let id = reply.body["request_id"].as_str().unwrap();
    let mut done = b
        .privacy
        .requests
        .get_request(&ws, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, RequestStatus::Completed);
    done.status = RequestStatus::InProgress;
    assert!(
        b.privacy
            .requests
            .update_request(&done, RequestStatus::Completed)
            .await
            .unwrap()
    );
    engage_bridge_tests::consume(b, shared::topology::QueueName::Privacy, &job).await;
    let announced: Vec<Value> = engage_bridge_tests::drain_events(b).await;
    assert_eq!(announced.len(), 2, "{}", b.kind);
    assert_eq!(
        announced[0], announced[1],
        "{}: the same event, with moengage_user_id",
        b.kind
    );
    assert!(announced[0]["user_attributes"]["moengage_user_id"].is_string());
    let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
    assert_eq!(status.body["request_status"], "completed");
    assert_eq!(
        as_ws(b, &ws, "GET", "/v1/users/twice", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Retention: a purge of old dead letters leaves newer ones.
    b.dead_letters
        .put_dead_letters(&[dead_batch(&ws, vec![campaign_event("x", 1)])])
        .await
        .unwrap();
    let cutoff = shared::domain::time::now_ms() - 1000;
    assert!(
        retention::purge_dead_letters(b, cutoff, Some(&ws), false)
            .await
            .unwrap()
            .is_empty()
    );
    let later = shared::domain::time::now_ms() + 1000;
    assert_eq!(
        retention::purge_dead_letters(b, later, Some(&ws), true)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        retention::purge_dead_letters(b, later, Some(&other_ws(&ws)), false)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        retention::purge_dead_letters(b, later, Some(&ws), false)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        dead_letters(b)
            .await
            .iter()
            .all(|(_, l)| !matches!(l, DeadLetter::Batch(d) if d.workspace_id == ws))
    );
}

fn other_ws(ws: &str) -> String {
    format!("{ws}-other")
}

contract_tests!(
    an_erased_user_is_gone_everywhere_and_stays_out_until_lifted,
    erasing_an_unknown_uid_or_twice_still_suppresses,
    a_redelivered_erasure_resumes_idempotently,
);
