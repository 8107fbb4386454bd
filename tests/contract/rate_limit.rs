use std::time::Duration;

use engage_bridge_tests::{Backend, contract_tests};
use shared::ports::RateDecision;

async fn fixed_windows_admit_the_first_n(b: &Backend) {
    let minute = Duration::from_secs(60);
    let mut decisions = Vec::new();
    for _ in 0..5 {
        decisions.push(
            b.rate_limiter
                .hit("ws", "mparticle", minute, 3)
                .await
                .unwrap(),
        );
    }
    assert!(
        decisions[..3].iter().all(|d| *d == RateDecision::Allowed),
        "{decisions:?}"
    );
    for d in &decisions[3..] {
        match d {
            RateDecision::Limited { retry_after_secs } => {
                assert!((1..=60).contains(retry_after_secs))
            }
            other => panic!("{}: expected limited, got {other:?}", b.kind),
        }
    }
    // Other workspaces and scopes count separately.
    assert_eq!(
        b.rate_limiter
            .hit("ws-2", "mparticle", minute, 3)
            .await
            .unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        b.rate_limiter
            .hit("ws", "amplitude", minute, 3)
            .await
            .unwrap(),
        RateDecision::Allowed
    );
}

async fn counts_hold_across_concurrent_callers(b: &Backend) {
    let minute = Duration::from_secs(60);
    let calls = (0..40).map(|_| b.rate_limiter.hit("ws", "burst", minute, 25));
    let decisions = futures::future::join_all(calls).await;
    let allowed = decisions
        .into_iter()
        .filter(|d| *d.as_ref().unwrap() == RateDecision::Allowed)
        .count();
    assert_eq!(allowed, 25, "{}", b.kind);
}

contract_tests!(
    fixed_windows_admit_the_first_n,
    counts_hold_across_concurrent_callers
);
