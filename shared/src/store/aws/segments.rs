//! Segments and versioned memberships. A membership change is written with a
//! condition on the version it was computed from (TransactWriteItems, 50
//! members = 100 items per call: the membership and its reverse item on the
//! profile's partition); a lost race re-reads and recomputes that chunk.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};

use super::batch::{Item, batch_get, get_bool, get_n, get_s, key, n, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::{
    Member, MembershipAction, MembershipChange, MembershipOutcome, MembershipVersion, Page,
    PageRequest, Segment, SegmentSource,
};
use crate::ports::{SegmentStore, StoreError, StoreResult};

/// Members per transaction: two items each, 100 items max per call.
const MEMBERS_PER_TRANSACTION: usize = 50;
/// Members whose versions one BatchGetItem reads (≤ 100 keys): those of two
/// transactions.
const MEMBERS_PER_READ: usize = 2 * MEMBERS_PER_TRANSACTION;
const CHUNK_CONCURRENCY: usize = 8;
const MAX_CONFLICT_ROUNDS: usize = 8;

fn segment_from_item(item: &Item) -> StoreResult<Segment> {
    let field = |name: &str| {
        get_s(item, name).ok_or_else(|| StoreError::corrupt(format!("segment without {name}")))
    };
    let source = field("source")?;
    Ok(Segment {
        id: field("sk")?,
        name: field("name")?,
        source: SegmentSource::from_name(&source)
            .ok_or_else(|| StoreError::corrupt(format!("unknown segment source {source:?}")))?,
        cohort_id: field("cohort_id")?,
        member_count: get_n(item, "member_count").unwrap_or(0),
        sync_count: get_n(item, "sync_count").unwrap_or(0),
        last_synced_at: get_s(item, "last_synced_at"),
    })
}

fn version_from_item(item: &Item) -> Option<MembershipVersion> {
    Some(MembershipVersion {
        in_segment: get_bool(item, "in_segment")?,
        computed_time: get_n(item, "computed_time")?,
    })
}

/// One member's changes in input order, with their input positions.
struct MemberChanges<'a> {
    id: &'a str,
    changes: Vec<(usize, &'a MembershipChange)>,
}

/// What to write for one member after replaying its changes over `current`.
struct Outcome<'a> {
    id: &'a str,
    current: Option<MembershipVersion>,
    last: &'a MembershipChange,
    applied: Vec<usize>,
    delta: i64,
}

/// Replays a member's changes over `current`: the write to make (if any
/// change applies) and the positions of changes already current.
fn replay<'a>(
    member: &MemberChanges<'a>,
    current: Option<MembershipVersion>,
) -> (Option<Outcome<'a>>, Vec<usize>) {
    let mut state = current;
    let mut applied = Vec::new();
    let mut already_current = Vec::new();
    let mut delta = 0;
    let mut last = None;
    for (index, change) in &member.changes {
        if change.supersedes(state) {
            delta += change.member_delta(state);
            state = Some(MembershipVersion {
                in_segment: change.action == MembershipAction::Added,
                computed_time: change.computed_time,
            });
            applied.push(*index);
            last = Some(*change);
        } else if change.is_current(state) {
            already_current.push(*index);
        }
    }
    let outcome = last.map(|last| Outcome {
        id: member.id,
        current,
        last,
        applied,
        delta,
    });
    (outcome, already_current)
}

/// Positions applied and already current in one chunk, and its count delta.
#[derive(Default)]
struct ChunkResult {
    applied: Vec<usize>,
    already_current: Vec<usize>,
    delta: i64,
}

impl DynamoStore {
    fn put(
        &self,
        item: Item,
        condition: Option<(String, Option<i64>)>,
    ) -> StoreResult<TransactWriteItem> {
        let mut put = Put::builder()
            .table_name(&self.state_table)
            .set_item(Some(item));
        if let Some((expression, version)) = condition {
            put = put.condition_expression(expression);
            if let Some(t) = version {
                put = put.expression_attribute_values(":t", n(t));
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(StoreError::backend)?)
            .build())
    }

    /// The stored versions of these members (absent: never a member).
    async fn read_versions(
        &self,
        partition: &str,
        members: &[MemberChanges<'_>],
    ) -> StoreResult<HashMap<String, MembershipVersion>> {
        let read_keys = members
            .iter()
            .map(|m| key(partition.to_owned(), &keys::member_sk(m.id)))
            .collect();
        Ok(batch_get(&self.client, &self.state_table, read_keys, None)
            .await?
            .iter()
            .filter_map(|item| Some((get_s(item, "mid")?, version_from_item(item)?)))
            .collect())
    }

    /// Applies a group of members: one read of their versions, then one
    /// transaction per chunk.
    async fn apply_group(
        &self,
        workspace: &str,
        segment_id: &str,
        group: &[MemberChanges<'_>],
    ) -> StoreResult<Vec<ChunkResult>> {
        let read = self
            .read_versions(&keys::members(workspace, segment_id), group)
            .await?;
        let chunks = group
            .chunks(MEMBERS_PER_TRANSACTION)
            .map(|chunk| self.apply_chunk(workspace, segment_id, chunk, &read));
        futures::future::try_join_all(chunks).await
    }

    /// Applies one chunk of members over the versions `read` before; returns
    /// applied input positions and the member_count delta.
    async fn apply_chunk(
        &self,
        workspace: &str,
        segment_id: &str,
        chunk: &[MemberChanges<'_>],
        read: &HashMap<String, MembershipVersion>,
    ) -> StoreResult<ChunkResult> {
        let partition = keys::members(workspace, segment_id);
        let mut reread = None;
        for _ in 0..MAX_CONFLICT_ROUNDS {
            let current = reread.as_ref().unwrap_or(read);
            let mut outcomes: Vec<Outcome> = Vec::new();
            let mut already_current = Vec::new();
            for member in chunk {
                let (outcome, already) = replay(member, current.get(member.id).copied());
                outcomes.extend(outcome);
                already_current.extend(already);
            }
            if outcomes.is_empty() {
                return Ok(ChunkResult {
                    already_current,
                    ..ChunkResult::default()
                });
            }
            let mut writes = Vec::with_capacity(outcomes.len() * 2);
            for o in &outcomes {
                let in_segment = o.last.action == MembershipAction::Added;
                let mut forward = key(partition.clone(), &keys::member_sk(o.id));
                forward.insert("mid".into(), s(o.id));
                if let Some(uid) = &o.last.member.uid {
                    forward.insert("uid".into(), s(uid));
                }
                if let Some(anon) = &o.last.member.moe_anonymous_id {
                    forward.insert("anonymous_id".into(), s(anon));
                }
                forward.insert("in_segment".into(), AttributeValue::Bool(in_segment));
                forward.insert("computed_time".into(), n(o.last.computed_time));
                // Written only over the version this outcome was computed from.
                let condition = match o.current {
                    None => ("attribute_not_exists(pk)".to_owned(), None),
                    Some(v) => ("computed_time = :t".to_owned(), Some(v.computed_time)),
                };
                writes.push(self.put(forward, Some(condition))?);
                let mut reverse = key(
                    keys::profile(workspace, o.id),
                    &keys::profile_segment_sk(segment_id),
                );
                reverse.insert("in_segment".into(), AttributeValue::Bool(in_segment));
                reverse.insert("computed_time".into(), n(o.last.computed_time));
                writes.push(self.put(reverse, None)?);
            }
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes))
                .send()
                .await
            {
                Ok(_) => {
                    return Ok(ChunkResult {
                        applied: outcomes
                            .iter()
                            .flat_map(|o| o.applied.iter().copied())
                            .collect(),
                        already_current,
                        delta: outcomes.iter().map(|o| o.delta).sum(),
                    });
                }
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    ) =>
                {
                    // Another writer changed a member since our read: recompute.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    reread = Some(self.read_versions(&partition, chunk).await?);
                    continue;
                }
                Err(e) => return Err(sdk_error(e)),
            }
        }
        Err(StoreError::Backend(
            "membership writes kept conflicting with concurrent writers".into(),
        ))
    }

    pub(super) async fn query_page(
        &self,
        partition: String,
        after_sk: Option<String>,
        limit: usize,
        filter_in_segment: bool,
    ) -> StoreResult<(Vec<Item>, bool)> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.state_table)
                .expression_attribute_values(":pk", s(&partition))
                .limit((limit + 1 - items.len()).max(1) as i32)
                .set_exclusive_start_key(start.take());
            // DynamoDB rejects empty strings in key conditions: the first page
            // has no lower bound.
            query = match &after_sk {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(after)),
                None => query.key_condition_expression("pk = :pk"),
            };
            if filter_in_segment {
                query = query
                    .filter_expression("in_segment = :yes")
                    .expression_attribute_values(":yes", AttributeValue::Bool(true));
            }
            let out = query.send().await.map_err(sdk_error)?;
            items.extend(out.items.unwrap_or_default());
            if items.len() > limit {
                items.truncate(limit);
                return Ok((items, true));
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok((items, false)),
            }
        }
    }
}

#[async_trait]
impl SegmentStore for DynamoStore {
    async fn ensure_segment(&self, workspace: &str, segment: &Segment) -> StoreResult<Segment> {
        let out = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::segments(workspace)))
            .key("sk", s(&segment.id))
            .update_expression(
                "SET #name = :name, segment_type = if_not_exists(segment_type, :type), \
                 #source = if_not_exists(#source, :source), cohort_id = if_not_exists(cohort_id, :cohort), \
                 member_count = if_not_exists(member_count, :zero), sync_count = if_not_exists(sync_count, :zero)",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#source", "source")
            .expression_attribute_values(":name", s(&segment.name))
            .expression_attribute_values(":type", s(segment.source.segment_type()))
            .expression_attribute_values(":source", s(segment.source.name()))
            .expression_attribute_values(":cohort", s(&segment.cohort_id))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        segment_from_item(&out.attributes.unwrap_or_default())
    }

    async fn get_segment(&self, workspace: &str, id: &str) -> StoreResult<Option<Segment>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::segments(workspace)))
            .key("sk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.as_ref().map(segment_from_item).transpose()
    }

    async fn list_segments(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Segment>> {
        let (items, more) = self
            .query_page(
                keys::segments(workspace),
                page.after.clone(),
                page.limit,
                false,
            )
            .await?;
        let segments = items
            .iter()
            .map(segment_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_after = more
            .then(|| segments.last().map(|s| s.id.clone()))
            .flatten();
        Ok(Page {
            items: segments,
            next_after,
        })
    }

    async fn apply_membership_changes(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome> {
        let mut members: Vec<MemberChanges> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        for (index, change) in changes.iter().enumerate() {
            let id = change.member.moengage_user_id.as_str();
            let slot = *position.entry(id).or_insert_with(|| {
                members.push(MemberChanges {
                    id,
                    changes: Vec::new(),
                });
                members.len() - 1
            });
            members[slot].changes.push((index, change));
        }
        let calls: Vec<_> = members
            .chunks(MEMBERS_PER_READ)
            .map(|group| self.apply_group(workspace, segment_id, group))
            .collect();
        let results: Vec<ChunkResult> = futures::stream::iter(calls)
            .buffer_unordered(CHUNK_CONCURRENCY / 2)
            .try_collect::<Vec<Vec<ChunkResult>>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let delta: i64 = results.iter().map(|r| r.delta).sum();
        let mut applied: Vec<usize> = results
            .iter()
            .flat_map(|r| r.applied.iter().copied())
            .collect();
        let mut already: Vec<usize> = results
            .iter()
            .flat_map(|r| r.already_current.iter().copied())
            .collect();
        applied.sort_unstable();
        already.sort_unstable();
        if delta != 0 {
            self.client
                .update_item()
                .table_name(&self.state_table)
                .key("pk", s(keys::segments(workspace)))
                .key("sk", s(segment_id))
                .update_expression("ADD member_count :d")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":d", n(delta))
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok(MembershipOutcome {
            applied: applied.into_iter().map(|i| changes[i].clone()).collect(),
            already_current: already.into_iter().map(|i| changes[i].clone()).collect(),
        })
    }

    async fn record_sync(&self, workspace: &str, segment_id: &str, at: &str) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::segments(workspace)))
            .key("sk", s(segment_id))
            .update_expression("ADD sync_count :one SET last_synced_at = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", s(at))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn list_members(
        &self,
        workspace: &str,
        segment_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Member>> {
        let after = Some(keys::member_sk(page.after.as_deref().unwrap_or("")));
        let (items, more) = self
            .query_page(
                keys::members(workspace, segment_id),
                after,
                page.limit,
                true,
            )
            .await?;
        let members: Vec<Member> = items
            .iter()
            .filter_map(|item| {
                Some(Member {
                    moengage_user_id: get_s(item, "mid")?,
                    uid: get_s(item, "uid"),
                    moe_anonymous_id: get_s(item, "anonymous_id"),
                })
            })
            .collect();
        let next_after = more
            .then(|| members.last().map(|m| m.moengage_user_id.clone()))
            .flatten();
        Ok(Page {
            items: members,
            next_after,
        })
    }

    async fn segments_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.state_table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :s)")
                .filter_expression("in_segment = :yes")
                .expression_attribute_values(":pk", s(keys::profile(workspace, moengage_user_id)))
                .expression_attribute_values(":s", s("S#"))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            ids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| get_s(item, "sk")?.strip_prefix("S#").map(str::to_owned)),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(ids);
            }
        }
    }
}
