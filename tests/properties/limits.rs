//! Sane length limits at the door (issue 10): a name or id of 64 KiB to
//! 2 MiB is a `400` with a short message, and leaves no trace.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use crate::cohort::{COHORTS, LISTS};
use crate::harness::{Env, Outcome, SECRET, Target, WS, brief, config, run, segment};
use crate::mparticle::EVENTS;
use crate::mutate::big_string;

/// Where an oversized string goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    // Limited today.
    CohortId,
    MessageId,
    UserId,
    AnonymousId,
    DeviceId,
    ListCohortId,
    ListUserId,
    // Not limited today.
    CohortName,
    ListName,
    EventsUid,
    EventsAttributeName,
    EventName,
    FirehoseUid,
    FirehoseAttributeName,
    AudienceName,
    AudienceId,
}

pub const LIMITED: &[Field] = &[
    Field::CohortId,
    Field::MessageId,
    Field::UserId,
    Field::AnonymousId,
    Field::DeviceId,
    Field::ListCohortId,
    Field::ListUserId,
];

pub const UNLIMITED: &[Field] = &[
    Field::CohortName,
    Field::ListName,
    Field::EventsUid,
    Field::EventsAttributeName,
    Field::EventName,
    Field::FirehoseUid,
    Field::FirehoseAttributeName,
    Field::AudienceName,
    Field::AudienceId,
];

/// Longest error message that still "names the problem" without echoing
/// the input back.
const MAX_ERROR: usize = 4096;

fn webhook(big: &str, field: Field) -> Value {
    let pick = |f: Field, normal: &str| {
        if field == f {
            big.to_owned()
        } else {
            normal.to_owned()
        }
    };
    // The device id is the anonymous id only without the attribute.
    let anonymous = (field != Field::DeviceId)
        .then(|| json!({"moe_anonymous_id": pick(Field::AnonymousId, "anon-1")}));
    json!({
        "cohort_name": pick(Field::CohortName, "Cart"),
        "cohort_id": pick(Field::CohortId, "c1"),
        "in_cohort": true,
        "computed_time": "1692206763",
        "message_id": pick(Field::MessageId, "m-1"),
        "users": [{
            "user_id": pick(Field::UserId, "u1"),
            "user_properties": anonymous,
            "device_id": pick(Field::DeviceId, "device-1"),
        }],
    })
}

fn firehose_account() -> Value {
    json!({"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}})
}

/// The request (target and body) carrying `big` in `field`.
fn request(field: Field, big: &str) -> (&'static str, Value) {
    match field {
        Field::CohortName
        | Field::CohortId
        | Field::MessageId
        | Field::UserId
        | Field::AnonymousId
        | Field::DeviceId => (COHORTS, webhook(big, field)),
        Field::ListName => (LISTS, json!({"name": format!("[Amplitude] {big}: 1")})),
        Field::ListCohortId => (LISTS, json!({"name": format!("[Amplitude] Cart: {big}")})),
        Field::ListUserId => ("list", json!({"userIds": [big]})),
        Field::EventsUid => (
            EVENTS,
            json!({"user_identities": {"customer_id": big}, "events": []}),
        ),
        Field::EventsAttributeName => (
            EVENTS,
            json!({"user_identities": {"customer_id": "u1"}, "user_attributes": {big: 1}}),
        ),
        Field::EventName => (
            EVENTS,
            json!({"user_identities": {"customer_id": "u1"}, "events": [
                {"event_type": "custom_event", "data": {"event_name": big, "event_id": 1}}
            ]}),
        ),
        Field::FirehoseUid | Field::FirehoseAttributeName => {
            let (uid, attribute) = if field == Field::FirehoseUid {
                (big, "plan")
            } else {
                ("u1", big)
            };
            (
                "firehose",
                json!({
                    "type": "event_processing_request", "id": "r1", "timestamp_ms": 1_795_341_662_000_i64,
                    "account": firehose_account(),
                    "user_identities": [{"type": "customer", "encoding": "raw", "value": uid}],
                    "user_attributes": {attribute: "premium"},
                }),
            )
        }
        Field::AudienceName | Field::AudienceId => {
            let (id, name) = if field == Field::AudienceId {
                (json!(big), "Buyers")
            } else {
                (json!(7), big)
            };
            (
                "firehose",
                json!({
                    "type": "audience_membership_change_request", "id": "r1",
                    "timestamp_ms": 1_795_341_662_000_i64, "account": firehose_account(),
                    "user_profiles": [{
                        "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
                        "audiences": [{"audience_id": id, "audience_name": name, "action": "add"}],
                    }],
                }),
            )
        }
    }
}

/// Sends `big` in `field`: must be a short `400` that changed nothing.
pub async fn rejected_at_the_door(field: Field, size: usize) -> Outcome {
    let env = Env::new(|_| {}).await;
    let big = big_string(size);
    let (path, body) = request(field, &big);
    let list;
    let target = match path {
        "firehose" => Target::Firehose(if body["type"] == "event_processing_request" {
            "event_processing_request"
        } else {
            "audience_membership_change_request"
        }),
        "list" => {
            env.post_json(LISTS, &json!({"name": "[Amplitude] Cart: 1"}))
                .await
                .expect_success()?;
            list = format!("{LISTS}/{}/add", segment("amplitude-1"));
            Target::Api(&list)
        }
        path => Target::Api(path),
    };
    let names = crate::harness::uids(&body);
    let before = env.snapshot(&names).await;
    let reply = env.submit(target, body.to_string().into_bytes()).await;
    reply.check_for(target)?;
    prop_assert_eq!(
        reply.status.as_u16(),
        400,
        "{:?} of {} bytes: {}",
        field,
        size,
        brief(&reply.body)
    );
    let error = reply.body["error"].as_str().unwrap_or_default();
    prop_assert!(
        error.len() <= MAX_ERROR,
        "{:?}: a {}-byte error message",
        field,
        error.len()
    );
    let after = env.snapshot(&names).await;
    prop_assert!(
        after.changes_from(&before).is_none(),
        "{:?} left a trace",
        field
    );
    Ok(())
}

fn size() -> impl Strategy<Value = usize> {
    65_537usize..2_100_000
}

/// A quarter of the usual cases: each one moves megabytes.
fn fewer() -> Config {
    Config {
        cases: config().cases.div_ceil(4),
        ..config()
    }
}

proptest! {
    #![proptest_config(fewer())]

    /// Ids the parsers limit today (cohort id, message id, user and
    /// anonymous ids, list ids and user ids).
    #[test]
    fn oversized_ids_are_rejected_at_the_door(
        field in proptest::sample::select(LIMITED), size in size()
    ) {
        run(rejected_at_the_door(field, size))?;
    }

    /// Names and ids without a limit today: cohort and list names,
    /// mParticle uids, attribute and event names, audience names and ids.
    #[test]
    fn oversized_names_are_rejected_at_the_door(
        field in proptest::sample::select(UNLIMITED), size in size()
    ) {
        run(rejected_at_the_door(field, size))?;
    }
}

/// The minimal failing inputs of `oversized_names_are_rejected_at_the_door`:
/// each field at just over 64 KiB.
#[test]
fn each_unlimited_name_at_64_kib_is_rejected() {
    let mut failures = Vec::new();
    for field in UNLIMITED {
        if let Err(e) = run(rejected_at_the_door(*field, 65_537)) {
            failures.push(format!("{field:?}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A route and a valid body for it, by number.
fn route(n: usize) -> (Target<'static>, Value) {
    let account = firehose_account();
    match n % 4 {
        0 => (Target::Api(COHORTS), webhook("x", Field::CohortName)),
        1 => (Target::Api(LISTS), json!({"name": "[Amplitude] Cart: 1"})),
        2 => (
            Target::Api(EVENTS),
            json!({"user_identities": {"customer_id": "u1"}}),
        ),
        _ => (
            Target::Firehose("event_processing_request"),
            json!({"type": "event_processing_request", "id": "r1", "account": account,
                   "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}]}),
        ),
    }
}

/// Interface §3: a body over 6 MiB is a `413`, and changes nothing.
async fn too_large(n: usize, size: usize) -> Outcome {
    let env = Env::new(|_| {}).await;
    let (target, mut body) = route(n);
    body["padding"] = json!(big_string(size));
    let before = env.snapshot(&["u1".to_owned()]).await;
    let reply = env.submit(target, body.to_string().into_bytes()).await;
    reply.check_for(target)?;
    prop_assert_eq!(reply.status.as_u16(), 413, "{}", brief(&reply.body));
    let after = env.snapshot(&["u1".to_owned()]).await;
    prop_assert!(after.changes_from(&before).is_none());
    Ok(())
}

/// Interface §3: more than 10 000 cohort users or list user ids, or more
/// than 100 Events-API batches, is a `400` that changes nothing.
async fn too_many(kind: usize, extra: usize) -> Outcome {
    let env = Env::new(|_| {}).await;
    let (target, body) = match kind % 3 {
        0 => {
            let mut body = webhook("x", Field::CohortName);
            body["users"] = json!(vec![json!({"user_id": "u1"}); 10_000 + extra]);
            (Target::Api(COHORTS), body)
        }
        1 => (
            Target::Api(EVENTS),
            json!(vec![
                json!({"user_identities": {"customer_id": "u1"}});
                100 + extra
            ]),
        ),
        _ => (
            Target::Api(LISTS),
            json!({"userIds": vec!["u1"; 10_000 + extra]}),
        ),
    };
    let list;
    let target = match target {
        Target::Api(LISTS) => {
            env.post_json(LISTS, &json!({"name": "[Amplitude] Cart: 1"}))
                .await
                .expect_success()?;
            list = format!("{LISTS}/{}/remove", segment("amplitude-1"));
            Target::Api(&list)
        }
        other => other,
    };
    let before = env.snapshot(&["u1".to_owned()]).await;
    let reply = env.submit(target, body.to_string().into_bytes()).await;
    reply.check_for(target)?;
    prop_assert_eq!(reply.status.as_u16(), 400, "{}", brief(&reply.body));
    let after = env.snapshot(&["u1".to_owned()]).await;
    prop_assert!(after.changes_from(&before).is_none());
    Ok(())
}

proptest! {
    #![proptest_config(fewer())]

    #[test]
    fn bodies_over_6_mib_are_413(n in 0usize..4, size in 6 * 1024 * 1024usize..7_000_000) {
        run(too_large(n, size))?;
    }

    #[test]
    fn too_many_entries_are_400(kind in 0usize..3, extra in 1usize..2_000) {
        run(too_many(kind, extra))?;
    }
}

/// Rejections of huge values should name the problem, not echo the value.
#[test]
fn rejections_of_huge_values_stay_short() {
    let big = big_string(1 << 20);
    let cases = [
        (Target::Api(LISTS), json!({"name": big})),
        (Target::Firehose("x"), json!({"type": big})),
    ];
    let mut failures = Vec::new();
    for (target, body) in cases {
        run(async {
            let env = Env::new(|_| {}).await;
            let reply = env.submit(target, body.to_string().into_bytes()).await;
            let error = reply.body["error"].as_str().unwrap_or_default();
            if reply.status.as_u16() != 400 || error.len() > MAX_ERROR {
                failures.push(format!(
                    "{target:?}: {} with a {}-byte error",
                    reply.status,
                    error.len()
                ));
            }
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
