//! User profiles: what cohort members are matched against and what Streams
//! fill `user_attributes` from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{self, ProfileKey};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub moengage_user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// The values the workspace's anonymous-id attribute has taken, plus the id
    /// a `create` made the profile from (docs/rules/member-matching.md).
    /// Insertion-ordered, no repeats.
    #[serde(default)]
    pub anonymous_ids: Vec<String>,
}

/// One atomic change to one profile, creating it when absent. Adapters merge it
/// into the stored profile in a single write, so concurrent updates of
/// different attributes never lose each other.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileUpdate {
    pub key: ProfileKey,
    pub set_attributes: Map<String, Value>,
    pub remove_attributes: Vec<String>,
    pub add_anonymous_ids: Vec<String>,
}

/// The bytes an attribute value takes, as JSON (counted, not written out:
/// the mapper asks for every attribute it sets).
pub fn attribute_bytes(value: &Value) -> usize {
    /// Counts what is written to it.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    match value {
        Value::String(s) => s.len() + 2,
        other => {
            let mut count = Count(0);
            // Writing a `Value` to a writer that never fails cannot fail.
            let _ = serde_json::to_writer(&mut count, other);
            count.0
        }
    }
}

/// The bytes of a set of attributes: names and JSON values.
pub fn attributes_bytes(attributes: &Map<String, Value>) -> usize {
    attributes
        .iter()
        .map(|(name, value)| name.len() + attribute_bytes(value))
        .sum()
}

impl ProfileUpdate {
    /// The bytes of the attributes this update sets.
    pub fn attribute_bytes(&self) -> usize {
        attributes_bytes(&self.set_attributes)
    }

    /// When `profile` (as this update left it) holds more than `budget`
    /// bytes of attributes: the attributes this update set that must go to
    /// bring it back within the budget, largest first. Attributes it did not
    /// set are never taken away.
    pub fn over_budget(&self, profile: &Profile, budget: usize) -> Vec<String> {
        let mut total = attributes_bytes(&profile.attributes);
        if total <= budget {
            return Vec::new();
        }
        let mut set: Vec<(&String, usize)> = self
            .set_attributes
            .keys()
            .filter_map(|name| {
                let value = profile.attributes.get(name)?;
                Some((name, name.len() + attribute_bytes(value)))
            })
            .collect();
        set.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut remove = Vec::new();
        for (name, bytes) in set {
            if total <= budget {
                break;
            }
            total -= bytes;
            remove.push(name.clone());
        }
        remove
    }

    pub fn new(key: ProfileKey) -> Self {
        Self {
            key,
            set_attributes: Map::new(),
            remove_attributes: Vec::new(),
            add_anonymous_ids: Vec::new(),
        }
    }

    pub fn moengage_user_id(&self, workspace_id: &str) -> String {
        ids::moengage_user_id(workspace_id, &self.key)
    }

    /// The uid a newly created profile gets (none for anonymous profiles).
    pub fn uid(&self) -> Option<&str> {
        match &self.key {
            ProfileKey::Uid(uid) => Some(uid),
            ProfileKey::AnonymousId(_) => None,
        }
    }

    /// Applies this update to `profile` (or to a fresh one) in memory; the
    /// SQLite adapter and the unit tests use it, DynamoDB does the same with
    /// an update expression.
    pub fn apply_to(&self, workspace_id: &str, profile: Option<Profile>) -> Profile {
        let mut profile = profile.unwrap_or_else(|| Profile {
            moengage_user_id: self.moengage_user_id(workspace_id),
            uid: self.uid().map(str::to_owned),
            attributes: Map::new(),
            anonymous_ids: match &self.key {
                ProfileKey::AnonymousId(anon) => vec![anon.clone()],
                ProfileKey::Uid(_) => Vec::new(),
            },
        });
        for name in &self.remove_attributes {
            profile.attributes.remove(name);
        }
        for (name, value) in &self.set_attributes {
            profile.attributes.insert(name.clone(), value.clone());
        }
        for anon in &self.add_anonymous_ids {
            if !profile.anonymous_ids.contains(anon) {
                profile.anonymous_ids.push(anon.clone());
            }
        }
        profile
    }

    /// Whether applying this update to `profile` leaves it as it is: every
    /// attribute it sets already holds that value, none it removes is
    /// there, every anonymous id it adds is known. Stores check this first,
    /// and an update repeating what a profile holds (mParticle sends a
    /// user's attributes with every batch) is neither applied nor encoded
    /// (BENCHMARKS.md "Issue 22, twentieth session"). `false` may be
    /// answered for an update that changes nothing (one that removes and
    /// sets a name); applying it is then the answer.
    pub fn changes_nothing(&self, profile: &Profile) -> bool {
        self.remove_attributes
            .iter()
            .all(|name| !profile.attributes.contains_key(name))
            && self
                .set_attributes
                .iter()
                .all(|(name, value)| profile.attributes.get(name) == Some(value))
            && self
                .add_anonymous_ids
                .iter()
                .all(|anon| profile.anonymous_ids.contains(anon))
    }

    /// Every anonymous id this update makes the profile findable by.
    pub fn anonymous_ids(&self) -> impl Iterator<Item = &String> {
        let own = match &self.key {
            ProfileKey::AnonymousId(anon) => Some(anon),
            ProfileKey::Uid(_) => None,
        };
        own.into_iter().chain(self.add_anonymous_ids.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bytes_are_the_json_lengths() {
        use serde_json::json;
        for value in [
            json!(1),
            json!(-1.5e300),
            json!(true),
            json!(null),
            json!(["a", 2, {"b": [false]}]),
            json!({"k": "v\"é"}),
        ] {
            assert_eq!(attribute_bytes(&value), value.to_string().len(), "{value}");
        }
        assert_eq!(attribute_bytes(&json!("abc")), 5);
    }
    use serde_json::json;

    #[test]
    fn update_creates_then_merges() {
        let mut first = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
        first.set_attributes.insert("city".into(), json!("Pune"));
        first.set_attributes.insert("age".into(), json!(30));
        first.add_anonymous_ids.push("anon-1".into());
        let created = first.apply_to("ws", None);
        assert_eq!(created.uid.as_deref(), Some("u1"));
        assert_eq!(created.anonymous_ids, vec!["anon-1"]);

        let mut second = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
        second.remove_attributes.push("age".into());
        second.set_attributes.insert("plan".into(), json!("gold"));
        second.add_anonymous_ids.push("anon-1".into());
        second.add_anonymous_ids.push("anon-2".into());
        let merged = second.apply_to("ws", Some(created.clone()));
        assert_eq!(merged.moengage_user_id, created.moengage_user_id);
        assert_eq!(
            Value::Object(merged.attributes),
            json!({"city": "Pune", "plan": "gold"})
        );
        assert_eq!(merged.anonymous_ids, vec!["anon-1", "anon-2"]);
    }

    #[test]
    fn over_budget_takes_back_only_what_the_update_set() {
        let mut update = ProfileUpdate::new(ProfileKey::Uid("u".into()));
        update
            .set_attributes
            .insert("big".into(), json!("x".repeat(100)));
        update.set_attributes.insert("small".into(), json!("y"));
        let mut profile = update.apply_to("ws", None);
        profile
            .attributes
            .insert("old".into(), json!("z".repeat(50)));
        let total = attributes_bytes(&profile.attributes);
        assert_eq!(update.over_budget(&profile, total), Vec::<String>::new());
        // Removing the largest of the update's attributes is enough.
        assert_eq!(update.over_budget(&profile, total - 1), vec!["big"]);
        // Never the attributes it did not set, even if still over.
        assert_eq!(update.over_budget(&profile, 10), vec!["big", "small"]);
    }

    #[test]
    fn an_update_that_changes_nothing_is_told_apart() {
        let mut update = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
        update.set_attributes.insert("city".into(), json!("Pune"));
        update.set_attributes.insert("age".into(), json!(30));
        update.remove_attributes.push("gone".into());
        update.add_anonymous_ids.push("anon-1".into());
        let profile = update.apply_to("ws", None);
        assert!(update.changes_nothing(&profile));
        assert_eq!(update.apply_to("ws", Some(profile.clone())), profile);
        // Each way an update can change a profile is seen.
        let changed = |edit: fn(&mut Profile)| {
            let mut other = profile.clone();
            edit(&mut other);
            assert!(!update.changes_nothing(&other), "{other:?}");
            assert_ne!(update.apply_to("ws", Some(other.clone())), other);
        };
        changed(|p| {
            p.attributes.insert("age".into(), json!(31));
        });
        changed(|p| {
            p.attributes.insert("age".into(), json!("30"));
        });
        changed(|p| {
            p.attributes.remove("city");
        });
        changed(|p| {
            p.attributes.insert("gone".into(), json!(null));
        });
        changed(|p| p.anonymous_ids.clear());
        // Removing and setting one name is applied, whatever it holds.
        let mut both = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
        both.remove_attributes.push("city".into());
        both.set_attributes.insert("city".into(), json!("Pune"));
        assert!(!both.changes_nothing(&profile));
        assert_eq!(both.apply_to("ws", Some(profile.clone())), profile);
    }

    #[test]
    fn anonymous_profiles_carry_their_own_id() {
        let update = ProfileUpdate::new(ProfileKey::AnonymousId("dev-9".into()));
        let profile = update.apply_to("ws", None);
        assert_eq!(profile.uid, None);
        assert_eq!(profile.anonymous_ids, vec!["dev-9"]);
        assert_eq!(update.anonymous_ids().collect::<Vec<_>>(), vec!["dev-9"]);
    }
}
