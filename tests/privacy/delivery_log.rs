//! An erased user's delivery-log entries go (docs/interface/privacy.md
//! "Erasure", docs/interface/console.md "The delivery log"): the console's
//! views find none, another user's stay, and the uid is nowhere in the
//! store's files, the delivery log's own database and WAL included. The
//! stream here does not take `User Deleted`, whose records would keep the
//! uid by design.

use std::time::Duration;

use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const UID: &str = "logged-erase-4e8c02";
const KEEP: &str = "logged-keep-91d7";

/// Events-API events of `uid` whose request body spans several SQLite
/// pages: deleting it frees overflow pages, which only the erasure's
/// compaction overwrites.
fn large_batch(uid: &str) -> Value {
    let note = "n".repeat(2_000);
    let events: Vec<Value> = (0..4)
        .map(|n| {
            json!({"event_type": "custom_event", "data": {
                "event_name": "Viewed Plan", "custom_event_type": "other",
                "timestamp_unixtime_ms": 1_795_341_605_000i64 + n,
                "source_message_id": format!("{uid}-{n}"),
                "custom_attributes": {"note": note}}})
        })
        .collect();
    json!({
        "schema_version": 2, "environment": "production",
        "user_identities": {"customer_id": uid, "email": format!("{uid}@example.com")},
        "user_attributes": {"moe_anonymous_id": format!("anon-{uid}")},
        "events": events
    })
}

async fn an_erased_users_deliveries_leave_the_log_and_the_files(b: &Backend) {
    let ws = workspace_id();
    let receiver = Recorder::new(200);
    let server = receiver.serve().await;
    let extra = format!(
        "[[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\
         events = [\"Viewed Plan\"]\n",
        server.uri()
    );
    setup(b, &ws, &extra).await;
    for uid in [UID, KEEP] {
        let reply = as_ws(
            b,
            &ws,
            "POST",
            "/v1/mparticle/events",
            Some(&large_batch(uid)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    settle(b).await;
    wait_for(
        async || receiver.bodies().len() >= 2,
        Duration::from_secs(10),
    )
    .await;
    b.delivery_log.flush(Duration::from_secs(10)).await;
    let logged = deliveries_of(b, &ws, UID).await;
    assert_eq!(logged.len(), 1, "{}: {logged:?}", b.kind);
    let request = logged[0].moe_request_id.clone();
    let body = b.delivery_log.store.body(&ws, &request).await.unwrap();
    assert!(
        body.is_some_and(|body| body.body.len() > 8_000 && body.body.contains(UID)),
        "{}: the request's body is kept",
        b.kind
    );
    // The user's export lists the attempt, without the request's other users.
    let export = as_ws(b, &ws, "GET", &format!("/v1/users/{UID}/export"), None).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(
        export.body["deliveries"],
        json!([{"id": logged[0].id, "at": export.body["deliveries"][0]["at"],
            "stream": "hook", "moe_request_id": request, "outcome": "delivered",
            "attempt": 1, "status": 200, "events": ["Viewed Plan"]}]),
        "{}",
        b.kind
    );
    assert!(!export.body.to_string().contains(KEEP));
    let kept = deliveries_of(b, &ws, KEEP).await;
    assert_eq!(kept.len(), 1, "{}", b.kind);
    assert!(
        store_text(b, Files::StoreAndDeliveryLog)
            .await
            .contains(UID)
    );

    let erased = as_ws(b, &ws, "DELETE", &format!("/v1/users/{UID}"), None).await;
    assert_eq!(erased.status, StatusCode::ACCEPTED, "{}", erased.body);
    let id = erased.body["request_id"].as_str().unwrap().to_owned();
    settle(b).await;
    let status = as_ws(b, &ws, "GET", &format!("/v1/privacy/requests/{id}"), None).await;
    assert_eq!(status.body["request_status"], "completed", "{}", b.kind);

    // The console's Deliveries and Users pages list by uid: nothing.
    b.delivery_log.flush(Duration::from_secs(10)).await;
    assert_eq!(deliveries_of(b, &ws, UID).await, vec![], "{}", b.kind);
    assert_eq!(
        b.delivery_log.store.body(&ws, &request).await.unwrap(),
        None,
        "{}",
        b.kind
    );
    let still = deliveries_of(b, &ws, KEEP).await;
    assert_eq!(still, kept, "{}: another user's entries stay", b.kind);
    assert!(
        b.delivery_log
            .store
            .body(&ws, &kept[0].moe_request_id)
            .await
            .unwrap()
            .is_some()
    );

    // Nor in the files (SQLite: the store compacted by the sweep `serve`
    // runs after an erasure, the delivery log by the erasure itself).
    b.privacy
        .data
        .sweep(shared::domain::time::now_ms())
        .await
        .unwrap();
    let text = store_text(b, Files::StoreAndDeliveryLog).await;
    assert!(!text.contains(UID), "{}: the uid is still stored", b.kind);
    assert!(text.contains(KEEP), "{}: the scan reads the store", b.kind);
}

contract_tests!(an_erased_users_deliveries_leave_the_log_and_the_files);
