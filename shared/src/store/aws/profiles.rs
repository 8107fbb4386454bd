//! Profiles: one item per profile; user attributes are top-level attributes
//! named `a:<name>` so an update sets and removes exactly the attributes it
//! names in one atomic UpdateItem, without reading the profile first.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::batch::{Item, Projection, Transacted, batch_get, batch_write, get_s, key, s, transact};
use super::errors::Service;
use super::rounds::Rounds;
use super::{DynamoStore, keys, sdk_error};
use crate::domain::{Profile, ProfileKey, ProfileUpdate};
use crate::ports::{ProfileStore, StoreError, StoreResult};

const ATTR_PREFIX: &str = "a:";
/// Profiles updated concurrently per call (distinct profiles only).
const UPDATE_CONCURRENCY: usize = 16;
/// `ensure_profiles`: items per TransactWriteItems (its limit), and
/// transactions in flight.
const ITEMS_PER_TRANSACTION: usize = 100;
const TRANSACTION_CONCURRENCY: usize = 4;

fn profile_from_item(item: Item) -> StoreResult<Profile> {
    let moengage_user_id =
        get_s(&item, "mid").ok_or_else(|| StoreError::corrupt("profile item without mid"))?;
    let uid = get_s(&item, "uid");
    let mut anonymous_ids = match item.get("anonymous_ids") {
        Some(AttributeValue::Ss(ids)) => ids.clone(),
        _ => Vec::new(),
    };
    anonymous_ids.sort();
    let mut attributes = Map::new();
    for (name, value) in item {
        if let Some(attr) = name.strip_prefix(ATTR_PREFIX) {
            let value: Value = serde_dynamo::from_attribute_value(value)
                .map_err(|e| StoreError::corrupt_from(format!("attribute {attr}"), e))?;
            attributes.insert(attr.to_owned(), value);
        }
    }
    Ok(Profile {
        moengage_user_id,
        uid,
        attributes,
        anonymous_ids,
    })
}

/// The anonymous-id index item pointing `anon` at profile `id`.
fn anonymous_index_item(workspace: &str, anon: &str, id: &str) -> Item {
    let mut item = key(keys::anonymous(workspace, anon), keys::ANON_SK);
    item.insert("anonymous_id".into(), s(anon));
    item.insert("mid".into(), s(id));
    item
}

/// That item as a BatchWriteItem request.
fn anonymous_index_put(workspace: &str, anon: &str, id: &str) -> StoreResult<WriteRequest> {
    let put = PutRequest::builder()
        .set_item(Some(anonymous_index_item(workspace, anon, id)))
        .build()
        .map_err(super::invalid_request)?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// Attributes named per UpdateItem: ~15 bytes of expression each keeps an
/// expression well under DynamoDB's 4 KB.
const ATTRIBUTES_PER_UPDATE: usize = 100;

/// Splits an update into parts of at most [`ATTRIBUTES_PER_UPDATE`]
/// attributes; removals first, anonymous ids with the first part.
fn split_update(update: &ProfileUpdate) -> Vec<ProfileUpdate> {
    let removes = update
        .remove_attributes
        .iter()
        .filter(|n| !update.set_attributes.contains_key(*n))
        .map(|n| (n.clone(), None));
    let sets = update
        .set_attributes
        .iter()
        .map(|(n, v)| (n.clone(), Some(v.clone())));
    let named: Vec<(String, Option<serde_json::Value>)> = removes.chain(sets).collect();
    let mut parts: Vec<ProfileUpdate> = named
        .chunks(ATTRIBUTES_PER_UPDATE)
        .map(|chunk| {
            let mut part = ProfileUpdate::new(update.key.clone());
            for (name, value) in chunk {
                match value {
                    Some(v) => {
                        part.set_attributes.insert(name.clone(), v.clone());
                    }
                    None => part.remove_attributes.push(name.clone()),
                }
            }
            part
        })
        .collect();
    if parts.is_empty() {
        parts.push(ProfileUpdate::new(update.key.clone()));
    }
    parts[0].add_anonymous_ids = update.add_anonymous_ids.clone();
    parts
}

/// Folds several updates of the same profile into one, in order.
fn merge(into: &mut ProfileUpdate, next: &ProfileUpdate) {
    for name in &next.remove_attributes {
        into.set_attributes.remove(name);
        if !into.remove_attributes.contains(name) {
            into.remove_attributes.push(name.clone());
        }
    }
    for (name, value) in &next.set_attributes {
        into.remove_attributes.retain(|n| n != name);
        into.set_attributes.insert(name.clone(), value.clone());
    }
    into.add_anonymous_ids
        .extend(next.add_anonymous_ids.iter().cloned());
}

impl DynamoStore {
    /// Applies one profile's update; an update naming many attributes is
    /// split over several UpdateItem calls (an expression is at most 4 KB).
    async fn update_one(&self, workspace: &str, update: &ProfileUpdate) -> StoreResult<Profile> {
        let parts = split_update(update);
        let mut profile = None;
        for part in &parts {
            profile = Some(self.update_item(workspace, part).await?);
        }
        profile.ok_or_else(|| StoreError::Invalid("a profile update without parts".into()))
    }

    async fn update_item(&self, workspace: &str, update: &ProfileUpdate) -> StoreResult<Profile> {
        let id = update.moengage_user_id(workspace);
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = vec!["mid = if_not_exists(mid, :mid)".to_owned()];
        values.insert(":mid".to_owned(), s(&id));
        if let Some(uid) = update.uid() {
            sets.push("#uid = if_not_exists(#uid, :uid)".into());
            names.insert("#uid".to_owned(), "uid".to_owned());
            values.insert(":uid".to_owned(), s(uid));
        }
        for (i, (name, value)) in update.set_attributes.iter().enumerate() {
            names.insert(format!("#s{i}"), format!("{ATTR_PREFIX}{name}"));
            let value = serde_dynamo::to_attribute_value(value)
                .map_err(|e| StoreError::Invalid(format!("attribute {name}: {e}")))?;
            values.insert(format!(":s{i}"), value);
            sets.push(format!("#s{i} = :s{i}"));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        let removes: Vec<String> = update
            .remove_attributes
            .iter()
            .filter(|n| !update.set_attributes.contains_key(*n))
            .enumerate()
            .map(|(i, name)| {
                names.insert(format!("#r{i}"), format!("{ATTR_PREFIX}{name}"));
                format!("#r{i}")
            })
            .collect();
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let anonymous: BTreeSet<String> = update.anonymous_ids().cloned().collect();
        if !anonymous.is_empty() {
            expression.push_str(" ADD anonymous_ids :anon");
            values.insert(
                ":anon".to_owned(),
                AttributeValue::Ss(anonymous.into_iter().collect()),
            );
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::profile(workspace, &id)))
            .key("sk", s(keys::PROFILE_SK))
            .update_expression(expression)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        profile_from_item(out.attributes.unwrap_or_default())
    }
}

/// One key's writes in a creation transaction: its profile's, on the
/// condition that the profile is absent (dropped once it turns out to
/// exist), then for an anonymous id its index item, which is written
/// either way (as `update_profiles` writes it).
struct Creation<'a> {
    key: &'a ProfileKey,
    profile: Option<TransactWriteItem>,
    index: Option<TransactWriteItem>,
}

impl Creation<'_> {
    fn writes(&self) -> impl Iterator<Item = &TransactWriteItem> {
        self.profile.iter().chain(&self.index)
    }

    fn len(&self) -> usize {
        self.writes().count()
    }
}

impl DynamoStore {
    /// The writes that create `key`'s profile if it is absent.
    fn creation<'a>(&self, workspace: &str, key: &'a ProfileKey) -> StoreResult<Creation<'a>> {
        let id = crate::domain::ids::moengage_user_id(workspace, key);
        let update = Update::builder()
            .table_name(&self.state_table)
            .key("pk", s(keys::profile(workspace, &id)))
            .key("sk", s(keys::PROFILE_SK))
            .condition_expression("attribute_not_exists(pk)")
            .expression_attribute_values(":mid", s(&id));
        // The item `update_one` makes for an attribute-less update.
        let (update, index) = match key {
            ProfileKey::Uid(uid) => (
                update
                    .update_expression("SET mid = :mid, #uid = :uid")
                    .expression_attribute_names("#uid", "uid")
                    .expression_attribute_values(":uid", s(uid)),
                None,
            ),
            ProfileKey::AnonymousId(anon) => {
                let put = Put::builder()
                    .table_name(&self.state_table)
                    .set_item(Some(anonymous_index_item(workspace, anon, &id)))
                    .build()
                    .map_err(super::invalid_request)?;
                (
                    update
                        .update_expression("SET mid = :mid ADD anonymous_ids :anon")
                        .expression_attribute_values(
                            ":anon",
                            AttributeValue::Ss(vec![anon.clone()]),
                        ),
                    Some(TransactWriteItem::builder().put(put).build()),
                )
            }
        };
        let profile = TransactWriteItem::builder()
            .update(update.build().map_err(super::invalid_request)?)
            .build();
        Ok(Creation {
            key,
            profile: Some(profile),
            index,
        })
    }

    /// One TransactWriteItems of ≤ 100 items. A profile whose condition
    /// failed exists: its write is dropped and the rest sent again, as on a
    /// conflict with a concurrent writer. Returns the keys created.
    async fn create_chunk(&self, mut chunk: Vec<Creation<'_>>) -> StoreResult<Vec<ProfileKey>> {
        let mut rounds = Rounds::contended(Service::DynamoDb, "TransactWriteItems");
        loop {
            let writes: Vec<TransactWriteItem> =
                chunk.iter().flat_map(Creation::writes).cloned().collect();
            if writes.is_empty() {
                return Ok(Vec::new());
            }
            let cancelled = match transact(&self.client, writes).await? {
                Transacted::Done => {
                    return Ok(chunk
                        .iter()
                        .filter(|c| c.profile.is_some())
                        .map(|c| c.key.clone())
                        .collect());
                }
                Transacted::Cancelled(cancelled) => cancelled,
            };
            // Only profile writes carry a condition: those that failed exist.
            let mut position = 0;
            let mut existing = 0;
            for creation in &mut chunk {
                let len = creation.len();
                if creation.profile.is_some() && cancelled.conditions_failed.contains(&position) {
                    creation.profile = None;
                    existing += 1;
                }
                position += len;
            }
            // Nothing found to exist: a conflict with a concurrent writer.
            if existing == 0 {
                let why = "profile creation cancelled";
                let id = cancelled.request_id.as_deref();
                rounds.again(chunk.len(), id, why).await?;
            }
        }
    }
}

#[async_trait]
impl ProfileStore for DynamoStore {
    async fn get_profiles(&self, workspace: &str, ids: &[String]) -> StoreResult<Vec<Profile>> {
        let keys = ids
            .iter()
            .map(|id| key(keys::profile(workspace, id), keys::PROFILE_SK))
            .collect();
        batch_get(&self.client, &self.state_table, keys, None)
            .await?
            .into_iter()
            .map(profile_from_item)
            .collect()
    }

    async fn find_by_uids(
        &self,
        workspace: &str,
        uids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        // A uid's profile id is derived from the uid: read those items directly.
        let keys = uids
            .iter()
            .map(|uid| {
                let id =
                    crate::domain::ids::moengage_user_id(workspace, &ProfileKey::Uid(uid.clone()));
                key(keys::profile(workspace, &id), keys::PROFILE_SK)
            })
            .collect();
        let projection = Projection {
            expression: "mid, #u",
            names: &[("#u", "uid")],
        };
        let items = batch_get(&self.client, &self.state_table, keys, Some(projection)).await?;
        Ok(items
            .iter()
            .filter_map(|item| Some((get_s(item, "uid")?, get_s(item, "mid")?)))
            .collect())
    }

    async fn find_by_anonymous_ids(
        &self,
        workspace: &str,
        anonymous_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let keys = anonymous_ids
            .iter()
            .map(|anon| key(keys::anonymous(workspace, anon), keys::ANON_SK))
            .collect();
        Ok(batch_get(&self.client, &self.state_table, keys, None)
            .await?
            .iter()
            .filter_map(|item| Some((get_s(item, "anonymous_id")?, get_s(item, "mid")?)))
            .collect())
    }

    async fn update_profiles(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
    ) -> StoreResult<Vec<Profile>> {
        // One UpdateItem per distinct profile, run concurrently.
        let mut merged: Vec<ProfileUpdate> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(updates.len());
        for update in updates {
            let id = update.moengage_user_id(workspace);
            let slot = *slot_of.entry(id).or_insert_with(|| {
                merged.push(ProfileUpdate::new(update.key.clone()));
                merged.len() - 1
            });
            merge(&mut merged[slot], update);
            slots.push(slot);
        }
        // Futures built up front: a closure in `map` trips async_trait's
        // higher-ranked Send check.
        let calls: Vec<_> = merged
            .iter()
            .map(|u| self.update_one(workspace, u))
            .collect();
        let profiles: Vec<Profile> = futures::stream::iter(calls)
            .buffered(UPDATE_CONCURRENCY)
            .try_collect()
            .await?;
        // The anonymous-id index, batched.
        let index: Vec<WriteRequest> = merged
            .iter()
            .zip(&profiles)
            .flat_map(|(update, profile)| {
                update.anonymous_ids().map(move |anon| {
                    anonymous_index_put(workspace, anon, &profile.moengage_user_id)
                })
            })
            .collect::<StoreResult<_>>()?;
        if !index.is_empty() {
            batch_write(&self.client, &self.state_table, index).await?;
        }
        Ok(slots
            .into_iter()
            .map(|slot| profiles[slot].clone())
            .collect())
    }

    async fn ensure_profiles(
        &self,
        workspace: &str,
        keys: &[ProfileKey],
    ) -> StoreResult<HashSet<ProfileKey>> {
        // A transaction may not name an item twice.
        let mut seen = HashSet::new();
        let keys: Vec<&ProfileKey> = keys.iter().filter(|k| seen.insert(*k)).collect();
        // Each key's writes (one or two items) in one transaction, ≤ 100
        // items a transaction.
        let mut transactions: Vec<Vec<Creation>> = Vec::new();
        for key in keys {
            let creation = self.creation(workspace, key)?;
            match transactions.last_mut() {
                Some(last)
                    if last.iter().map(Creation::len).sum::<usize>() + creation.len()
                        <= ITEMS_PER_TRANSACTION =>
                {
                    last.push(creation)
                }
                _ => transactions.push(vec![creation]),
            }
        }
        let calls: Vec<_> = transactions
            .into_iter()
            .map(|chunk| self.create_chunk(chunk))
            .collect();
        let created: Vec<Vec<ProfileKey>> = futures::stream::iter(calls)
            .buffer_unordered(TRANSACTION_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(created.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_updates_split_into_bounded_parts() {
        let mut update = ProfileUpdate::new(ProfileKey::Uid("u".into()));
        for i in 0..350 {
            update
                .set_attributes
                .insert(format!("a{i}"), Value::from(i));
        }
        update.remove_attributes = (0..10).map(|i| format!("r{i}")).collect();
        update.remove_attributes.push("a0".into()); // set wins over remove
        update.add_anonymous_ids.push("anon".into());
        let parts = split_update(&update);
        assert_eq!(parts.len(), 4);
        assert!(
            parts.iter().all(
                |p| p.set_attributes.len() + p.remove_attributes.len() <= ATTRIBUTES_PER_UPDATE
            )
        );
        assert_eq!(parts[0].remove_attributes.len(), 10, "removals go first");
        assert_eq!(
            parts.iter().map(|p| p.set_attributes.len()).sum::<usize>(),
            350
        );
        assert_eq!(parts[0].add_anonymous_ids, vec!["anon"]);
        assert!(parts[1..].iter().all(|p| p.add_anonymous_ids.is_empty()));
        assert_eq!(
            split_update(&ProfileUpdate::new(ProfileKey::Uid("u".into()))).len(),
            1
        );
    }
}
