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

impl ProfileUpdate {
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
    fn anonymous_profiles_carry_their_own_id() {
        let update = ProfileUpdate::new(ProfileKey::AnonymousId("dev-9".into()));
        let profile = update.apply_to("ws", None);
        assert_eq!(profile.uid, None);
        assert_eq!(profile.anonymous_ids, vec!["dev-9"]);
        assert_eq!(update.anonymous_ids().collect::<Vec<_>>(), vec!["dev-9"]);
    }
}
