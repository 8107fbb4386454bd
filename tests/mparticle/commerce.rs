//! Commerce events (docs/rules/mparticle-mapping.md), in both formats.

use engage_bridge_tests::{Backend, contract_tests};
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The product actions of the reference (an oracle kept apart from
/// `shared::mparticle::rules::PRODUCT_ACTIONS` on purpose).
const ACTIONS: [&str; 10] = [
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

fn products() -> Value {
    json!([
        {"id": "SKU-1", "name": "Shoe", "brand": "Acme", "category": "Shoes", "variant": "42",
         "position": 1, "price": 49.99, "quantity": 2, "coupon_code": "X",
         "total_product_amount": 99.98, "custom_attributes": {"size": "42", "id": "not the id"}},
        {"id": "SKU-7", "name": "Socks", "price": "4.99", "quantity": 1}
    ])
}

fn expected_products() -> Value {
    json!([
        {"size": "42", "id": "SKU-1", "name": "Shoe", "category": "Shoes", "brand": "Acme",
         "price": 49.99, "quantity": 2, "total_amount": 99.98},
        {"id": "SKU-7", "name": "Socks", "price": 4.99, "quantity": 1}
    ])
}

/// Each product action becomes ONE event named by the action, never one per
/// product, with the transaction fields, the products and the custom
/// attributes.
async fn every_product_action_is_one_event(b: &Backend) {
    setup(b, |_| {}).await;
    let events: Vec<Value> = ACTIONS
        .iter()
        .enumerate()
        .map(|(i, action)| {
            json!({"event_type": "commerce_event", "data": {
                "event_id": i, "timestamp_unixtime_ms": 1_795_341_660_000_i64,
                "currency_code": "EUR", "screen_name": "Cart",
                "custom_attributes": {"channel": "app", "transaction_id": "overridden"},
                "product_action": {
                    "action": action, "transaction_id": "T-1", "affiliation": "Shop",
                    "total_amount": 104.97, "tax_amount": 1, "shipping_amount": "5",
                    "coupon_code": "X", "products": products()
                }
            }})
        })
        .collect();
    let reply = post_events(b, &batch("u1", Value::Array(events))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["events"], 10);
    let events = drain_events(b).await;
    assert_eq!(events.len(), 10, "never expanded per product");
    for action in ACTIONS {
        let event = named(&events, action);
        assert_eq!(event["event_code"], action);
        assert_eq!(
            event["event_attributes"],
            json!({
                "channel": "app", "transaction_id": "T-1", "currency_code": "EUR",
                "total_amount": 104.97, "shipping_amount": 5.0, "tax_amount": 1,
                "products": expected_products()
            })
        );
    }
}

/// Firehose product actions: the same event from its field names.
async fn firehose_product_action(b: &Backend) {
    setup(b, |_| {}).await;
    let request = json!({
        "type": "event_processing_request", "id": "r-1", "timestamp_ms": 1_795_341_662_000_i64,
        "firehose_version": "3.2.0",
        "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
        "events": [{
            "type": "product_action", "id": "e-1", "timestamp_ms": 1_795_341_660_000_i64,
            "action": "add_to_cart", "transaction_id": "T-1", "total_amount": 104.97,
            "tax_amount": 1, "shipping_amount": 5.0, "currency_code": "EUR",
            "products": [
                {"id": "SKU-1", "name": "Shoe", "brand": "Acme", "category": "Shoes",
                 "variant": "42", "position": 1, "price": 49.99, "quantity": 2,
                 "total_amount": 99.98, "attributes": {"size": "42"}},
                {"id": "SKU-7", "name": "Socks", "price": 4.99, "quantity": 1}
            ],
            "attributes": {"channel": "app"}
        }]
    });
    let reply = post_firehose(b, &request, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let events = drain_events(b).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_name"], "add_to_cart");
    assert_eq!(
        events[0]["event_attributes"],
        json!({
            "channel": "app", "transaction_id": "T-1", "currency_code": "EUR",
            "total_amount": 104.97, "shipping_amount": 5.0, "tax_amount": 1,
            "products": expected_products()
        })
    );
}

fn promotion_and_impression_events() -> Value {
    json!([
        {"event_type": "commerce_event", "data": {"event_id": 1, "custom_attributes": {"page": "home"},
            "promotion_action": {"action": "view", "promotions": [
                {"id": "P1", "name": "Summer", "creative": "banner", "position": "top"},
                {"id": "P2", "name": "Winter"}
            ]}}},
        {"event_type": "commerce_event", "data": {"event_id": 2,
            "promotion_action": {"action": "click", "promotions": [{"id": "P1", "name": "Summer"}]}}},
        {"event_type": "commerce_event", "data": {"event_id": 3, "custom_attributes": {"page": "search"},
            "product_impressions": [
                {"product_impression_list": "Search results", "products": [
                    {"id": "SKU-1", "name": "Shoe", "price": 49.99, "custom_attributes": {"rank": "1"}}
                ]},
                {"product_impression_list": "Suggested", "products": []}
            ]}}
    ])
}

/// Promotions and impressions are skipped and counted unless the workspace
/// enables them (docs/rules/mparticle-mapping.md "Promotions and impressions").
async fn promotions_and_impressions_follow_the_workspace_flag(b: &Backend) {
    setup(b, |_| {}).await;
    let reply = post_events(b, &batch("u1", promotion_and_impression_events())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["events"], 0);
    assert_eq!(
        reply.body["skipped"],
        json!({"promotion_action": 2, "impression": 1})
    );
    assert!(drain_events(b).await.is_empty());

    setup(b, |ws| ws.commerce_promotions_and_impressions = true).await;
    let reply = post_events(b, &batch("u1", promotion_and_impression_events())).await;
    assert_eq!(reply.body["events"], 3, "{}", reply.body);
    assert_eq!(reply.body["skipped"], json!({}));
    let events = drain_events(b).await;
    assert_eq!(
        named(&events, "promotion_view")["event_attributes"],
        json!({"page": "home", "promotions": [
            {"id": "P1", "name": "Summer", "creative": "banner", "position": "top"},
            {"id": "P2", "name": "Winter"}
        ]})
    );
    assert_eq!(
        named(&events, "promotion_click")["event_attributes"],
        json!({"promotions": [{"id": "P1", "name": "Summer"}]})
    );
    let impression = named(&events, "impression");
    assert_eq!(impression["event_code"], "impression");
    assert_eq!(
        impression["event_attributes"],
        json!({"page": "search", "impressions": [
            {"product_impression_list": "Search results", "products": [
                {"rank": "1", "id": "SKU-1", "name": "Shoe", "price": 49.99}
            ]},
            {"product_impression_list": "Suggested", "products": []}
        ]})
    );
}

/// Firehose promotion_action and impression events, with the flag.
async fn firehose_promotions_and_impressions(b: &Backend) {
    setup(b, |ws| ws.commerce_promotions_and_impressions = true).await;
    let request = json!({
        "type": "event_processing_request", "id": "r-2", "timestamp_ms": 1_795_341_662_000_i64,
        "firehose_version": "3.2.0",
        "account": {"account_id": 1, "account_settings": {"workspace_id": WS, "secret_key": SECRET}},
        "user_identities": [{"type": "customer", "encoding": "raw", "value": "u1"}],
        "events": [
            {"type": "promotion_action", "id": "e-1", "timestamp_ms": 1, "action": "click",
             "promotions": [{"id": "P1", "name": "Summer", "creative": "banner", "position": "1"}],
             "attributes": {"page": "home"}},
            {"type": "impression", "id": "e-2", "timestamp_ms": 1,
             "impressions": [{"impression_list_name": "Search results",
                              "products": [{"id": "SKU-1", "total_amount": 10}]}]}
        ]
    });
    assert_eq!(
        post_firehose(b, &request, None).await.status,
        StatusCode::OK
    );
    let events = drain_events(b).await;
    assert_eq!(
        named(&events, "promotion_click")["event_attributes"],
        json!({"page": "home", "promotions": [
            {"id": "P1", "name": "Summer", "creative": "banner", "position": "1"}
        ]})
    );
    assert_eq!(
        named(&events, "impression")["event_attributes"],
        json!({"impressions": [{"product_impression_list": "Search results",
                                "products": [{"id": "SKU-1", "total_amount": 10}]}]})
    );
}

/// A commerce event with no product action, promotion or impressions
/// (e.g. only a shopping cart) is skipped as `commerce_event`.
async fn commerce_event_without_a_shape_is_skipped(b: &Backend) {
    setup(b, |_| {}).await;
    let events = json!([{"event_type": "commerce_event", "data": {
        "event_id": 1, "shopping_cart": {"products": []}
    }}]);
    let reply = post_events(b, &batch("u1", events)).await;
    assert_eq!(reply.body["skipped"], json!({"commerce_event": 1}));
    assert!(drain_events(b).await.is_empty());
}

contract_tests!(
    every_product_action_is_one_event,
    firehose_product_action,
    promotions_and_impressions_follow_the_workspace_flag,
    firehose_promotions_and_impressions,
    commerce_event_without_a_shape_is_skipped,
);
