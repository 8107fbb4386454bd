//! Splitting a sequence of encoded items into requests or messages bounded by
//! count and by bytes. Every size-limited envelope uses it: events-queue
//! messages, staged cohort messages, SQS send calls, webhook and Amplitude
//! requests (docs/architecture.md "Limits").

use std::ops::Range;

/// The bounds of one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_items: usize,
    pub max_bytes: usize,
    /// Bytes every group costs before its first item (the envelope).
    pub overhead: usize,
    /// Bytes between two items (e.g. 1 for a JSON array's comma).
    pub separator: usize,
}

impl Limits {
    /// Whether one item of `size` bytes fits a group on its own.
    pub fn fits(&self, size: usize) -> bool {
        self.overhead + size <= self.max_bytes
    }
}

/// Consecutive groups covering every item once, in order, each within
/// `limits`. An item that does not fit even alone gets a group of its own:
/// callers that cannot send it check [`Limits::fits`] first.
pub fn group_by_size(sizes: impl IntoIterator<Item = usize>, limits: Limits) -> Vec<Range<usize>> {
    let max_items = limits.max_items.max(1);
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, limits.overhead);
    let mut end = 0;
    for (i, size) in sizes.into_iter().enumerate() {
        let count = i - start;
        let added = size + if count > 0 { limits.separator } else { 0 };
        if count > 0 && (count == max_items || bytes + added > limits.max_bytes) {
            groups.push(start..i);
            (start, bytes) = (i, limits.overhead + size);
        } else {
            bytes += added;
        }
        end = i + 1;
    }
    if start < end {
        groups.push(start..end);
    }
    groups
}

/// `head`, the already-encoded JSON `items` separated by commas, `tail`:
/// a JSON document around an array, built without encoding anything again.
pub fn join_json<'a, I>(head: &str, items: I, tail: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let items = items.into_iter();
    // Sized once: a document of ~100 events is tens of KiB, built by
    // doubling it would be copied again several times.
    let length = head.len() + tail.len() + items.clone().map(|item| item.len() + 1).sum::<usize>();
    let mut out = String::with_capacity(length);
    out.push_str(head);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str(tail);
    out
}

/// Packs encoded items into documents `head` + array items + `tail` of at
/// most `max_items` items and `max_bytes` bytes each ([`group_by_size`]).
pub fn pack_json<S: AsRef<str>>(
    head: &str,
    tail: &str,
    items: &[S],
    max_items: usize,
    max_bytes: usize,
) -> Vec<String> {
    let limits = Limits {
        max_items,
        max_bytes,
        overhead: head.len() + tail.len(),
        separator: 1,
    };
    group_by_size(items.iter().map(|item| item.as_ref().len()), limits)
        .into_iter()
        .map(|group| join_json(head, items[group].iter().map(AsRef::as_ref), tail))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_items: 3,
        max_bytes: 20,
        overhead: 2,
        separator: 1,
    };

    #[test]
    fn groups_by_count_then_by_bytes() {
        assert_eq!(group_by_size([1; 7], LIMITS), vec![0..3, 3..6, 6..7]);
        // 2 + 8 + 1 + 8 = 19 fits; a third 8-byte item would make 28.
        assert_eq!(group_by_size([8, 8, 8], LIMITS), vec![0..2, 2..3]);
        assert!(group_by_size([], LIMITS).is_empty());
    }

    #[test]
    fn packs_json_documents_within_the_limits() {
        let items: Vec<String> = (0..5).map(|i| format!("{{\"i\":{i}}}")).collect();
        let bodies = pack_json("{\"xs\":[", "]}", &items, 2, 1000);
        assert_eq!(
            bodies,
            [
                r#"{"xs":[{"i":0},{"i":1}]}"#,
                r#"{"xs":[{"i":2},{"i":3}]}"#,
                r#"{"xs":[{"i":4}]}"#
            ]
        );
        for body in &bodies {
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn an_oversized_item_stands_alone() {
        assert_eq!(group_by_size([1, 50, 1], LIMITS), vec![0..1, 1..2, 2..3]);
        assert!(!LIMITS.fits(50));
        assert!(LIMITS.fits(18));
    }
}
