use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::Attempt;

fn attempt(status: u16) -> Attempt {
    Attempt {
        at: "2026-11-22T10:00:00.000Z".into(),
        ..Attempt::answered(status, format!("HTTP {status}"))
    }
}

async fn attempts_append_in_order_and_clear(b: &Backend) {
    assert!(b.attempts.attempts("ws", "req").await.unwrap().is_empty());
    assert!(
        b.attempts
            .append_attempt("ws", "req", 0, &attempt(500))
            .await
            .unwrap()
    );
    assert!(
        b.attempts
            .append_attempt("ws", "req", 1, &attempt(502))
            .await
            .unwrap()
    );
    assert_eq!(
        b.attempts.attempts("ws", "req").await.unwrap(),
        vec![attempt(500), attempt(502)],
        "{}",
        b.kind
    );
    assert!(
        b.attempts
            .attempts("other-ws", "req")
            .await
            .unwrap()
            .is_empty()
    );
    b.attempts.clear_attempts("ws", "req").await.unwrap();
    assert!(b.attempts.attempts("ws", "req").await.unwrap().is_empty());
}

async fn a_concurrent_duplicate_append_loses(b: &Backend) {
    // Two deliveries of the same retry message both saw one attempt: only the
    // first append counts, so a retry is never counted twice.
    assert!(
        b.attempts
            .append_attempt("ws", "req", 0, &attempt(500))
            .await
            .unwrap()
    );
    assert!(
        b.attempts
            .append_attempt("ws", "req", 1, &attempt(503))
            .await
            .unwrap()
    );
    assert!(
        !b.attempts
            .append_attempt("ws", "req", 1, &attempt(504))
            .await
            .unwrap(),
        "{}",
        b.kind
    );
    assert!(
        !b.attempts
            .append_attempt("ws", "req", 0, &attempt(504))
            .await
            .unwrap()
    );
    assert_eq!(b.attempts.attempts("ws", "req").await.unwrap().len(), 2);
}

contract_tests!(
    attempts_append_in_order_and_clear,
    a_concurrent_duplicate_append_loses
);
