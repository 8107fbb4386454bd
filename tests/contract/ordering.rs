//! Ordering of membership changes (docs/rules/member-matching.md "Ordering:
//! versions"): versions are (time in ms, arrival sequence), the sequence
//! taken from the segment's arrival clock. Ties on time go to the later
//! arrival, across requests and within one, also when requests race each
//! other on several processes or Lambda instances.

use std::collections::HashSet;

use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::{MembershipAction, MembershipChange, PageRequest};
use shared::ports::StoreError;
use shared::runtime::Services;

use crate::segments::{change_at, segment};

use MembershipAction::{Added, Removed};

/// One millisecond every change of these tests shares.
const T: i64 = 1_692_206_763_042;

async fn members(b: &Backend, segment_id: &str) -> Vec<String> {
    let page = b
        .segments
        .list_members("ws", segment_id, &PageRequest::first(100))
        .await
        .unwrap();
    page.items.into_iter().map(|m| m.moengage_user_id).collect()
}

async fn member_count(b: &Backend, segment_id: &str) -> i64 {
    b.segments
        .get_segment("ws", segment_id)
        .await
        .unwrap()
        .unwrap()
        .member_count
}

/// Reservations hand out disjoint, increasing sequence blocks, even when
/// they race, and an arrival time that never goes back, even for a caller
/// whose clock is behind.
async fn arrivals_are_unique_and_ordered(b: &Backend) {
    let s = segment(b, "ws").await;
    let first = b
        .segments
        .reserve_arrivals("ws", &s.id, 3, T)
        .await
        .unwrap();
    assert_eq!(first.time_ms, T, "{}", b.kind);
    let calls = (0..16).map(|i| {
        let services = b.services.clone();
        let id = s.id.clone();
        tokio::spawn(async move {
            services
                .segments
                .reserve_arrivals("ws", &id, 1 + i % 3, T + i as i64)
                .await
                .map(|a| (a, 1 + i % 3))
        })
    });
    let mut taken = HashSet::new();
    for result in futures::future::join_all(calls).await {
        let (arrival, count) = result.unwrap().unwrap();
        assert!(arrival.first_seq > first.first_seq + 2, "{}", b.kind);
        for seq in arrival.first_seq..arrival.first_seq + count as i64 {
            assert!(
                taken.insert(seq),
                "{}: sequence {seq} handed out twice",
                b.kind
            );
        }
    }
    let last = b
        .segments
        .reserve_arrivals("ws", &s.id, 1, T + 100)
        .await
        .unwrap();
    // A caller whose clock is 1 s behind still arrives after all of them.
    let behind = b
        .segments
        .reserve_arrivals("ws", &s.id, 1, T - 1_000)
        .await
        .unwrap();
    assert_eq!(behind.time_ms, T + 100, "{}", b.kind);
    assert!(behind.first_seq > last.first_seq);
    assert!(matches!(
        b.segments
            .reserve_arrivals("ws", "amplitude-nope", 1, T)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Adds and removes of one member in the same millisecond, across requests
/// and within one, applied in any order: the last arrival wins.
async fn same_millisecond_changes_end_with_the_last_arrival(b: &Backend) {
    let s = segment(b, "ws").await;
    let mut requests = Vec::new();
    for action in [Added, Removed, Added, Removed] {
        let arrival = b
            .segments
            .reserve_arrivals("ws", &s.id, 1, T)
            .await
            .unwrap();
        requests.push(change_at("m1", action, T, arrival.first_seq));
    }
    // Applied out of order: the last arrival (a removal) first, then the rest.
    let last = b
        .segments
        .apply_membership_changes("ws", &s.id, &requests[3..])
        .await
        .unwrap();
    assert_eq!(last.applied.len(), 1);
    for request in &requests[..3] {
        let outcome = b
            .segments
            .apply_membership_changes("ws", &s.id, std::slice::from_ref(request))
            .await
            .unwrap();
        assert!(
            outcome.applied.is_empty(),
            "{}: an earlier arrival applied",
            b.kind
        );
    }
    assert!(members(b, &s.id).await.is_empty(), "{}", b.kind);
    assert_eq!(member_count(b, &s.id).await, 0);

    // One request carrying a member twice (add, then remove) in one ms.
    let arrival = b
        .segments
        .reserve_arrivals("ws", &s.id, 3, T)
        .await
        .unwrap();
    let request = [
        change_at("m2", Added, T, arrival.version(None, 0).seq),
        change_at("m3", Added, T, arrival.version(None, 1).seq),
        change_at("m2", Removed, T, arrival.version(None, 2).seq),
    ];
    let outcome = b
        .segments
        .apply_membership_changes("ws", &s.id, &request)
        .await
        .unwrap();
    assert_eq!(outcome.applied, request.to_vec(), "{}", b.kind);
    assert_eq!(members(b, &s.id).await, vec!["m3"], "{}", b.kind);
    assert_eq!(member_count(b, &s.id).await, 1);

    // An older computed time never wins, whatever its arrival.
    let late = b
        .segments
        .reserve_arrivals("ws", &s.id, 1, T)
        .await
        .unwrap();
    let older = change_at("m3", Removed, T - 1, late.first_seq);
    let outcome = b
        .segments
        .apply_membership_changes("ws", &s.id, &[older])
        .await
        .unwrap();
    assert!(outcome.applied.is_empty());
    assert_eq!(members(b, &s.id).await, vec!["m3"]);
}

/// A redelivered request changes nothing and reports every change it made
/// as current, so its events are announced again with the same uuids.
async fn a_redelivered_request_is_idempotent(b: &Backend) {
    let s = segment(b, "ws").await;
    let arrival = b
        .segments
        .reserve_arrivals("ws", &s.id, 3, T)
        .await
        .unwrap();
    let request: Vec<MembershipChange> = [("m1", Added), ("m2", Added), ("m1", Removed)]
        .iter()
        .enumerate()
        .map(|(i, (id, action))| change_at(id, *action, T, arrival.version(None, i).seq))
        .collect();
    let first = b
        .segments
        .apply_membership_changes("ws", &s.id, &request)
        .await
        .unwrap();
    assert_eq!(first.applied.len(), 3);
    let again = b
        .segments
        .apply_membership_changes("ws", &s.id, &request)
        .await
        .unwrap();
    assert!(again.applied.is_empty(), "{}", b.kind);
    assert_eq!(again.already_current, request, "{}", b.kind);
    assert_eq!(members(b, &s.id).await, vec!["m2"]);
    assert_eq!(member_count(b, &s.id).await, 1, "{}", b.kind);
}

/// The changes of request `i` of the tests below: it adds (odd `i`:
/// removes) every member, then flips m1 back; within the request, the later
/// position wins.
fn race_request(i: usize) -> [(&'static str, MembershipAction); 4] {
    let action = if i.is_multiple_of(2) { Added } else { Removed };
    let flipped = if action == Added { Removed } else { Added };
    [
        ("m1", action),
        ("m2", action),
        ("m3", action),
        ("m1", flipped),
    ]
}

/// Takes request `i`'s arrival on segment `id` and returns its changes.
async fn arrive(b: &Services, id: &str, i: usize) -> Vec<MembershipChange> {
    let request = race_request(i);
    let arrival = b
        .segments
        .reserve_arrivals("ws", id, request.len(), T)
        .await
        .unwrap();
    request
        .iter()
        .enumerate()
        .map(|(k, (m, a))| change_at(m, *a, T, arrival.version(None, k).seq))
        .collect()
}

/// Workers take their arrival, then apply, so requests may apply in any
/// order: twelve requests that arrived in order 0..12 and apply in another
/// end with the last arrival's state. Request 11 removes every member and,
/// last, adds m1 back.
async fn requests_applied_out_of_arrival_order_keep_the_last_arrival(b: &Backend) {
    let s = segment(b, "ws").await;
    let mut requests = Vec::new();
    for i in 0..12 {
        requests.push(arrive(b, &s.id, i).await);
    }
    for i in [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4] {
        b.segments
            .apply_membership_changes("ws", &s.id, &requests[i])
            .await
            .unwrap();
    }
    assert_eq!(members(b, &s.id).await, vec!["m1"], "{}", b.kind);
    assert_eq!(member_count(b, &s.id).await, 1, "{}", b.kind);
}

/// Requests racing on several workers, adds and removes of the same
/// members in the same millisecond: the stored state is the last arrival's
/// for every member, and member_count matches the members. SQLite only:
/// moto (the DynamoDB stand-in) does not isolate concurrent transactions (a
/// cancelled TransactWriteItems restores a snapshot of the whole table,
/// undoing other requests' writes; moto/dynamodb/models
/// `transact_write_items`), so a race there would test moto. The ordering
/// itself is tested on both backends, deterministically, above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_the_last_arrival_sqlite() {
    let b = engage_bridge_tests::sqlite();
    let s = segment(&b, "ws").await;
    let calls = (0..12).map(|i| {
        let services = b.services.clone();
        let id = s.id.clone();
        tokio::spawn(async move {
            let changes = arrive(&services, &id, i).await;
            services
                .segments
                .apply_membership_changes("ws", &id, &changes)
                .await
                .unwrap();
            changes
        })
    });
    let mut all: Vec<MembershipChange> = Vec::new();
    for result in futures::future::join_all(calls).await {
        all.extend(result.unwrap());
    }
    // Which request arrived last is the race's outcome; its changes decide.
    let expected: Vec<String> = ["m1", "m2", "m3"]
        .into_iter()
        .filter(|m| {
            let last = all
                .iter()
                .filter(|c| c.member.moengage_user_id == *m)
                .max_by_key(|c| c.version)
                .unwrap();
            last.action == Added
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(members(&b, &s.id).await, expected);
    assert_eq!(member_count(&b, &s.id).await, expected.len() as i64);
}

contract_tests!(
    arrivals_are_unique_and_ordered,
    same_millisecond_changes_end_with_the_last_arrival,
    a_redelivered_request_is_idempotent,
    requests_applied_out_of_arrival_order_keep_the_last_arrival,
);

/// DynamoDB memberships written before versions had a sequence hold only
/// `computed_time` (epoch seconds): they read as (that × 1000, sequence 0),
/// so any new arrival at the same second is newer, an older one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_memberships_from_before_sequences_read_as_sequence_zero() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let b = engage_bridge_tests::aws().await;
    let s = segment(&b, "ws").await;
    let table = b.resources.as_ref().unwrap().state_table.clone();
    let client = aws_sdk_dynamodb::Client::new(&engage_bridge_tests::moto_sdk_config().await);
    let text = |v: &str| AttributeValue::S(v.to_owned());
    let number = |v: i64| AttributeValue::N(v.to_string());
    client
        .put_item()
        .table_name(&table)
        .item("pk", text(&format!("W#ws#S#{}", s.id)))
        .item("sk", text("M#m1"))
        .item("mid", text("m1"))
        .item("in_segment", AttributeValue::Bool(true))
        .item("computed_time", number(1_692_206_763))
        .send()
        .await
        .unwrap();
    let at = 1_692_206_763_000;
    let older = change_at("m1", Removed, at - 1, 5);
    let outcome = b
        .segments
        .apply_membership_changes("ws", &s.id, std::slice::from_ref(&older))
        .await
        .unwrap();
    assert!(outcome.applied.is_empty());
    let same_second = change_at("m1", Removed, at, 1);
    let outcome = b
        .segments
        .apply_membership_changes("ws", &s.id, std::slice::from_ref(&same_second))
        .await
        .unwrap();
    assert_eq!(outcome.applied, vec![same_second]);
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", text(&format!("W#ws#S#{}", s.id)))
        .key("sk", text("M#m1"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item.get("time_ms"), Some(&number(at)));
    assert_eq!(item.get("seq"), Some(&number(1)));
    assert_eq!(item.get("computed_time"), None);
}
