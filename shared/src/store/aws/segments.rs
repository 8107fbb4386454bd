//! Segments and their pages. Memberships and the arrival clocks are in
//! memberships.rs, `member_count` in counts.rs.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use futures::{StreamExt, TryStreamExt};

use super::batch::{
    Item, Projection, batch_get, get_bool, get_n, get_s, key, n, query_partition, s,
};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::ids::random_id;
use crate::domain::{
    Arrival, Member, MembershipChange, MembershipOutcome, Page, PageRequest, Segment, SegmentSource,
};
use crate::ports::{SegmentStore, StoreError, StoreResult};

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

/// Segments of a listed page whose counts are read at once.
const COUNT_READS: usize = 8;

impl DynamoStore {
    /// The segment of `item`, its `member_count` complete (counts.rs).
    async fn segment_counted(&self, workspace: &str, item: &Item) -> StoreResult<Segment> {
        let mut segment = segment_from_item(item)?;
        segment.member_count += self.counted(workspace, &segment.id).await?;
        Ok(segment)
    }

    /// An UpdateItem of a segment's item.
    pub(super) fn update_segment(
        &self,
        workspace: &str,
        segment_id: &str,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::segments(workspace)))
            .key("sk", s(segment_id))
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
            .update_segment(workspace, &segment.id)
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
        self.segment_counted(workspace, &out.attributes.unwrap_or_default())
            .await
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
        match out.item {
            Some(item) => Ok(Some(self.segment_counted(workspace, &item).await?)),
            None => Ok(None),
        }
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
        let reads: Vec<_> = items
            .iter()
            .map(|item| self.segment_counted(workspace, item))
            .collect();
        let segments: Vec<Segment> = futures::stream::iter(reads)
            .buffered(COUNT_READS)
            .try_collect()
            .await?;
        let next_after = more
            .then(|| segments.last().map(|s| s.id.clone()))
            .flatten();
        Ok(Page {
            items: segments,
            next_after,
        })
    }

    async fn reserve_arrivals(
        &self,
        workspace: &str,
        segment_id: &str,
        count: usize,
        now_ms: i64,
    ) -> StoreResult<Arrival> {
        self.reserve(workspace, segment_id, count, now_ms).await
    }

    async fn apply_membership_changes(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome> {
        self.apply_memberships(workspace, segment_id, changes).await
    }

    /// Counted once per call: a resend of an applied count (its answer
    /// lost) finds its own token and is not counted again.
    async fn record_sync(&self, workspace: &str, segment_id: &str, at: &str) -> StoreResult<()> {
        let token = random_id();
        let result = self
            .update_segment(workspace, segment_id)
            .update_expression("ADD sync_count :one SET last_synced_at = :at, sync_token = :token")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(sync_token) OR sync_token <> :token)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":token", s(&token))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(_) => Ok(()),
                        None => Err(StoreError::NotFound(format!("segment {segment_id}"))),
                    }
                }
                _ => Err(sdk_error(e)),
            },
        }
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

    /// Memberships live only on the segments' partitions (one item per
    /// member, so a cohort's TransactWriteItems carry 100 members), so a
    /// user's segments are read from the workspace's segment list: one
    /// query, then one BatchGetItem per 100 segments.
    async fn segments_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<String>> {
        let mut ids: Vec<String> = self
            .memberships_of(workspace, moengage_user_id)
            .await?
            .into_iter()
            .filter_map(|(segment, in_segment)| in_segment.then_some(segment))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl DynamoStore {
    /// A profile's membership items, current or not: (segment id, in the
    /// segment). One query for the segment list, then one BatchGetItem per
    /// 100 segments.
    pub(super) async fn memberships_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<(String, bool)>> {
        let segment_ids: Vec<String> =
            query_partition(&self.client, &self.state_table, &keys::segments(workspace))
                .await?
                .iter()
                .filter_map(|i| get_s(i, "sk"))
                .collect();
        let member = keys::member_sk(moengage_user_id);
        let read_keys = segment_ids
            .iter()
            .map(|id| key(keys::members(workspace, id), &member))
            .collect();
        let projection = Projection {
            expression: "pk, in_segment",
            names: &[],
        };
        let partition_prefix = keys::members(workspace, "");
        Ok(
            batch_get(&self.client, &self.state_table, read_keys, Some(projection))
                .await?
                .iter()
                .filter_map(|item| {
                    let segment = get_s(item, "pk")?
                        .strip_prefix(&partition_prefix)?
                        .to_owned();
                    Some((segment, get_bool(item, "in_segment") == Some(true)))
                })
                .collect(),
        )
    }
}
