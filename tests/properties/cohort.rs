//! Amplitude cohorts: the Cohort Webhooks body (`POST /v1/amplitude/cohorts`)
//! and the list API (`POST /v1/amplitude/lists`, `/lists/{id}/add|remove`).

use std::collections::HashSet;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::config::UnknownCohortUsers;

use crate::harness::{Env, Outcome, Target, config, run, segment};
use crate::mutate::{Mutation, Syntax, apply, mutation};
use crate::values::{attributes, maybe, name, object, pooled_uid, word};

pub const COHORTS: &str = "/v1/amplitude/cohorts";
pub const LISTS: &str = "/v1/amplitude/lists";

pub fn cohort_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[A-Za-z0-9]{1,12}".prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
    ]
}

/// Epoch seconds: a string (Amplitude's form) or an integer.
fn computed_time() -> impl Strategy<Value = Value> {
    let s = 1_500_000_000i64..1_900_000_000;
    prop_oneof![
        s.clone().prop_map(|s| json!(s.to_string())),
        s.prop_map(|s| json!(s)),
    ]
}

fn message_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}::(enter|exit)::[0-9]{1,3}"
}

fn anonymous_id() -> impl Strategy<Value = Value> {
    "anon-[a-z0-9]{4,8}".prop_map(Value::from)
}

/// One webhook user.
fn user() -> impl Strategy<Value = Value> {
    let user_id = prop_oneof![
        6 => pooled_uid().prop_map(|u| Some(Value::from(u))),
        1 => Just(Some(Value::Null)),
        1 => Just(None),
    ];
    let properties = (attributes(), maybe(anonymous_id())).prop_map(|(mut props, anon)| {
        if let Some(anon) = anon {
            props.insert("moe_anonymous_id".into(), anon);
        }
        Value::Object(props)
    });
    (user_id, option::of(properties), maybe(anonymous_id())).prop_map(
        |(user_id, properties, device_id)| {
            object(vec![
                ("user_id", user_id),
                ("user_properties", properties),
                ("device_id", device_id),
            ])
        },
    )
}

/// A valid Cohort Webhooks body (reference.md's default body).
pub fn webhook() -> impl Strategy<Value = Value> {
    let users = vec(user(), 0..12);
    (
        name(),
        cohort_id(),
        any::<bool>(),
        computed_time(),
        message_id(),
        users,
    )
        .prop_map(|(name, id, in_cohort, time, message_id, users)| {
            json!({
                "cohort_name": name, "cohort_id": id, "in_cohort": in_cohort,
                "computed_time": time, "message_id": message_id, "users": users,
            })
        })
}

fn text_id(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The profiles a webhook's users map to in a `create` workspace: one per
/// distinct user id, else per distinct anonymous id.
fn expected_members(body: &Value) -> usize {
    let mut keys = HashSet::new();
    for user in body["users"].as_array().into_iter().flatten() {
        let anonymous = user["user_properties"]["moe_anonymous_id"]
            .as_str()
            .or(user["device_id"].as_str());
        let key = match (user["user_id"].as_str(), anonymous) {
            (Some(uid), _) => format!("uid:{uid}"),
            (None, Some(anon)) => format!("anon:{anon}"),
            (None, None) => continue,
        };
        keys.insert(key);
    }
    keys.len()
}

/// `{"name": "[Amplitude] <name>: <id>", "context": {...}}`.
pub fn list_create() -> impl Strategy<Value = Value> {
    (name(), cohort_id(), word(), word()).prop_map(|(name, id, integration, kind)| {
        json!({
            "name": format!("[Amplitude] {name}: {}", text_id(&id)),
            "context": {"integration": {"name": integration, "type": kind}},
        })
    })
}

/// `{"userIds": [...], "context": {...}}`, with repeats.
pub fn list_members() -> impl Strategy<Value = Value> {
    vec(pooled_uid(), 0..20)
        .prop_map(|ids| json!({"userIds": ids, "context": {"integration": {"name": "x"}}}))
}

fn list_id(create: &Value) -> String {
    let name = create["name"].as_str().expect("list name");
    let (_, id) = name.rsplit_once(": ").expect("list name form");
    format!("amplitude-{id}")
}

/// Creates the list of `create` and returns its add or remove path.
async fn members_path(env: &Env, create: &Value, add: bool) -> Result<String, TestCaseError> {
    let reply = env.post_json(LISTS, create).await;
    reply.expect_success()?;
    let id = list_id(create);
    prop_assert_eq!(reply.body["listId"].as_str(), Some(id.as_str()));
    let verb = if add { "add" } else { "remove" };
    Ok(format!("{LISTS}/{}/{verb}", segment(&id)))
}

async fn webhook_applied_once(body: Value) -> Outcome {
    let env = Env::new(|ws| ws.unknown_cohort_users = UnknownCohortUsers::Create).await;
    let first = env.post_json(COHORTS, &body).await;
    first.expect_success()?;
    prop_assert_eq!(&first.body["duplicate"], false);
    env.apply_staged().await;
    let events = env.drain_events().await;
    let id = format!("amplitude-{}", text_id(&body["cohort_id"]));
    let stored = env.segment(&id).await;
    stored.expect_success()?;
    let expected = if body["in_cohort"] == true {
        expected_members(&body)
    } else {
        0
    };
    prop_assert_eq!(&stored.body["member_count"], &json!(expected));
    if body["in_cohort"] == true {
        prop_assert_eq!(events.len(), expected, "one Partner Sync per member");
    }

    let again = env.post_json(COHORTS, &body).await;
    again.expect_success()?;
    prop_assert_eq!(&again.body["duplicate"], true, "{}", again.body);
    prop_assert_eq!(env.apply_staged().await, 0, "the repeat was staged again");
    prop_assert_eq!(env.drain_events().await.len(), 0);
    let stored_again = env.segment(&id).await;
    prop_assert_eq!(&stored_again.body["member_count"], &json!(expected));
    Ok(())
}

async fn webhook_mutated(body: Value, mutation: Mutation) -> Outcome {
    let env = Env::new(|_| {}).await;
    let text = apply(&body, &mutation, Syntax::Json);
    if let Some(valid) = env.mutated(Target::Api(COHORTS), &body, text).await? {
        // The rejected request did not claim the message_id.
        prop_assert_eq!(&valid.body["duplicate"], false, "{}", valid.body);
    }
    Ok(())
}

async fn list_create_idempotent(body: Value) -> Outcome {
    let env = Env::new(|_| {}).await;
    let id = list_id(&body);
    for _ in 0..2 {
        let reply = env.post_json(LISTS, &body).await;
        reply.expect_success()?;
        prop_assert_eq!(reply.body["listId"].as_str(), Some(id.as_str()));
        prop_assert_eq!(reply.body["list_id"].as_str(), Some(id.as_str()));
    }
    let segments = env.segments().await;
    prop_assert_eq!(segments.as_array().map(Vec::len), Some(1));
    prop_assert_eq!(&segments[0]["id"], &json!(id));
    Ok(())
}

async fn list_members_accepted(create: Value, body: Value, add: bool) -> Outcome {
    let env = Env::new(|_| {}).await;
    let path = members_path(&env, &create, add).await?;
    let reply = env.post_json(&path, &body).await;
    reply.expect_success()?;
    let distinct: HashSet<&str> = body["userIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    prop_assert_eq!(&reply.body["staged_users"], &json!(distinct.len()));
    Ok(())
}

async fn list_create_mutated(body: Value, mutation: Mutation) -> Outcome {
    let env = Env::new(|_| {}).await;
    let text = apply(&body, &mutation, Syntax::Json);
    env.mutated(Target::Api(LISTS), &body, text).await?;
    Ok(())
}

async fn list_members_mutated(create: Value, body: Value, add: bool, m: Mutation) -> Outcome {
    let env = Env::new(|_| {}).await;
    let path = members_path(&env, &create, add).await?;
    let text = apply(&body, &m, Syntax::Json);
    env.mutated(Target::Api(&path), &body, text).await?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Valid webhooks are accepted and applied; the same `message_id`
    /// again is acknowledged as a duplicate and applied no second time.
    #[test]
    fn webhook_valid_is_accepted_and_applied_once(body in webhook()) {
        run(webhook_applied_once(body))?;
    }

    /// Mutated webhooks: never a 5xx; a rejection leaves no segment, no
    /// staged message, no profile, and the `message_id` unclaimed.
    #[test]
    fn webhook_mutated_is_answered_cleanly(body in webhook(), m in mutation()) {
        run(webhook_mutated(body, m))?;
    }

    /// Valid list creation is accepted, and idempotent.
    #[test]
    fn list_create_valid_is_idempotent(body in list_create()) {
        run(list_create_idempotent(body))?;
    }

    #[test]
    fn list_create_mutated_is_answered_cleanly(body in list_create(), m in mutation()) {
        run(list_create_mutated(body, m))?;
    }

    /// Valid add/remove requests are accepted; repeated ids staged once.
    #[test]
    fn list_members_valid_are_accepted(
        create in list_create(), body in list_members(), add in any::<bool>()
    ) {
        run(list_members_accepted(create, body, add))?;
    }

    #[test]
    fn list_members_mutated_are_answered_cleanly(
        create in list_create(), body in list_members(), add in any::<bool>(), m in mutation()
    ) {
        run(list_members_mutated(create, body, add, m))?;
    }
}
