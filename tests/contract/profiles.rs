use std::collections::HashSet;

use engage_bridge_tests::{Backend, contract_tests};
use serde_json::json;
use shared::domain::{ProfileKey, ProfileUpdate};

fn update(key: ProfileKey, set: serde_json::Value, anon: &[&str]) -> ProfileUpdate {
    let mut u = ProfileUpdate::new(key);
    u.set_attributes = set.as_object().unwrap().clone();
    u.add_anonymous_ids = anon.iter().map(|s| s.to_string()).collect();
    u
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn creates_and_merges_profiles(b: &Backend) {
    let uid = ProfileKey::Uid("u1".into());
    let first = b
        .profiles
        .update_profiles(
            "ws",
            &[update(
                uid.clone(),
                json!({"city": "Pune", "age": 30}),
                &["anon-1"],
            )],
        )
        .await
        .unwrap();
    let id = first[0].moengage_user_id.clone();
    let mut second = update(
        uid.clone(),
        json!({"plan": "gold", "tags": ["a", "b"], "vip": true}),
        &["anon-2"],
    );
    second.remove_attributes.push("age".into());
    let merged = b.profiles.update_profiles("ws", &[second]).await.unwrap();
    assert_eq!(merged[0].moengage_user_id, id);
    let stored = b
        .profiles
        .get_profiles("ws", std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let p = &stored[0];
    assert_eq!(p.uid.as_deref(), Some("u1"));
    assert_eq!(
        serde_json::Value::Object(p.attributes.clone()),
        json!({"city": "Pune", "plan": "gold", "tags": ["a", "b"], "vip": true}),
        "{}",
        b.kind
    );
    assert_eq!(sorted(p.anonymous_ids.clone()), vec!["anon-1", "anon-2"]);
}

async fn finds_profiles_by_uid_and_anonymous_id(b: &Backend) {
    b.profiles
        .update_profiles(
            "ws",
            &[
                update(ProfileKey::Uid("u1".into()), json!({}), &["a1"]),
                update(ProfileKey::AnonymousId("dev-9".into()), json!({}), &[]),
            ],
        )
        .await
        .unwrap();
    let by_uid = b
        .profiles
        .find_by_uids("ws", &["u1".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(by_uid.len(), 1);
    let by_anon = b
        .profiles
        .find_by_anonymous_ids("ws", &["a1".into(), "dev-9".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(by_anon.len(), 2);
    assert_eq!(by_anon["a1"], by_uid["u1"]);
    assert_ne!(by_anon["dev-9"], by_uid["u1"]);
    // An anonymous profile has no uid.
    let anon = b
        .profiles
        .get_profiles("ws", &[by_anon["dev-9"].clone()])
        .await
        .unwrap();
    assert_eq!(anon[0].uid, None);
    assert_eq!(anon[0].anonymous_ids, vec!["dev-9"]);
}

async fn workspaces_never_see_each_others_profiles(b: &Backend) {
    b.profiles
        .update_profiles(
            "ws-a",
            &[update(
                ProfileKey::Uid("same".into()),
                json!({"x": 1}),
                &["anon"],
            )],
        )
        .await
        .unwrap();
    assert!(
        b.profiles
            .find_by_uids("ws-b", &["same".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.profiles
            .find_by_anonymous_ids("ws-b", &["anon".into()])
            .await
            .unwrap()
            .is_empty()
    );
    let a_id = b
        .profiles
        .find_by_uids("ws-a", &["same".into()])
        .await
        .unwrap()["same"]
        .clone();
    assert!(
        b.profiles
            .get_profiles("ws-b", &[a_id])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn batches_beyond_one_request(b: &Backend) {
    // 260 profiles: more than BatchGetItem's 100 keys and BatchWriteItem's 25.
    let updates: Vec<ProfileUpdate> = (0..260)
        .map(|i| {
            update(
                ProfileKey::Uid(format!("u{i}")),
                json!({"i": i}),
                &[&format!("anon-{i}")],
            )
        })
        .collect();
    let written = b.profiles.update_profiles("ws", &updates).await.unwrap();
    assert_eq!(written.len(), 260);
    let uids: Vec<String> = (0..260).map(|i| format!("u{i}")).collect();
    let found = b.profiles.find_by_uids("ws", &uids).await.unwrap();
    assert_eq!(found.len(), 260);
    let anons: Vec<String> = (0..260).map(|i| format!("anon-{i}")).collect();
    assert_eq!(
        b.profiles
            .find_by_anonymous_ids("ws", &anons)
            .await
            .unwrap()
            .len(),
        260
    );
    let ids: Vec<String> = found.values().cloned().collect();
    let profiles = b.profiles.get_profiles("ws", &ids).await.unwrap();
    assert_eq!(profiles.len(), 260);
    assert!(
        profiles
            .iter()
            .all(|p| p.attributes["i"]
                == json!(p.uid.as_ref().unwrap()[1..].parse::<i64>().unwrap()))
    );
}

async fn repeated_updates_in_one_call_apply_in_order(b: &Backend) {
    let key = ProfileKey::Uid("u".into());
    let mut remove = ProfileUpdate::new(key.clone());
    remove.remove_attributes.push("a".into());
    let out = b
        .profiles
        .update_profiles(
            "ws",
            &[
                update(key.clone(), json!({"a": 1, "b": 1}), &[]),
                remove,
                update(key, json!({"b": 2}), &[]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 3);
    let id = out[0].moengage_user_id.clone();
    let p = b
        .profiles
        .get_profiles("ws", &[id])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        serde_json::Value::Object(p.attributes),
        json!({"b": 2}),
        "{}",
        b.kind
    );
}

async fn ensure_profiles_creates_only_what_is_missing(b: &Backend) {
    let existing = b
        .profiles
        .update_profiles(
            "ws",
            &[update(
                ProfileKey::Uid("u1".into()),
                json!({"city": "Pune"}),
                &["a1"],
            )],
        )
        .await
        .unwrap()
        .remove(0);
    // 250 distinct keys (crossing DynamoDB's 100-item transactions), one
    // repeated, one existing.
    let mut keys: Vec<ProfileKey> = (0..248)
        .map(|i| ProfileKey::Uid(format!("new-{i:03}")))
        .collect();
    keys.push(ProfileKey::Uid("u1".into()));
    keys.push(ProfileKey::AnonymousId("dev-1".into()));
    keys.push(ProfileKey::Uid("new-000".into()));
    let created = b.profiles.ensure_profiles("ws", &keys).await.unwrap();
    let mut expected: HashSet<ProfileKey> = keys.iter().cloned().collect();
    expected.remove(&ProfileKey::Uid("u1".into()));
    assert_eq!(created.len(), 249, "{}: each new key once", b.kind);
    assert_eq!(
        created, expected,
        "{}: the existing profile is not created",
        b.kind
    );
    let again = b.profiles.ensure_profiles("ws", &keys).await.unwrap();
    assert!(again.is_empty(), "{}: all exist now: {again:?}", b.kind);

    let stored = b
        .profiles
        .get_profiles("ws", std::slice::from_ref(&existing.moengage_user_id))
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![existing],
        "{}: existing profile untouched",
        b.kind
    );
    let uids: Vec<String> = (0..248).map(|i| format!("new-{i:03}")).collect();
    let found = b.profiles.find_by_uids("ws", &uids).await.unwrap();
    assert_eq!(found.len(), 248, "{}", b.kind);
    let created = b
        .profiles
        .get_profiles("ws", &[found["new-007"].clone()])
        .await
        .unwrap();
    assert_eq!(created[0].uid.as_deref(), Some("new-007"));
    assert!(created[0].attributes.is_empty());
    let by_anon = b
        .profiles
        .find_by_anonymous_ids("ws", &["dev-1".into()])
        .await
        .unwrap();
    let device = b
        .profiles
        .get_profiles("ws", &[by_anon["dev-1"].clone()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (device.uid, device.anonymous_ids),
        (None, vec!["dev-1".to_owned()])
    );
}

async fn updates_naming_hundreds_of_attributes_apply(b: &Backend) {
    // More than fits one DynamoDB update expression (4 KB).
    let attributes: serde_json::Map<String, serde_json::Value> = (0..350)
        .map(|i| (format!("attribute_number_{i}"), json!(i)))
        .collect();
    let mut first = update(
        ProfileKey::Uid("wide".into()),
        json!({"old": 1}),
        &["anon-w"],
    );
    first.set_attributes.extend(attributes.clone());
    b.profiles.update_profiles("ws", &[first]).await.unwrap();
    let mut second = update(ProfileKey::Uid("wide".into()), json!({}), &[]);
    second.remove_attributes = (0..150).map(|i| format!("attribute_number_{i}")).collect();
    second.remove_attributes.push("old".into());
    let out = b.profiles.update_profiles("ws", &[second]).await.unwrap();
    let p = b
        .profiles
        .get_profiles("ws", &[out[0].moengage_user_id.clone()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(p.attributes.len(), 200, "{}", b.kind);
    assert_eq!(p.attributes["attribute_number_349"], json!(349));
    assert!(!p.attributes.contains_key("attribute_number_0"));
    assert_eq!(p.anonymous_ids, vec!["anon-w"]);
}

contract_tests!(
    updates_naming_hundreds_of_attributes_apply,
    ensure_profiles_creates_only_what_is_missing,
    creates_and_merges_profiles,
    finds_profiles_by_uid_and_anonymous_id,
    workspaces_never_see_each_others_profiles,
    batches_beyond_one_request,
    repeated_updates_in_one_call_apply_in_order,
);
