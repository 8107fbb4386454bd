use std::time::Duration;

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
    ids.record("ws", "k", Duration::from_millis(300))
        .await
        .unwrap();
    assert!(ids.is_recorded("ws", "k").await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!ids.is_recorded("ws", "k").await.unwrap(), "{}", b.kind);
    // A later record wins over an earlier, shorter one.
    ids.record("ws", "k", Duration::from_secs(60))
        .await
        .unwrap();
    ids.record("ws", "k", Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(ids.is_recorded("ws", "k").await.unwrap(), "{}", b.kind);
}

contract_tests!(keys_count_only_once_recorded, expired_keys_are_free_again);
