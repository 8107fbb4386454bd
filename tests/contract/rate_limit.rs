use std::time::Duration;

use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::time::now_ms;
use shared::ports::RateDecision;

const MINUTE: Duration = Duration::from_secs(60);

/// Milliseconds left in the current fixed window of `length` (windows
/// start at multiples of their length since the epoch).
fn left_in_window(length: Duration) -> i64 {
    let length = length.as_millis() as i64;
    length - now_ms().rem_euclid(length)
}

/// Waits until at least 20 s of the current minute window are left, so the
/// hits of a test all fall in one window (the condition, not a guess at
/// how long the test takes, decides).
async fn early_in_a_window() {
    wait_for(
        async || left_in_window(MINUTE) >= 20_000,
        Duration::from_secs(25),
    )
    .await;
}

async fn fixed_windows_admit_the_first_n(b: &Backend) {
    let minute = MINUTE;
    early_in_a_window().await;
    let left_before = left_in_window(minute);
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
    let left_after = left_in_window(minute);
    // Retry-After: the seconds left in this window, rounded up.
    let range = (left_after as u64).div_ceil(1000)..=(left_before as u64).div_ceil(1000);
    for d in &decisions[3..] {
        match d {
            RateDecision::Limited { retry_after_secs } => {
                assert!(
                    range.contains(retry_after_secs),
                    "{retry_after_secs} not in {range:?}"
                )
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

/// SQLite only: moto (the DynamoDB stand-in) updates items without a lock,
/// so concurrent `ADD`s to one counter can lose one there (seen: 26 of 40
/// admitted at a limit of 25), which DynamoDB's atomic updates never do.
/// The counting itself is tested on both backends above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_hold_across_concurrent_callers_sqlite() {
    let b = &engage_bridge_tests::sqlite();
    let minute = MINUTE;
    early_in_a_window().await;
    let calls = (0..40).map(|_| b.rate_limiter.hit("ws", "burst", minute, 25));
    let decisions = futures::future::join_all(calls).await;
    let allowed = decisions
        .into_iter()
        .filter(|d| *d.as_ref().unwrap() == RateDecision::Allowed)
        .count();
    assert_eq!(allowed, 25, "{}", b.kind);
}

contract_tests!(fixed_windows_admit_the_first_n);
