//! Benchmark: mParticle ingest. Run with
//! `cargo bench -p engage-bridge-tests --bench mparticle`.
//!
//! 1. Mapping throughput on one core: an Events-API request of 100 events
//!    (10 users × 10 events: custom events and commerce events with
//!    products) parsed, validated, mapped to profile updates and events, and
//!    packed into queue message bodies — beside plain `serde_json` parse +
//!    serialize of the same bytes, the floor any JSON-in/JSON-out path pays.
//! 2. With `ENGAGE_BRIDGE_TEST_MOTO_URL` set: DynamoDB (and SQS) requests per
//!    100-event request through the full API handler against moto.

use std::hint::black_box;
use std::time::{Duration, Instant};

use engage_bridge_tests::{MOTO_ENV, basic, workspace};
use serde_json::{Value, json};
use shared::domain::EventsMessage;
use shared::mparticle::events_api::Form;
use shared::mparticle::{events_api, mapper};
use shared::runtime::Services;

/// The allocator `serve` and the functions run with (each binary's main.rs):
/// the mapping is allocation-bound, so the floor ratio depends on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEASURE: Duration = Duration::from_secs(3);

fn event(user: usize, i: usize) -> Value {
    let ts = 1_795_341_600_000_i64 + (i as i64) * 1000;
    if i % 10 >= 7 {
        json!({"event_type": "commerce_event", "data": {
            "event_id": (user * 1000 + i) as i64 * 7_919 - 4_000_000_000_000_000_000,
            "source_message_id": format!("msg-{user}-{i}"),
            "timestamp_unixtime_ms": ts, "currency_code": "EUR",
            "custom_attributes": {"checkout_flow": "express", "coupon": "WELCOME10"},
            "product_action": {
                "action": if i % 10 == 9 { "purchase" } else { "add_to_cart" },
                "transaction_id": format!("T-{user}-{i}"), "total_amount": 114.97,
                "tax_amount": 9.99, "shipping_amount": 5.0,
                "products": [
                    {"id": "SKU-1", "name": "Trail Running Shoe", "brand": "Acme",
                     "category": "Shoes", "variant": "Blue / 42", "position": 1, "price": 49.99,
                     "quantity": 2, "total_product_amount": 99.98,
                     "custom_attributes": {"size": "42", "color": "blue"}},
                    {"id": "SKU-7", "name": "Running Socks", "brand": "Acme",
                     "category": "Accessories", "price": 4.99, "quantity": 1,
                     "total_product_amount": 4.99}
                ]
            }
        }})
    } else {
        json!({"event_type": "custom_event", "data": {
            "event_name": format!("Viewed Product {}", i % 3),
            "custom_event_type": "navigation",
            "event_id": (user * 1000 + i) as i64 * 7_919 - 4_000_000_000_000_000_000,
            "source_message_id": format!("msg-{user}-{i}"),
            "session_id": 4_957_918_240_501_247_982_i64,
            "timestamp_unixtime_ms": ts,
            "custom_attributes": {"product_id": format!("SKU-{i}"), "category": "Shoes",
                                  "on_sale": "true", "price": "49.99", "position": i}
        }})
    }
}

fn batch(user: usize, events: usize) -> Value {
    json!({
        "events": (0..events).map(|i| event(user, i)).collect::<Vec<_>>(),
        "device_info": {"platform": "iOS", "brand": "Apple", "product": "iPhone15,2",
                        "device_manufacturer": "Apple", "os_version": "17.1",
                        "ios_idfv": format!("0D2A1F4C-6B3E-4F5A-8C7D-{user:012}"),
                        "locale_language": "en", "locale_country": "US", "timezone_offset": 0},
        "application_info": {"application_name": "Demo App", "application_version": "2.3.1"},
        "user_attributes": {"$FirstName": "Jane", "$LastName": "Doe", "$City": "Berlin",
                            "$Country": "DE", "plan": "premium", "loyalty_points": 1200,
                            "newsletter_opt_in": true, "favourite_categories": ["Shoes", "Socks"]},
        "user_identities": [
            {"identity_type": "customer_id", "identity": format!("cust-{user}"),
             "timestamp_unixtime_ms": 1_795_255_200_000_i64},
            {"identity_type": "email", "identity": format!("user{user}@example.com"),
             "timestamp_unixtime_ms": 1_795_255_200_000_i64}
        ],
        "environment": "production", "mpid": -8_433_569_171_194_955_432_i64 + user as i64,
        "batch_id": 7_310_984_432_123_764_921_i64 + user as i64,
        "timestamp_unixtime_ms": 1_795_341_661_000_i64
    })
}

/// `users` batches of `per_user` events each.
fn request(users: usize, per_user: usize) -> Vec<u8> {
    let batches: Vec<Value> = (0..users).map(|u| batch(u, per_user)).collect();
    serde_json::to_vec(&batches).expect("serializable")
}

/// Runs `f` repeatedly for about [`MEASURE`]; returns iterations per second.
fn rate(mut f: impl FnMut()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    let mut iterations = 0u64;
    while start.elapsed() < MEASURE {
        for _ in 0..20 {
            f();
        }
        iterations += 20;
    }
    iterations as f64 / start.elapsed().as_secs_f64()
}

fn mapping_throughput() {
    let ws = workspace("bench", "bench-secret");
    let bytes = request(10, 10);
    let events_per_request = 100.0;

    let plain = rate(|| {
        let value: Value = serde_json::from_slice(black_box(&bytes)).expect("json");
        black_box(serde_json::to_vec(&value).expect("serialize"));
    });
    let read_body =
        |bytes: &[u8]| shared::mparticle::read_body(bytes, Form::OneOrMany).expect("valid");
    let mapped = rate(|| {
        let batches = read_body(black_box(&bytes));
        let out = mapper::map_batches(&ws, batches, 1_795_341_700_000);
        assert_eq!(out.events.len(), 100);
        black_box(EventsMessage::pack(&ws.id, &out.events).expect("packed"));
        black_box(out.updates);
    });
    let kib = bytes.len() as f64 / 1024.0;
    let out_kib = {
        let batches = read_body(&bytes);
        let out = mapper::map_batches(&ws, batches, 1_795_341_700_000);
        let packed = EventsMessage::pack(&ws.id, &out.events).expect("packed");
        packed.iter().map(|m| m.as_str().len()).sum::<usize>() as f64 / 1024.0
    };
    println!("## mParticle ingest\n");
    println!(
        "Mapping, one core, Events-API request of 100 events (10 users x 10 events, 30 % \
         commerce with 2 products each), {kib:.1} KiB of JSON:\n"
    );
    println!("| path | requests/s | events/s | MiB/s |");
    println!("|---|---:|---:|---:|");
    for (name, per_second) in [
        ("serde_json parse + serialize (floor)", plain),
        (
            "parse + validate + map + pack queue messages (engage-bridge)",
            mapped,
        ),
    ] {
        println!(
            "| {name} | {per_second:.0} | {:.0} | {:.1} |",
            per_second * events_per_request,
            per_second * kib / 1024.0
        );
    }
    // Where the time goes: each stage's share, from cumulative rates.
    let value: Value = serde_json::from_slice(&bytes).expect("json");
    let parse = rate(|| {
        black_box(serde_json::from_slice::<Value>(black_box(&bytes)).expect("json"));
    });
    let serialize = rate(|| {
        black_box(serde_json::to_vec(black_box(&value)).expect("serialize"));
    });
    let read = rate(|| {
        black_box(read_body(black_box(&bytes)));
    });
    let map = rate(|| {
        let batches = read_body(black_box(&bytes));
        black_box(mapper::map_batches(&ws, batches, 1_795_341_700_000));
    });
    // The reader that names JSON paths, which answers when the typed one
    // gives up (bad or unusual input), for comparison.
    let read_by_path = rate(|| {
        let value: Value = serde_json::from_slice(black_box(&bytes)).expect("json");
        black_box(events_api::read_request(&value).expect("valid"));
    });
    let us = |per_second: f64| 1e6 / per_second;
    println!(
        "\nPer request (µs): floor = parse {:.0} + serialize {:.0}; engage-bridge = read {:.0} \
         + map {:.0} + pack {:.0} (each stage's own time, from cumulative rates).",
        us(parse),
        us(serialize),
        us(read),
        (us(map) - us(read)).max(0.0),
        (us(mapped) - us(map)).max(0.0),
    );
    println!(
        "Reading with the path-naming reader instead (parse to a Value, then read): {:.0} µs.",
        us(read_by_path)
    );
    println!(
        "\nMapping costs {:.2}x plain parse + serialize. The queue messages it writes \
         hold {out_kib:.1} KiB ({:.2}x the request: every event carries its batch's \
         device attributes and ids).\n",
        plain / mapped,
        out_kib / kib
    );
}

/// Services on fresh moto resources (their clients count requests).
async fn counted_services() -> Services {
    let backend = engage_bridge_tests::aws().await;
    let services = backend.services.clone();
    services
        .workspaces
        .apply(&[workspace("bench", "bench-secret")])
        .await
        .expect("workspace");
    services
}

async fn post(services: &Services, body: &[u8]) {
    let request = http::Request::builder()
        .method("POST")
        .uri("/v1/mparticle/events")
        .header("authorization", basic("bench", "bench-secret"))
        .body(body.to_vec())
        .expect("request");
    let response = engage_bridge_tests::call(services, request).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
}

async fn store_requests() {
    let services = counted_services().await;
    let counts = || services.aws_request_counts().expect("aws backend");
    println!("Store requests per 100-event request (full API handler, moto):\n");
    println!("| request | DynamoDB requests | SQS requests | wall time (moto) |");
    println!("|---|---:|---:|---:|");
    for (label, users, per_user) in [
        ("1 user x 100 events", 1, 100),
        ("10 users x 10 events", 10, 10),
        ("100 users x 1 event", 100, 1),
    ] {
        let body = request(users, per_user);
        post(&services, &body).await; // warms the workspace cache
        let rounds = 5;
        let (dynamo, sqs) = counts();
        let start = Instant::now();
        for _ in 0..rounds {
            post(&services, &body).await;
        }
        let elapsed = start.elapsed() / rounds;
        let (dynamo_after, sqs_after) = counts();
        println!(
            "| {label} | {} | {} | {:.0} ms |",
            (dynamo_after - dynamo) / u64::from(rounds),
            (sqs_after - sqs) / u64::from(rounds),
            elapsed.as_secs_f64() * 1000.0
        );
    }
    println!(
        "\nDynamoDB: one rate-limit counter update plus one UpdateItem per distinct user \
         (run 16 at a time); no reads, no per-attribute or per-event requests. SQS: one \
         SendMessageBatch per 10 queue messages of <= 100 events."
    );
}

fn main() {
    mapping_throughput();
    if std::env::var(MOTO_ENV).is_err() {
        println!("(store requests skipped: set {MOTO_ENV} to a moto_server URL)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(store_requests());
}
