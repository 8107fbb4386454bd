use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::{
    Member, MembershipAction, MembershipChange, PageRequest, Segment, SegmentSource, Version,
};

/// A change at time `t` (ms) that arrived `seq`-th.
pub fn change_at(id: &str, action: MembershipAction, t: i64, seq: i64) -> MembershipChange {
    MembershipChange {
        member: Member {
            moengage_user_id: id.into(),
            uid: Some(format!("uid-{id}")),
            moe_anonymous_id: None,
        },
        action,
        version: Version::new(t, seq),
    }
}

/// A change at time `t` whose arrival order does not matter to the test.
fn change(id: &str, action: MembershipAction, t: i64) -> MembershipChange {
    change_at(id, action, t, 1)
}

use MembershipAction::{Added, Removed};

pub async fn segment(b: &Backend, ws: &str) -> Segment {
    b.segments
        .ensure_segment(
            ws,
            &Segment::new(SegmentSource::Amplitude, "7khm89cz", "Cart Drop off"),
        )
        .await
        .unwrap()
}

async fn ensure_is_idempotent_and_follows_renames(b: &Backend) {
    let first = segment(b, "ws").await;
    assert_eq!(first.id, "amplitude-7khm89cz");
    assert_eq!(first.source, SegmentSource::Amplitude);
    assert_eq!((first.member_count, first.sync_count), (0, 0));
    b.segments
        .apply_membership_changes("ws", &first.id, &[change("m1", Added, 10)])
        .await
        .unwrap();
    let renamed = b
        .segments
        .ensure_segment(
            "ws",
            &Segment::new(SegmentSource::Amplitude, "7khm89cz", "Renamed"),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(
        renamed.member_count, 1,
        "{}: ensure must not reset counts",
        b.kind
    );
    b.segments
        .record_sync("ws", &first.id, "2026-11-22T10:00:00.000Z")
        .await
        .unwrap();
    let got = b
        .segments
        .get_segment("ws", &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.sync_count, 1);
    assert_eq!(
        got.last_synced_at.as_deref(),
        Some("2026-11-22T10:00:00.000Z")
    );
    assert!(
        b.segments
            .get_segment("other-ws", &first.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn memberships_are_versioned_by_time(b: &Backend) {
    let s = segment(b, "ws").await;
    let applied = b
        .segments
        .apply_membership_changes(
            "ws",
            &s.id,
            &[change("m1", Added, 100), change("m2", Added, 100)],
        )
        .await
        .unwrap();
    assert_eq!(applied.applied.len(), 2);
    assert!(applied.already_current.is_empty());
    // A replay of the same change is not applied again.
    let replay = b
        .segments
        .apply_membership_changes("ws", &s.id, &[change("m1", Added, 100)])
        .await
        .unwrap();
    assert!(replay.applied.is_empty(), "{}: replay applied", b.kind);
    // ...but reported as already current, so its event can be re-announced.
    assert_eq!(
        replay.already_current,
        vec![change("m1", Added, 100)],
        "{}",
        b.kind
    );
    // An older removal arriving late is ignored.
    let stale = b
        .segments
        .apply_membership_changes("ws", &s.id, &[change("m1", Removed, 99)])
        .await
        .unwrap();
    assert!(stale.applied.is_empty(), "{}: stale change applied", b.kind);
    assert!(stale.already_current.is_empty());
    // A newer removal wins.
    let newer = b
        .segments
        .apply_membership_changes("ws", &s.id, &[change("m2", Removed, 101)])
        .await
        .unwrap();
    assert_eq!(newer.applied, vec![change("m2", Removed, 101)]);
    // ...and an older add cannot resurrect the member.
    let resurrect = b
        .segments
        .apply_membership_changes("ws", &s.id, &[change("m2", Added, 100)])
        .await
        .unwrap();
    assert!(resurrect.applied.is_empty());
    let got = b.segments.get_segment("ws", &s.id).await.unwrap().unwrap();
    assert_eq!(got.member_count, 1, "{}", b.kind);
    let members = b
        .segments
        .list_members("ws", &s.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 1);
    assert_eq!(members.items[0].moengage_user_id, "m1");
    assert_eq!(members.items[0].uid.as_deref(), Some("uid-m1"));
    assert_eq!(
        b.segments.segments_of("ws", "m1").await.unwrap(),
        vec![s.id.clone()]
    );
    assert!(b.segments.segments_of("ws", "m2").await.unwrap().is_empty());
}

async fn changes_to_one_member_in_one_batch_apply_in_order(b: &Backend) {
    let s = segment(b, "ws").await;
    let applied = b
        .segments
        .apply_membership_changes(
            "ws",
            &s.id,
            &[
                change_at("m", Added, 1, 1),
                change_at("m", Removed, 2, 2),
                change_at("m", Added, 1, 3),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        applied.applied,
        vec![change_at("m", Added, 1, 1), change_at("m", Removed, 2, 2)],
        "{}",
        b.kind
    );
    assert!(applied.already_current.is_empty());
    let got = b.segments.get_segment("ws", &s.id).await.unwrap().unwrap();
    assert_eq!(got.member_count, 0);
}

async fn members_page_with_cursors(b: &Backend) {
    let s = segment(b, "ws").await;
    // 130 members: more than one 50-member transaction, several pages.
    let adds: Vec<MembershipChange> = (0..130)
        .map(|i| change(&format!("m{i:03}"), Added, 5))
        .collect();
    let removes: Vec<MembershipChange> = (0..130)
        .filter(|i| i % 10 == 0)
        .map(|i| change(&format!("m{i:03}"), Removed, 6))
        .collect();
    assert_eq!(
        b.segments
            .apply_membership_changes("ws", &s.id, &adds)
            .await
            .unwrap()
            .applied
            .len(),
        130
    );
    assert_eq!(
        b.segments
            .apply_membership_changes("ws", &s.id, &removes)
            .await
            .unwrap()
            .applied
            .len(),
        13
    );
    // Redelivering the first batch: nothing applies; the 117 still added are
    // current, so their events can be re-announced.
    let again = b
        .segments
        .apply_membership_changes("ws", &s.id, &adds)
        .await
        .unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already_current.len(), 117, "{}", b.kind);
    let mut seen = Vec::new();
    let mut page = PageRequest::first(25);
    loop {
        let got = b.segments.list_members("ws", &s.id, &page).await.unwrap();
        assert!(got.items.len() <= 25);
        seen.extend(got.items.into_iter().map(|m| m.moengage_user_id));
        match got.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let expected: Vec<String> = (0..130)
        .filter(|i| i % 10 != 0)
        .map(|i| format!("m{i:03}"))
        .collect();
    assert_eq!(seen, expected, "{}", b.kind);
    assert_eq!(
        b.segments
            .get_segment("ws", &s.id)
            .await
            .unwrap()
            .unwrap()
            .member_count,
        117
    );
}

async fn segments_list_in_pages_per_workspace(b: &Backend) {
    for i in 0..5 {
        b.segments
            .ensure_segment(
                "ws",
                &Segment::new(SegmentSource::Mparticle, &i.to_string(), "Audience"),
            )
            .await
            .unwrap();
    }
    segment(b, "other").await;
    let first = b
        .segments
        .list_segments("ws", &PageRequest::first(3))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 3);
    let rest = b
        .segments
        .list_segments(
            "ws",
            &PageRequest {
                limit: 3,
                after: first.next_after.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.next_after, None);
    let all: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(
        all,
        vec![
            "mparticle-0",
            "mparticle-1",
            "mparticle-2",
            "mparticle-3",
            "mparticle-4"
        ]
    );
}

/// The changes a cohort sync usually carries (a new member, a member added
/// again after an older removal, a member removed) and the ones it rarely
/// does (an add for a member already in, a removal for one never in) all
/// land, with an exact `member_count`, in a request of more than one
/// store transaction.
async fn large_requests_mix_new_returning_and_current_members(b: &Backend) {
    let s = segment(b, "ws").await;
    let id = |i: usize| format!("m{i:03}");
    // 150 members in, then 0..50 removed.
    let first: Vec<_> = (0..150).map(|i| change(&id(i), Added, 100)).collect();
    let out = b
        .segments
        .apply_membership_changes("ws", &s.id, &first)
        .await
        .unwrap();
    assert_eq!(out.applied.len(), 150, "{}", b.kind);
    let removals: Vec<_> = (0..50).map(|i| change(&id(i), Removed, 200)).collect();
    let out = b
        .segments
        .apply_membership_changes("ws", &s.id, &removals)
        .await
        .unwrap();
    assert_eq!(out.applied.len(), 50, "{}", b.kind);
    // 0..25 return, 150..250 are new, 100..110 are already in (added at an
    // older time: applied, not counted twice), 260 is removed without ever
    // having been in.
    let mut mixed: Vec<_> = (0..25).map(|i| change(&id(i), Added, 300)).collect();
    mixed.extend((150..250).map(|i| change(&id(i), Added, 300)));
    mixed.extend((100..110).map(|i| change(&id(i), Added, 300)));
    mixed.push(change(&id(260), Removed, 300));
    let out = b
        .segments
        .apply_membership_changes("ws", &s.id, &mixed)
        .await
        .unwrap();
    assert_eq!(out.applied.len(), mixed.len(), "{}", b.kind);
    let got = b.segments.get_segment("ws", &s.id).await.unwrap().unwrap();
    assert_eq!(got.member_count, 100 + 25 + 100, "{}", b.kind);
    let mut in_segment = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let members = b.segments.list_members("ws", &s.id, &page).await.unwrap();
        in_segment.extend(members.items.into_iter().map(|m| m.moengage_user_id));
        match members.next_after {
            Some(after) => {
                page = PageRequest {
                    after: Some(after),
                    ..page
                }
            }
            None => break,
        }
    }
    let mut expected: Vec<_> = (0..25).chain(50..250).map(id).collect();
    expected.sort();
    in_segment.sort();
    assert_eq!(in_segment, expected, "{}", b.kind);
    // The same request again changes nothing and reports every change current.
    let again = b
        .segments
        .apply_membership_changes("ws", &s.id, &mixed)
        .await
        .unwrap();
    assert!(again.applied.is_empty(), "{}", b.kind);
    assert_eq!(again.already_current.len(), mixed.len(), "{}", b.kind);
}

/// A user's segments, across several segments of a workspace and not those
/// of another workspace.
async fn a_users_segments_are_those_it_is_in(b: &Backend) {
    let mut ids = Vec::new();
    for cohort in ["c1", "c2", "c3"] {
        let s = b
            .segments
            .ensure_segment(
                "ws",
                &Segment::new(SegmentSource::Amplitude, cohort, cohort),
            )
            .await
            .unwrap();
        ids.push(s.id);
    }
    let other = segment(b, "other-ws").await;
    for id in &ids {
        b.segments
            .apply_membership_changes("ws", id, &[change("m1", Added, 100)])
            .await
            .unwrap();
    }
    b.segments
        .apply_membership_changes("ws", &ids[1], &[change("m1", Removed, 200)])
        .await
        .unwrap();
    b.segments
        .apply_membership_changes("other-ws", &other.id, &[change("m1", Added, 100)])
        .await
        .unwrap();
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(
        b.segments.segments_of("ws", "m1").await.unwrap(),
        expected,
        "{}",
        b.kind
    );
    assert!(
        b.segments.segments_of("ws", "m2").await.unwrap().is_empty(),
        "{}",
        b.kind
    );
}

contract_tests!(
    ensure_is_idempotent_and_follows_renames,
    memberships_are_versioned_by_time,
    changes_to_one_member_in_one_batch_apply_in_order,
    members_page_with_cursors,
    segments_list_in_pages_per_workspace,
    large_requests_mix_new_returning_and_current_members,
    a_users_segments_are_those_it_is_in,
);
