//! The suppression check's per-process view of the list
//! (docs/interface/privacy.md "Suppression"): a process holds a workspace's
//! few hashes and sees another process's change within the erasure's
//! grace; a workspace with many is read on every check; this process's own
//! changes count at once.

use std::time::Instant;

use engage_bridge_tests::{Backend, contract_tests, unique};
use futures::future::try_join_all;
use shared::privacy::suppression::{self, FEW, GRACE};
use shared::runtime::Services;

async fn suppressed(services: &Services, ws: &str, uids: &[&str]) -> Vec<String> {
    let found = suppression::check(services, ws, uids.iter().copied())
        .await
        .expect("check");
    let mut out: Vec<String> = uids
        .iter()
        .filter(|uid| found.contains(Some(uid)))
        .map(|uid| uid.to_string())
        .collect();
    out.sort();
    out
}

/// Suppresses `uid` as another process would: through the store, so this
/// process's view is not told.
async fn suppress_elsewhere(services: &Services, ws: &str, uid: &str) {
    let hash = suppression::key(services, ws).await.unwrap().hash(uid);
    services
        .privacy
        .suppressions
        .suppress(ws, &hash, 1_000)
        .await
        .unwrap();
}

async fn a_few_suppressions_are_held_and_another_process_change_is_seen_within_the_grace(
    b: &Backend,
) {
    let (services, ws) = (&b.services, unique("ws-few"));
    assert!(suppressed(services, &ws, &["ann", "bob"]).await.is_empty());

    suppress_elsewhere(services, &ws, "ann").await;
    let since = Instant::now();
    while suppressed(services, &ws, &["ann", "bob"]).await.is_empty() {
        assert!(
            since.elapsed() < GRACE,
            "{}: another process's suppression is seen before an erasure's grace ends",
            b.kind
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(suppressed(services, &ws, &["ann", "bob"]).await, ["ann"]);

    // This process's own changes count at once.
    suppression::suppress(services, &ws, "bob").await.unwrap();
    assert_eq!(
        suppressed(services, &ws, &["ann", "bob"]).await,
        ["ann", "bob"]
    );
    assert!(suppression::lift(services, &ws, "ann").await.unwrap());
    assert_eq!(suppressed(services, &ws, &["ann", "bob"]).await, ["bob"]);
}

async fn a_workspace_with_many_suppressions_is_read_on_every_check(b: &Backend) {
    let (services, ws) = (&b.services, unique("ws-many"));
    let store = &services.privacy.suppressions;
    let hashes: Vec<String> = (0..=FEW).map(|n| format!("h{n:05}")).collect();
    for chunk in hashes.chunks(64) {
        try_join_all(chunk.iter().map(|hash| store.suppress(&ws, hash, 1)))
            .await
            .unwrap();
    }
    assert!(suppressed(services, &ws, &["ann", "bob"]).await.is_empty());
    // Too many to hold: a change made elsewhere counts on the next check.
    suppress_elsewhere(services, &ws, "ann").await;
    assert_eq!(
        suppressed(services, &ws, &["ann", "bob"]).await,
        ["ann"],
        "{}",
        b.kind
    );
}

/// The ten messages of a Lambda batch check at once on a cold cache: the
/// list is read once.
async fn concurrent_checks_on_a_cold_cache_read_the_list_once(b: &Backend) {
    let (services, ws) = (&b.services, unique("ws-once"));
    let checks = try_join_all((0..10).map(|_| suppression::check(services, &ws, ["ann", "bob"])));
    let (found, sent) = engage_bridge_tests::dynamodb_requests(services, checks).await;
    assert!(found.unwrap().iter().all(|found| found.is_empty()));
    if let Some(sent) = sent {
        assert_eq!(sent, 1, "one read for ten concurrent checks");
    }
}

contract_tests!(
    concurrent_checks_on_a_cold_cache_read_the_list_once,
    a_few_suppressions_are_held_and_another_process_change_is_seen_within_the_grace,
    a_workspace_with_many_suppressions_is_read_on_every_check,
);
