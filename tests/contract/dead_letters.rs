//! The dead-letter store: kept in order, listed by plain reads (a listing
//! hides nothing, even from a concurrent one), removed by id.

use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::{DeadLetter, DeadMessage, PageRequest};
use shared::topology::QueueName;

fn letter(i: usize) -> DeadLetter {
    DeadLetter::Message(DeadMessage {
        queue: QueueName::Cohort,
        body: format!("{{\"n\":{i}}}"),
        reason: format!("reason {i}"),
        receive_count: 10,
    })
}

async fn all(b: &Backend, limit: usize) -> Vec<(String, DeadLetter)> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    loop {
        let found = b.dead_letters.list_dead_letters(&page).await.unwrap();
        out.extend(found.items.into_iter().map(|k| (k.id, k.letter)));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return out,
        }
    }
}

async fn dead_letters_are_kept_in_order_and_paged(b: &Backend) {
    let letters: Vec<DeadLetter> = (0..7).map(letter).collect();
    let mut given = b
        .dead_letters
        .put_dead_letters(&letters[..4])
        .await
        .unwrap();
    given.extend(
        b.dead_letters
            .put_dead_letters(&letters[4..])
            .await
            .unwrap(),
    );
    let listed = all(b, 3).await;
    let kept: Vec<DeadLetter> = listed.iter().map(|(_, l)| l.clone()).collect();
    assert_eq!(kept, letters, "{}", b.kind);
    let ids: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, given, "listed under the ids put returned");
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 7, "distinct ids: {ids:?}");
}

async fn listing_hides_nothing_from_a_concurrent_listing(b: &Backend) {
    let letters: Vec<DeadLetter> = (0..25).map(letter).collect();
    b.dead_letters.put_dead_letters(&letters).await.unwrap();
    let (first, second) = tokio::join!(all(b, 4), all(b, 7));
    let letters_of = |listed: Vec<(String, DeadLetter)>| -> Vec<DeadLetter> {
        listed.into_iter().map(|(_, l)| l).collect()
    };
    assert_eq!(letters_of(first), letters, "{}", b.kind);
    assert_eq!(letters_of(second), letters, "{}", b.kind);
    // And listing again still sees them all.
    assert_eq!(letters_of(all(b, 100).await), letters);
}

async fn removed_by_id(b: &Backend) {
    b.dead_letters
        .put_dead_letters(&[letter(0), letter(1), letter(2)])
        .await
        .unwrap();
    let listed = all(b, 10).await;
    let remove = vec![listed[1].0.clone(), "no-such-id".to_owned()];
    b.dead_letters.remove_dead_letters(&remove).await.unwrap();
    let left: Vec<DeadLetter> = all(b, 10).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(left, vec![letter(0), letter(2)], "{}", b.kind);
}

contract_tests!(
    dead_letters_are_kept_in_order_and_paged,
    listing_hides_nothing_from_a_concurrent_listing,
    removed_by_id,
);
