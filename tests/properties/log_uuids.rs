//! A delivery's event uuids as the SQLite delivery log stores them
//! (`store::uuids`): packed as bytes only when every one reads back as
//! the same text, and then read back exactly; any other list is left to
//! the entry's JSON.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use shared::store::uuids;

/// Uuids as engage-bridge writes them, the same in other spellings, and
/// text that is no uuid.
fn written() -> impl Strategy<Value = String> {
    let uuid = any::<[u8; 16]>().prop_map(uuid::Uuid::from_bytes);
    prop_oneof![
        4 => uuid.clone().prop_map(|u| u.hyphenated().to_string()),
        1 => uuid.clone().prop_map(|u| u.hyphenated().to_string().to_uppercase()),
        1 => (uuid.clone(), 0..36usize).prop_map(|(u, at)| one_letter_upper(&u.hyphenated().to_string(), at)),
        1 => uuid.clone().prop_map(|u| u.simple().to_string()),
        1 => uuid.prop_map(|u| u.braced().to_string()),
        1 => "\\PC{0,40}",
    ]
}

/// `text` with its first letter from `at` on in uppercase (unchanged if
/// none is: then it is still as written).
fn one_letter_upper(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if let Some(letter) = bytes[at..].iter_mut().find(|b| b.is_ascii_lowercase()) {
        letter.make_ascii_uppercase();
    }
    String::from_utf8(bytes).expect("ASCII")
}

fn canonical(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok_and(|u| u.hyphenated().to_string() == text)
}

proptest! {
    #![proptest_config(Config::default())]

    #[test]
    fn uuids_are_packed_only_when_they_read_back_as_written(list in vec(written(), 0..12)) {
        match uuids::pack(&list) {
            Some(packed) => {
                prop_assert_eq!(packed.len(), 16 * list.len());
                prop_assert_eq!(uuids::unpack(&packed).unwrap(), list);
            }
            None => prop_assert!(list.is_empty() || !list.iter().all(|u| canonical(u))),
        }
    }
}
