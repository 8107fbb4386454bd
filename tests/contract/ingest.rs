use engage_bridge_tests::{Backend, contract_tests, drain_event_messages};
use serde_json::json;
use shared::domain::{Encoded, EventsMessage, Profile, ProfileKey, ProfileUpdate};

fn set(key: &str, attributes: serde_json::Value) -> ProfileUpdate {
    let mut u = ProfileUpdate::new(ProfileKey::Uid(key.into()));
    u.set_attributes = attributes.as_object().unwrap().clone();
    u
}

fn message(workspace: &str) -> Encoded<EventsMessage> {
    Encoded::new(&EventsMessage {
        workspace_id: workspace.into(),
        events: Vec::new(),
    })
    .unwrap()
}

/// Takes back `secret` from any profile that has it.
fn drop_secret(updates: &[ProfileUpdate], profiles: &[Profile]) -> Vec<ProfileUpdate> {
    updates
        .iter()
        .zip(profiles)
        .filter(|(_, p)| p.attributes.contains_key("secret"))
        .map(|(u, _)| {
            let mut trim = ProfileUpdate::new(u.key.clone());
            trim.remove_attributes = vec!["secret".into()];
            trim
        })
        .collect()
}

/// An ingest request's writes: its profiles updated, then corrected, then
/// its events queued; what the write answers is what was applied.
async fn ingest_writes_profiles_their_corrections_and_events(b: &Backend) {
    let updates = [
        set("kept", json!({"plan": "gold"})),
        set("trimmed", json!({"plan": "free", "secret": "x"})),
    ];
    let written = b
        .ingest
        .write(
            "ws",
            &updates,
            drop_secret,
            vec![message("ws"), message("ws")],
        )
        .await
        .unwrap();
    // The profiles as the updates left them, before their corrections.
    assert_eq!(written.profiles.len(), 2, "{}", b.kind);
    assert!(written.profiles[1].attributes.contains_key("secret"));
    assert_eq!(written.corrections.len(), 1);
    let ids: Vec<String> = written
        .profiles
        .iter()
        .map(|p| p.moengage_user_id.clone())
        .collect();
    let mut stored = b.profiles.get_profiles("ws", &ids).await.unwrap();
    stored.sort_by(|a, b| a.uid.cmp(&b.uid));
    let attributes: Vec<serde_json::Value> = stored
        .iter()
        .map(|p| serde_json::Value::Object(p.attributes.clone()))
        .collect();
    assert_eq!(
        attributes,
        [json!({"plan": "gold"}), json!({"plan": "free"})],
        "{}",
        b.kind
    );
    let queued = drain_event_messages(b).await;
    let empty = json!({"workspace_id": "ws", "events": []});
    assert_eq!(queued, [empty.clone(), empty], "{}", b.kind);

    // Events alone, and nothing at all.
    let written = b
        .ingest
        .write("ws", &[], drop_secret, vec![message("ws")])
        .await
        .unwrap();
    assert!(written.profiles.is_empty() && written.corrections.is_empty());
    assert_eq!(drain_event_messages(b).await.len(), 1);
    b.ingest
        .write("ws", &[], drop_secret, Vec::new())
        .await
        .unwrap();
    assert!(drain_event_messages(b).await.is_empty());
}

/// SQLite: the request's writes are one write, all or none. When its
/// events cannot be queued, its profile updates are not kept either (the
/// AWS adapter writes step by step: a retry applies them again unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_events_cannot_be_queued_keeps_no_profile_update_sqlite() {
    let b = &engage_bridge_tests::sqlite();
    let db = rusqlite::Connection::open(b.sqlite_file().unwrap()).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON queue_messages
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let updates = [set("u1", json!({"plan": "gold"}))];
    let refused = b
        .ingest
        .write("ws", &updates, drop_secret, vec![message("ws")])
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let uids = ["u1".to_owned()];
    assert!(
        b.profiles
            .find_by_uids("ws", &uids)
            .await
            .unwrap()
            .is_empty()
    );
    db.execute_batch("DROP TRIGGER refuse").unwrap();
    b.ingest
        .write("ws", &updates, drop_secret, vec![message("ws")])
        .await
        .unwrap();
    assert_eq!(b.profiles.find_by_uids("ws", &uids).await.unwrap().len(), 1);
    assert_eq!(drain_event_messages(b).await.len(), 1);
}

contract_tests!(ingest_writes_profiles_their_corrections_and_events);
