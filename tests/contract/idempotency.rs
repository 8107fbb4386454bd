use std::time::{Duration, Instant};

use engage_bridge_tests::receiver::{CLOCK_GRAIN, wait_for, wait_until_seen};
use engage_bridge_tests::{Backend, contract_tests};

async fn keys_count_only_once_recorded(b: &Backend) {
    let ttl = Duration::from_secs(3600);
    let ids = &b.idempotency;
    assert!(!ids.is_recorded("ws", "msg-1").await.unwrap());
    ids.record("ws", "msg-1", ttl).await.unwrap();
    assert!(ids.is_recorded("ws", "msg-1").await.unwrap(), "{}", b.kind);
    // Another workspace has its own keys.
    assert!(!ids.is_recorded("ws-2", "msg-1").await.unwrap());
    // Recording again is harmless (two concurrent first deliveries).
    ids.record("ws", "msg-1", ttl).await.unwrap();
    assert!(ids.is_recorded("ws", "msg-1").await.unwrap());
}

async fn expired_keys_are_free_again(b: &Backend) {
    let ids = &b.idempotency;
    let ttl = Duration::from_secs(1);
    let recorded = Instant::now();
    ids.record("ws", "k", ttl).await.unwrap();
    // Recorded until its TTL ends, free from then on: seen free, and not
    // before the TTL to the stores' clock grain (bounds a slow machine cannot
    // break).
    let ttl_to_the_grain = ttl - CLOCK_GRAIN;
    let held = ids.is_recorded("ws", "k").await.unwrap();
    assert!(held || recorded.elapsed() >= ttl_to_the_grain, "{}", b.kind);
    let freed = wait_until_seen(
        async || !ids.is_recorded("ws", "k").await.unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        freed - recorded >= ttl_to_the_grain,
        "{}: free after {:?}",
        b.kind,
        freed - recorded
    );
    // A later record wins over an earlier, shorter one: the 60 s record
    // stands after the 1 ms one has run out.
    ids.record("ws", "k", Duration::from_secs(60))
        .await
        .unwrap();
    let short = Instant::now();
    ids.record("ws", "k", Duration::from_millis(1))
        .await
        .unwrap();
    wait_for(
        async || short.elapsed() >= Duration::from_millis(5),
        Duration::from_secs(1),
    )
    .await;
    assert!(ids.is_recorded("ws", "k").await.unwrap(), "{}", b.kind);
}

contract_tests!(keys_count_only_once_recorded, expired_keys_are_free_again);
