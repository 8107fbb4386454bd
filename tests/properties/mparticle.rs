//! mParticle: Events-API batches (`POST /v1/mparticle/events`) and Firehose
//! requests, over HTTP (`POST /v1/mparticle/firehose`) and as direct Lambda
//! invocations.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use shared::mparticle::events_api::{self, Form};
use shared::mparticle::rules::UNSUPPORTED_EVENT_TYPES;
use shared::mparticle::typed;

use crate::harness::{Env, Outcome, SECRET, Target, WS, config, run, uids};
use crate::mutate::{Mutation, Syntax, apply, mutation};
use crate::values::{
    amount, attribute, attributes, id_value, maybe, millis, name, object, pooled_uid,
    string_attributes, word,
};

pub const EVENTS: &str = "/v1/mparticle/events";

const OTHER_EVENT_TYPES: &[&str] = &[
    "session_start",
    "session_end",
    "screen_view",
    "crash_report",
    "opt_out",
    "first_run",
    "application_state_transition",
    "push_registration",
    "push_message",
    "breadcrumb",
    "network_performance",
    "privacy_setting_change",
];

const ACTIONS: &[&str] = &[
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "checkout_option",
    "click",
    "view_detail",
    "purchase",
    "refund",
    "add_to_wishlist",
    "remove_from_wish_list",
];

/// Which of the two mParticle formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    EventsApi,
    Firehose,
}

impl Format {
    fn custom_attributes(self) -> &'static str {
        match self {
            Self::EventsApi => "custom_attributes",
            Self::Firehose => "attributes",
        }
    }
}

fn product(format: Format) -> impl Strategy<Value = Value> {
    let total = match format {
        Format::EventsApi => "total_product_amount",
        Format::Firehose => "total_amount",
    };
    (
        "[A-Z]{3}-[0-9]{1,4}",
        name(),
        maybe(name().prop_map(Value::from)),
        maybe(amount()),
        maybe(amount()),
        maybe(amount()),
        option::of(attributes()),
        0u32..20,
    )
        .prop_map(
            move |(id, name, brand, price, quantity, sum, custom, pos)| {
                object(vec![
                    ("id", Some(json!(id))),
                    ("name", Some(json!(name))),
                    ("brand", brand),
                    ("category", Some(json!("Shoes"))),
                    ("variant", Some(json!("Blue / 42"))),
                    ("position", Some(json!(pos))),
                    ("price", price),
                    ("quantity", quantity),
                    (total, sum),
                    (format.custom_attributes(), custom.map(Value::Object)),
                ])
            },
        )
}

/// A product action's fields (Events API: inside `product_action`;
/// Firehose: on the event itself).
fn product_action(format: Format) -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (
        select(ACTIONS),
        maybe("T-[0-9]{1,6}".prop_map(Value::from)),
        maybe(amount()),
        maybe(amount()),
        maybe(amount()),
        maybe(Just(json!("SAVE10"))),
        vec(product(format), 0..3),
    )
        .prop_map(
            |(action, transaction, total, tax, shipping, coupon, products)| {
                vec![
                    ("action", Some(json!(action))),
                    ("transaction_id", transaction),
                    ("total_amount", total),
                    ("tax_amount", tax),
                    ("shipping_amount", shipping),
                    ("coupon_code", coupon),
                    ("products", Some(json!(products))),
                ]
            },
        )
}

fn promotions() -> impl Strategy<Value = Value> {
    vec(
        ("[a-z0-9]{1,6}", name(), word(), 0u32..9).prop_map(|(id, name, creative, position)| {
            json!({"id": id, "name": name, "creative": creative, "position": position.to_string()})
        }),
        0..3,
    )
    .prop_map(Value::from)
}

fn impressions(format: Format) -> impl Strategy<Value = Value> {
    let list = match format {
        Format::EventsApi => "product_impression_list",
        Format::Firehose => "impression_list_name",
    };
    vec(
        (word(), vec(product(format), 0..2))
            .prop_map(move |(name, products)| json!({list: name, "products": products})),
        0..2,
    )
    .prop_map(Value::from)
}

/// Ids and timestamps an event may carry (all optional).
fn event_ids(format: Format) -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    let (id, source, time) = match format {
        Format::EventsApi => ("event_id", "source_message_id", "timestamp_unixtime_ms"),
        Format::Firehose => ("id", "source_id", "timestamp_ms"),
    };
    (
        maybe(id_value()),
        maybe("[a-f0-9-]{8,36}".prop_map(Value::from)),
        maybe(millis()),
        maybe(any::<i64>().prop_map(Value::from)),
    )
        .prop_map(move |(event_id, source_id, timestamp, session)| {
            let event_id = match (format, event_id) {
                // Firehose ids are strings (UUIDs).
                (Format::Firehose, Some(v)) => Some(json!(v.to_string())),
                (_, v) => v,
            };
            vec![
                (id, event_id),
                (source, source_id),
                (time, timestamp),
                ("session_id", session),
            ]
        })
}

const IDENTITY_TYPES: &[&str] = &[
    "email",
    "other",
    "other_id_2",
    "facebook",
    "google",
    "microsoft",
    "mobile_number",
];

/// An Events-API event of any type.
fn api_event() -> impl Strategy<Value = Value> {
    let f = Format::EventsApi;
    let custom = (
        name(),
        select(&["navigation", "search", "transaction", "other"][..]),
    )
        .prop_map(|(n, t)| {
            (
                "custom_event",
                vec![("event_name", json!(n)), ("custom_event_type", json!(t))],
            )
        });
    let commerce = (
        option::of(product_action(f)),
        option::of((select(&["view", "click"][..]), promotions())),
        maybe(impressions(f)),
        maybe(Just(json!("EUR"))),
    )
        .prop_map(|(action, promotion, impressions, currency)| {
            let mut data = vec![];
            if let Some(action) = action {
                data.push(("product_action", object(action)));
            }
            if let Some((action, promotions)) = promotion {
                data.push((
                    "promotion_action",
                    json!({"action": action, "promotions": promotions}),
                ));
            }
            data.extend(impressions.map(|i| ("product_impressions", i)));
            data.extend(currency.map(|c| ("currency_code", c)));
            ("commerce_event", data)
        });
    let attribute_change = (
        prop_oneof![
            word(),
            Just("$FirstName".to_owned()),
            Just("$city".to_owned())
        ],
        attribute(),
        attribute(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, new, old, deleted, is_new)| {
            (
                "user_attribute_change",
                vec![
                    ("user_attribute_name", json!(name)),
                    ("new", new),
                    ("old", old),
                    ("deleted", json!(deleted)),
                    ("is_new_attribute", json!(is_new)),
                ],
            )
        });
    let identity = || {
        (select(IDENTITY_TYPES), maybe(name().prop_map(Value::from)))
            .prop_map(|(t, v)| object(vec![("identity_type", Some(json!(t))), ("identity", v)]))
    };
    let identity_change =
        (option::of(identity()), option::of(identity())).prop_map(|(new, old)| {
            let mut data = vec![];
            data.extend(new.map(|n| ("new", n)));
            data.extend(old.map(|o| ("old", o)));
            ("user_identity_change", data)
        });
    let other = (
        select(OTHER_EVENT_TYPES),
        maybe(name().prop_map(Value::from)),
    )
        .prop_map(|(t, screen)| (t, screen.map(|s| ("screen_name", s)).into_iter().collect()));
    (
        prop_oneof![4 => custom, 3 => commerce, 2 => attribute_change, 1 => identity_change, 2 => other],
        event_ids(f),
        option::of(attributes()),
    )
        .prop_map(|((event_type, fields), ids, custom)| {
            let mut data = object(ids);
            let map = data.as_object_mut().expect("object");
            for (k, v) in fields {
                map.insert(k.to_owned(), v);
            }
            if let Some(custom) = custom {
                map.insert("custom_attributes".into(), Value::Object(custom));
            }
            json!({"event_type": event_type, "data": data})
        })
}

fn identities(customer: Option<String>, email: Option<String>, as_map: bool) -> Value {
    let pairs: Vec<(&str, String)> = [("customer_id", customer), ("email", email)]
        .into_iter()
        .filter_map(|(t, v)| Some((t, v?)))
        .collect();
    if as_map {
        Value::Object(
            pairs
                .into_iter()
                .map(|(t, v)| (t.to_owned(), json!(v)))
                .collect(),
        )
    } else {
        json!(
            pairs
                .into_iter()
                .map(
                    |(t, v)| json!({"identity_type": t, "identity": v, "timestamp_unixtime_ms": 1})
                )
                .collect::<Vec<_>>()
        )
    }
}

fn device_info() -> impl Strategy<Value = Value> {
    (
        select(&["iOS", "Android", "web"][..]),
        maybe("[0-9A-F-]{36}".prop_map(Value::from)),
        maybe(word().prop_map(Value::from)),
    )
        .prop_map(|(platform, idfv, brand)| {
            object(vec![
                ("platform", Some(json!(platform))),
                ("os_version", Some(json!("17.1"))),
                ("ios_idfv", idfv),
                ("brand", brand),
                ("locale_language", Some(json!("en"))),
            ])
        })
}

/// One Events-API batch.
fn batch() -> impl Strategy<Value = Value> {
    let who = (
        option::weighted(0.85, pooled_uid()),
        option::of("[a-z]{1,8}@example\\.com"),
        any::<bool>(),
        maybe(id_value()),
    );
    let ids = (
        maybe(id_value()),
        maybe("[a-f0-9-]{8,36}".prop_map(Value::from)),
        maybe(millis()),
    );
    (
        who,
        ids,
        vec(api_event(), 0..6),
        option::of(attributes()),
        option::of(vec(word(), 0..3)),
        maybe(device_info()),
        select(&["production", "development"][..]),
    )
        .prop_map(
            |(
                (customer, email, as_map, mpid),
                (batch_id, source, time),
                events,
                attrs,
                deleted,
                device,
                env,
            )| {
                object(vec![
                    ("events", Some(json!(events))),
                    ("user_identities", Some(identities(customer, email, as_map))),
                    ("user_attributes", attrs.map(Value::Object)),
                    ("deleted_user_attributes", deleted.map(Value::from)),
                    ("device_info", device),
                    (
                        "application_info",
                        Some(json!({"application_version": "2.3.1"})),
                    ),
                    ("environment", Some(json!(env))),
                    ("batch_id", batch_id),
                    ("source_request_id", source),
                    ("mpid", mpid),
                    ("timestamp_unixtime_ms", time),
                    ("schema_version", Some(json!(2))),
                    ("ip", Some(json!("203.0.113.10"))),
                ])
            },
        )
}

/// One batch, or an array of batches.
pub fn events_request() -> impl Strategy<Value = Value> {
    prop_oneof![batch(), vec(batch(), 1..4).prop_map(Value::from)]
}

fn account() -> Value {
    json!({"account_id": 123456, "account_settings": {"workspace_id": WS, "secret_key": SECRET}})
}

fn envelope(kind: &str, id: String, time: Value) -> Value {
    json!({"type": kind, "id": id, "timestamp_ms": time, "firehose_version": "2.7.0"})
}

fn request_id() -> impl Strategy<Value = String> {
    "[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}"
}

fn firehose_identities(customer: Option<String>, email: Option<String>) -> Value {
    let mut out = vec![];
    out.extend(customer.map(|v| json!({"type": "customer", "encoding": "raw", "value": v})));
    out.extend(email.map(|v| json!({"type": "email", "encoding": "raw", "value": v})));
    out.push(
        json!({"type": "other", "encoding": "md5", "value": "e179e95c00e7718ab4a23840f992ea63"}),
    );
    Value::from(out)
}

/// A Firehose event of any type.
fn firehose_event() -> impl Strategy<Value = Value> {
    let f = Format::Firehose;
    let custom = (name(), option::of(attributes())).prop_map(|(n, attrs)| {
        (
            "custom_event",
            vec![
                ("name", Some(json!(n))),
                ("custom_event_type", Some(json!("navigation"))),
                ("attributes", attrs.map(Value::Object)),
            ],
        )
    });
    let action =
        (product_action(f), maybe(Just(json!("USD")))).prop_map(|(mut fields, currency)| {
            fields.push(("currency_code", currency));
            ("product_action", fields)
        });
    let promotion = (select(&["view", "click"][..]), promotions()).prop_map(|(a, p)| {
        (
            "promotion_action",
            vec![("action", Some(json!(a))), ("promotions", Some(p))],
        )
    });
    let impression = impressions(f).prop_map(|i| ("impression", vec![("impressions", Some(i))]));
    let attribute_change =
        (string_attributes(), string_attributes()).prop_map(|(added, removed)| {
            (
                "user_attribute_change",
                vec![
                    ("added", Some(Value::Object(added))),
                    ("removed", Some(Value::Object(removed))),
                ],
            )
        });
    let identity_change =
        (option::of("[a-z]{1,8}@example\\.com"), any::<bool>()).prop_map(|(email, removed)| {
            let added = firehose_identities(None, email);
            let removed = removed
                .then(|| json!([{"type": "email", "encoding": "raw", "value": "old@example.com"}]));
            (
                "user_identity_change",
                vec![("added", Some(added)), ("removed", removed)],
            )
        });
    let other = select(UNSUPPORTED_EVENT_TYPES)
        .prop_map(|t| (t, vec![("screen_name", Some(json!("Home")))]));
    (
        prop_oneof![
            3 => custom, 2 => action, 1 => promotion, 1 => impression,
            1 => attribute_change, 1 => identity_change, 2 => other
        ],
        event_ids(f),
    )
        .prop_map(|((kind, fields), mut ids)| {
            ids.push(("type", Some(json!(kind))));
            ids.extend(fields);
            object(ids)
        })
}

pub fn event_processing() -> impl Strategy<Value = Value> {
    (
        request_id(),
        millis(),
        option::weighted(0.85, pooled_uid()),
        option::of("[a-z]{1,8}@example\\.com"),
        string_attributes(),
        vec(firehose_event(), 0..6),
        maybe(id_value()),
    )
        .prop_map(|(id, time, customer, email, attrs, events, mpid)| {
            let mut request = envelope("event_processing_request", id, time);
            let fields = object(vec![
                ("account", Some(account())),
                ("source_id", Some(json!("b5328100-69d6-46d6-8984-b9881beefbf5"))),
                ("user_identities", Some(firehose_identities(customer, email))),
                ("user_attributes", Some(Value::Object(attrs))),
                ("user_attribute_lists", Some(json!({"favourite_categories": ["Shoes"]}))),
                ("runtime_environment", Some(json!({
                    "type": "ios", "sdk_version": "8.22.0", "brand": "Apple",
                    "identities": [{"type": "ios_vendor_id", "encoding": "raw", "value": "0D2A1F4C"}]
                }))),
                ("mpid", mpid),
                ("events", Some(json!(events))),
            ]);
            merge(&mut request, fields);
            request
        })
}

fn merge(into: &mut Value, fields: Value) {
    if let (Some(into), Value::Object(fields)) = (into.as_object_mut(), fields) {
        into.extend(fields);
    }
}

fn audience() -> impl Strategy<Value = (u32, String)> {
    (1u32..50, name())
}

fn subscription() -> impl Strategy<Value = Value> {
    (
        request_id(),
        millis(),
        audience(),
        select(&["add", "update", "remove"][..]),
    )
        .prop_map(|(id, time, (audience_id, audience_name), action)| {
            let mut request = envelope("audience_subscription_request", id, time);
            merge(
                &mut request,
                json!({
                    "account": account(), "audience_id": audience_id,
                    "audience_name": audience_name, "action": action,
                }),
            );
            request
        })
}

/// One user profile of a membership change, in the current (`audiences`
/// with actions) or the legacy (`added_audiences`/`removed_audiences`) form.
fn user_profile() -> impl Strategy<Value = Value> {
    let current = vec(
        (audience(), select(&["add", "delete", "attribute_update"][..])).prop_map(|((id, name), action)| {
            json!({"audience_id": id, "audience_name": name, "action": action})
        }),
        0..3,
    )
    .prop_map(|list| json!({"audiences": list}));
    let legacy = (vec(audience(), 0..3), vec(audience(), 0..3)).prop_map(|(added, removed)| {
        let list = |l: Vec<(u32, String)>| {
            json!(
                l.into_iter()
                    .map(|(id, name)| json!({"audience_id": id, "audience_name": name}))
                    .collect::<Vec<_>>()
            )
        };
        json!({"added_audiences": list(added), "removed_audiences": list(removed)})
    });
    (
        option::weighted(0.85, pooled_uid()),
        option::of("[a-z]{1,8}@example\\.com"),
        prop_oneof![current, legacy],
        maybe(id_value()),
    )
        .prop_map(|(customer, email, mut audiences, mpid)| {
            merge(
                &mut audiences,
                object(vec![
                    (
                        "user_identities",
                        Some(firehose_identities(customer, email)),
                    ),
                    ("mpid", mpid),
                ]),
            );
            audiences
        })
}

fn membership() -> impl Strategy<Value = Value> {
    (request_id(), millis(), vec(user_profile(), 0..5)).prop_map(|(id, time, profiles)| {
        let mut request = envelope("audience_membership_change_request", id, time);
        merge(
            &mut request,
            json!({"account": account(), "user_profiles": profiles}),
        );
        request
    })
}

fn registration() -> impl Strategy<Value = Value> {
    (request_id(), millis())
        .prop_map(|(id, time)| envelope("module_registration_request", id, time))
}

/// A valid Firehose request of any of the four types.
pub fn firehose_request() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => registration(),
        4 => event_processing(),
        1 => subscription(),
        3 => membership(),
    ]
}

fn kind(request: &Value) -> String {
    request["type"].as_str().unwrap_or_default().to_owned()
}

/// Every uid the request names has a profile (batches carry the identity).
async fn profiles_exist(env: &Env, request: &Value) -> Outcome {
    for uid in uids(request) {
        let profile = env.user(&uid).await;
        prop_assert_eq!(
            &profile[0],
            &json!(200),
            "no profile for {:?}: {}",
            uid,
            profile
        );
    }
    Ok(())
}

async fn events_accepted(body: Value) -> Outcome {
    let env = Env::new(|_| {}).await;
    let reply = env.post_json(EVENTS, &body).await;
    reply.expect_success()?;
    let events = env.drain_events().await;
    prop_assert_eq!(&reply.body["events"], &json!(events.len()));
    profiles_exist(&env, &body).await
}

/// The event uuids a request queues, sorted.
async fn queued_uuids(
    env: &Env,
    target: Target<'_>,
    body: &Value,
) -> Result<Vec<Value>, TestCaseError> {
    let reply = env.submit(target, body.to_string().into_bytes()).await;
    reply.check_for(target)?;
    prop_assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    let mut uuids: Vec<Value> = env
        .drain_events()
        .await
        .iter()
        .map(|e| e["event_uuid"].clone())
        .collect();
    uuids.sort_by_key(Value::to_string);
    Ok(uuids)
}

async fn replay_keeps_uuids(target: Target<'_>, body: Value) -> Outcome {
    let env = Env::new(|_| {}).await;
    let first = queued_uuids(&env, target, &body).await?;
    // Replays arrive later: let the clock move on.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let again = queued_uuids(&env, target, &body).await?;
    prop_assert_eq!(first, again, "a replay queued other event uuids");
    Ok(())
}

async fn mutated(target: Target<'_>, body: Value, m: Mutation) -> Outcome {
    let env = Env::new(|_| {}).await;
    let text = apply(&body, &m, Syntax::Json);
    env.mutated(target, &body, text).await?;
    Ok(())
}

/// A valid request, over HTTP (with its account settings, or without them
/// and authenticated by Basic credentials) or as a direct invocation.
async fn firehose_answered(mut body: Value, direct: bool, basic_only: bool) -> Outcome {
    let env = Env::new(|_| {}).await;
    let kind = kind(&body);
    let target = if direct {
        Target::Direct(&kind)
    } else {
        Target::Firehose(&kind)
    };
    if basic_only
        && !direct
        && let Some(request) = body.as_object_mut()
    {
        request.remove("account");
    }
    let reply = env.submit(target, body.to_string().into_bytes()).await;
    reply.check_for(target)?;
    prop_assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    profiles_exist(&env, &body).await
}

/// The typed reader (shared/src/mparticle/typed.rs) answers only as the
/// path-naming reader would, and reads every valid request itself.
fn typed_reader_agrees(body: &Value, m: Option<&Mutation>) -> Result<(), TestCaseError> {
    let bytes = match m {
        Some(m) => apply(body, m, Syntax::Json),
        None => body.to_string().into_bytes(),
    };
    let by_path = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .map(|value| events_api::read_request_as(&value, Form::OneOrMany));
    match (typed::read(&bytes, Form::OneOrMany), by_path) {
        // Valid JSON text that a `Value` cannot hold (nested deeper than
        // serde_json's 128 levels, a number beyond f64's range), in a field
        // neither reader uses: the typed reader skips it (typed.rs).
        (Some(_), None) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() => {}
        (Some(batches), by_path) => prop_assert_eq!(Some(Ok(batches)), by_path),
        (None, _) => prop_assert!(m.is_some(), "a valid request was left to the other reader"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn events_typed_reader_agrees(body in events_request(), m in option::of(mutation())) {
        typed_reader_agrees(&body, m.as_ref())?;
    }

    #[test]
    fn events_valid_are_accepted(body in events_request()) {
        run(events_accepted(body))?;
    }

    /// Interface §5: `event_uuid` is derived from the mParticle event's
    /// identity, so a replayed request queues the same uuids.
    #[test]
    fn events_replay_keeps_event_uuids(body in events_request()) {
        run(replay_keeps_uuids(Target::Api(EVENTS), body))?;
    }

    #[test]
    fn events_mutated_are_answered_cleanly(body in events_request(), m in mutation()) {
        run(mutated(Target::Api(EVENTS), body, m))?;
    }

    #[test]
    fn firehose_valid_are_answered(
        body in firehose_request(), direct in any::<bool>(), basic_only in any::<bool>()
    ) {
        run(firehose_answered(body, direct, basic_only))?;
    }

    #[test]
    fn firehose_replay_keeps_event_uuids(body in event_processing()) {
        let kind = kind(&body);
        run(replay_keeps_uuids(Target::Firehose(&kind), body))?;
    }

    #[test]
    fn firehose_mutated_http_are_answered_cleanly(body in firehose_request(), m in mutation()) {
        let kind = kind(&body);
        run(mutated(Target::Firehose(&kind), body, m))?;
    }

    /// Direct invocations: a mutation that leaves no JSON value cannot
    /// arrive (the Lambda runtime parses the payload first).
    #[test]
    fn firehose_mutated_direct_are_answered_cleanly(body in firehose_request(), m in mutation()) {
        let kind = kind(&body);
        run(mutated(Target::Direct(&kind), body, m))?;
    }
}

/// The minimal failing input of `events_replay_keeps_event_uuids`.
#[test]
fn replayed_batch_without_ids_keeps_its_event_uuid() {
    let body = json!({
        "user_identities": [{"identity_type": "customer_id", "identity": "u1"}],
        "events": [{"event_type": "custom_event", "data": {"event_name": "A"}}],
    });
    run(replay_keeps_uuids(Target::Api(EVENTS), body)).unwrap();
}

/// The minimal failing input of the Firehose mutation properties: a huge
/// audience name or member uid makes a `Partner Sync` event too large for
/// a queue message once profiles, segment and memberships are written.
#[test]
fn huge_audience_change_is_refused_cleanly() {
    let big = crate::mutate::big_string(1 << 20);
    let mut failures = Vec::new();
    for (uid, name) in [(big.as_str(), "Buyers"), ("u1", big.as_str())] {
        let body = json!({
            "type": "audience_membership_change_request", "id": "r1",
            "timestamp_ms": 1_795_341_662_000_i64, "account": account(),
            "user_profiles": [{
                "user_identities": [{"type": "customer", "encoding": "raw", "value": uid}],
                "audiences": [{"audience_id": 7, "audience_name": name, "action": "add"}],
            }],
        });
        let kind = kind(&body);
        let outcome = run(async {
            let env = Env::new(|_| {}).await;
            let before = env.snapshot(&uids(&body)).await;
            let reply = env
                .submit(Target::Firehose(&kind), body.to_string().into_bytes())
                .await;
            let changes = env.snapshot(&uids(&body)).await.changes_from(&before);
            let clean = reply.status.is_client_error() && changes.is_none();
            let outcome = format!(
                "{} {} changed: {}",
                reply.status,
                crate::harness::brief(&reply.body),
                changes.unwrap_or_default()
            );
            (clean, outcome)
        });
        let (clean, outcome) = outcome;
        if !clean {
            failures.push(format!(
                "uid {} bytes, name {} bytes: {outcome}",
                uid.len(),
                name.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
