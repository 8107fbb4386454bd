use std::time::Duration;

use engage_bridge_tests::{Backend, contract_tests};

async fn keys_are_claimed_once_until_released(b: &Backend) {
    let ttl = Duration::from_secs(3600);
    assert!(b.idempotency.claim("ws", "msg-1", ttl).await.unwrap());
    assert!(
        !b.idempotency.claim("ws", "msg-1", ttl).await.unwrap(),
        "{}",
        b.kind
    );
    // Another workspace has its own keys.
    assert!(b.idempotency.claim("ws-2", "msg-1", ttl).await.unwrap());
    b.idempotency.release("ws", "msg-1").await.unwrap();
    assert!(b.idempotency.claim("ws", "msg-1", ttl).await.unwrap());
}

async fn expired_keys_can_be_claimed_again(b: &Backend) {
    assert!(
        b.idempotency
            .claim("ws", "k", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(
        !b.idempotency
            .claim("ws", "k", Duration::from_secs(60))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        b.idempotency
            .claim("ws", "k", Duration::from_secs(60))
            .await
            .unwrap(),
        "{}",
        b.kind
    );
}

contract_tests!(
    keys_are_claimed_once_until_released,
    expired_keys_can_be_claimed_again
);
