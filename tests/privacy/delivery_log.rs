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

/// Events-API events of `uid` whose webhook request body spans many SQLite
/// pages even LZ4-packed (as the log keeps bodies): each event carries
/// 70 KB of random text, so each occurrence of the uid lies beyond the
/// packer's 64 KiB window from the one before and stays in clear, on pages
/// the deletion frees and only the erasure's compaction overwrites.
fn large_batch(uid: &str) -> Value {
    let events: Vec<Value> = (0..3)
        .map(|n| {
            let note: String = (0..2_200)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect();
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
    // The webhook's byte limit splits the user's events over requests.
    let logged = deliveries_of(b, &ws, UID).await;
    assert!(!logged.is_empty(), "{}", b.kind);
    let requests: Vec<String> = logged.iter().map(|e| e.moe_request_id.clone()).collect();
    let mut kept_bytes = 0;
    for request in &requests {
        let body = b.delivery_log.store.body(&ws, request).await.unwrap();
        let body = body.unwrap_or_else(|| panic!("{}: the request's body is kept", b.kind));
        assert!(body.body.contains(UID), "{}", b.kind);
        kept_bytes += body.body.len();
    }
    assert!(kept_bytes > 200_000, "{}: {kept_bytes}", b.kind);
    // The user's export lists the attempts, without the requests' other users.
    let export = as_ws(b, &ws, "GET", &format!("/v1/users/{UID}/export"), None).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    let expected: Vec<Value> = logged
        .iter()
        .zip(export.body["deliveries"].as_array().unwrap())
        .map(|(entry, shown)| {
            json!({"id": entry.id, "at": shown["at"], "stream": "hook",
                "moe_request_id": entry.moe_request_id, "outcome": "delivered",
                "attempt": 1, "status": 200, "events": ["Viewed Plan"]})
        })
        .collect();
    assert_eq!(export.body["deliveries"], json!(expected), "{}", b.kind);
    assert_eq!(expected.len(), logged.len());
    assert!(!export.body.to_string().contains(KEEP));
    let kept = deliveries_of(b, &ws, KEEP).await;
    assert!(!kept.is_empty(), "{}", b.kind);
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
    for request in &requests {
        assert_eq!(
            b.delivery_log.store.body(&ws, request).await.unwrap(),
            None,
            "{}",
            b.kind
        );
    }
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
