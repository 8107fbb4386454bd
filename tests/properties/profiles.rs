//! A profile update that changes nothing is not applied by the SQLite
//! store (store/sqlite/profiles.rs): `ProfileUpdate::changes_nothing` must
//! answer `true` only where applying the update gives the profile back,
//! byte for byte as it is stored.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use shared::domain::{Profile, ProfileKey, ProfileUpdate};

/// Few names and values, so that updates meet what profiles hold; values
/// that are equal as numbers but not as JSON (`1`, `1.0`) among them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("é")].prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1)),
        Just(json!(1.0)),
        Just(json!("1")),
        Just(json!(null)),
        Just(json!(["x"])),
        Just(json!({"k": 1})),
    ]
}

fn attributes() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(name(), value(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn anonymous_ids() -> impl Strategy<Value = Vec<String>> {
    vec(
        prop_oneof![Just("d1"), Just("d2")].prop_map(str::to_owned),
        0..3,
    )
}

fn profile() -> impl Strategy<Value = Profile> {
    (attributes(), anonymous_ids()).prop_map(|(attributes, mut anonymous_ids)| {
        anonymous_ids.dedup();
        Profile {
            moengage_user_id: "m-1".into(),
            uid: Some("u1".into()),
            attributes,
            anonymous_ids,
        }
    })
}

fn update() -> impl Strategy<Value = ProfileUpdate> {
    (attributes(), vec(name(), 0..3), anonymous_ids()).prop_map(|(set, remove, anon)| {
        let mut update = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
        update.set_attributes = set;
        update.remove_attributes = remove;
        update.add_anonymous_ids = anon;
        update
    })
}

proptest! {
    #![proptest_config(Config::default())]

    #[test]
    fn an_update_said_to_change_nothing_gives_the_profile_back(
        profile in profile(),
        update in update(),
    ) {
        let applied = update.apply_to("ws", Some(profile.clone()));
        if update.changes_nothing(&profile) {
            prop_assert_eq!(&applied, &profile);
            prop_assert_eq!(
                serde_json::to_string(&applied).unwrap(),
                serde_json::to_string(&profile).unwrap()
            );
        } else if update.remove_attributes.iter().all(|n| !update.set_attributes.contains_key(n)) {
            // Said to change something, it does (unless it removes and
            // sets one name, which is applied whatever it holds).
            prop_assert_ne!(applied, profile);
        }
    }
}
