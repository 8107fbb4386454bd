//! Versioned memberships and the segments' arrival clocks
//! (docs/rules/member-matching.md "Ordering: versions").
//!
//! A membership item holds the version of the change that set it
//! (`time_ms`, `seq`). A change is written with a condition on the exact
//! version it was computed from (TransactWriteItems, 50 members = 100 items
//! per call: the membership and its reverse item on the profile's
//! partition); a lost race re-reads and recomputes that chunk, so concurrent
//! Lambda instances never overwrite a newer version. Items written before
//! versions had a sequence carry only `computed_time` (epoch s): they read
//! as (`computed_time` × 1000, 0).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};

use super::batch::{Item, batch_get, get_bool, get_n, get_s, key, n, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::version::{MemberChanges, Replay, by_member, replay};
use crate::domain::{Arrival, MembershipChange, MembershipOutcome, MembershipState, Version};
use crate::ports::{StoreError, StoreResult};

/// Members per transaction: two items each, 100 items max per call.
const MEMBERS_PER_TRANSACTION: usize = 50;
const CHUNK_CONCURRENCY: usize = 8;
const MAX_CONFLICT_ROUNDS: usize = 8;

/// A stored membership version, and the condition that it is still stored.
#[derive(Clone, Copy)]
struct Stored {
    state: MembershipState,
    /// `computed_time` (epoch s) of an item from before sequences.
    legacy_seconds: Option<i64>,
}

impl Stored {
    fn read(item: &Item) -> Option<Self> {
        let in_segment = get_bool(item, "in_segment")?;
        let (version, legacy_seconds) = match get_n(item, "time_ms") {
            Some(time_ms) => (Version::new(time_ms, get_n(item, "seq").unwrap_or(0)), None),
            None => {
                let seconds = get_n(item, "computed_time")?;
                (Version::new(seconds.saturating_mul(1000), 0), Some(seconds))
            }
        };
        Some(Self {
            state: MembershipState {
                in_segment,
                version,
            },
            legacy_seconds,
        })
    }

    /// `(expression, values)` true only while this version is stored.
    fn condition(stored: Option<Self>) -> (&'static str, Vec<(&'static str, i64)>) {
        match stored {
            None => ("attribute_not_exists(pk)", Vec::new()),
            Some(Self {
                legacy_seconds: Some(seconds),
                ..
            }) => (
                "attribute_not_exists(time_ms) AND computed_time = :c",
                vec![(":c", seconds)],
            ),
            Some(Self { state, .. }) => (
                "time_ms = :t AND seq = :q",
                vec![(":t", state.version.time_ms), (":q", state.version.seq)],
            ),
        }
    }
}

/// What to write for one member of a chunk.
struct Write<'a> {
    id: &'a str,
    stored: Option<Stored>,
    state: MembershipState,
    last: &'a MembershipChange,
}

/// Positions applied and already current in one chunk, and its count delta.
#[derive(Default)]
struct ChunkResult {
    applied: Vec<usize>,
    already_current: Vec<usize>,
    delta: i64,
}

impl DynamoStore {
    fn membership_put(
        &self,
        item: Item,
        condition: Option<(&str, Vec<(&str, i64)>)>,
    ) -> StoreResult<TransactWriteItem> {
        let mut put = Put::builder()
            .table_name(&self.state_table)
            .set_item(Some(item));
        if let Some((expression, values)) = condition {
            put = put.condition_expression(expression);
            for (name, value) in values {
                put = put.expression_attribute_values(name, n(value));
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(StoreError::backend)?)
            .build())
    }

    fn membership_writes(
        &self,
        workspace: &str,
        segment_id: &str,
        write: &Write,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let version = write.state.version;
        let versioned = |mut item: Item| {
            item.insert(
                "in_segment".into(),
                AttributeValue::Bool(write.state.in_segment),
            );
            item.insert("time_ms".into(), n(version.time_ms));
            item.insert("seq".into(), n(version.seq));
            item
        };
        let mut forward = key(
            keys::members(workspace, segment_id),
            &keys::member_sk(write.id),
        );
        forward.insert("mid".into(), s(write.id));
        if let Some(uid) = &write.last.member.uid {
            forward.insert("uid".into(), s(uid));
        }
        if let Some(anon) = &write.last.member.moe_anonymous_id {
            forward.insert("anonymous_id".into(), s(anon));
        }
        let reverse = key(
            keys::profile(workspace, write.id),
            &keys::profile_segment_sk(segment_id),
        );
        Ok([
            // Written only over the version this write was computed from.
            self.membership_put(versioned(forward), Some(Stored::condition(write.stored)))?,
            self.membership_put(versioned(reverse), None)?,
        ])
    }

    /// Applies one chunk of members.
    async fn apply_chunk(
        &self,
        workspace: &str,
        segment_id: &str,
        chunk: &[MemberChanges<'_>],
    ) -> StoreResult<ChunkResult> {
        let partition = keys::members(workspace, segment_id);
        for _ in 0..MAX_CONFLICT_ROUNDS {
            let read_keys = chunk
                .iter()
                .map(|m| key(partition.clone(), &keys::member_sk(m.moengage_user_id)))
                .collect();
            let stored: HashMap<String, Stored> =
                batch_get(&self.client, &self.state_table, read_keys, None)
                    .await?
                    .iter()
                    .filter_map(|item| Some((get_s(item, "mid")?, Stored::read(item)?)))
                    .collect();
            let mut result = ChunkResult::default();
            let mut writes = Vec::new();
            for member in chunk {
                let current = stored.get(member.moengage_user_id).copied();
                let Replay {
                    applied,
                    already_current,
                    state,
                    delta,
                } = replay(current.map(|c| c.state), member.changes.iter().copied());
                if let (Some(state), Some(&last)) = (state, applied.last()) {
                    let last = member
                        .changes
                        .iter()
                        .find(|(position, _)| *position == last)
                        .map(|(_, change)| *change)
                        .expect("an applied position is one of the member's");
                    writes.extend(self.membership_writes(
                        workspace,
                        segment_id,
                        &Write {
                            id: member.moengage_user_id,
                            stored: current,
                            state,
                            last,
                        },
                    )?);
                }
                result.applied.extend(applied);
                result.already_current.extend(already_current);
                result.delta += delta;
            }
            if writes.is_empty() {
                return Ok(result);
            }
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes))
                .send()
                .await
            {
                Ok(_) => return Ok(result),
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    ) =>
                {
                    // Another writer changed a member since our read: recompute.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                Err(e) => return Err(sdk_error(e)),
            }
        }
        Err(StoreError::Backend(
            "membership writes kept conflicting with concurrent writers".into(),
        ))
    }

    pub(super) async fn apply_memberships(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome> {
        let members = by_member(changes);
        let calls: Vec<_> = members
            .chunks(MEMBERS_PER_TRANSACTION)
            .map(|chunk| self.apply_chunk(workspace, segment_id, chunk))
            .collect();
        let results: Vec<ChunkResult> = futures::stream::iter(calls)
            .buffer_unordered(CHUNK_CONCURRENCY)
            .try_collect()
            .await?;
        let delta: i64 = results.iter().map(|r| r.delta).sum();
        if delta != 0 {
            self.update_segment(workspace, segment_id)
                .update_expression("ADD member_count :d")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":d", n(delta))
                .send()
                .await
                .map_err(sdk_error)?;
        }
        let (applied, already_current) =
            results
                .into_iter()
                .fold((Vec::new(), Vec::new()), |(mut applied, mut already), r| {
                    applied.extend(r.applied);
                    already.extend(r.already_current);
                    (applied, already)
                });
        Ok(MembershipOutcome::from_positions(
            changes,
            applied,
            already_current,
        ))
    }

    /// The segment item's arrival clock: `ADD arrival_seq` is atomic, and
    /// `arrival_ms` only moves forward. When this process's clock is behind
    /// the stored time, the sequence is taken without moving the time and
    /// the stored (later) time is used: still after every earlier arrival.
    pub(super) async fn reserve(
        &self,
        workspace: &str,
        segment_id: &str,
        count: usize,
        now_ms: i64,
    ) -> StoreResult<Arrival> {
        let count = count.max(1) as i64;
        let update = |expression: &str, condition: &str| {
            self.update_segment(workspace, segment_id)
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_values(":n", n(count))
                .return_values(ReturnValue::AllNew)
        };
        let forward = update(
            "SET arrival_ms = :now ADD arrival_seq :n",
            "attribute_exists(pk) AND (attribute_not_exists(arrival_ms) OR arrival_ms <= :now)",
        )
        .expression_attribute_values(":now", n(now_ms))
        .send()
        .await;
        let condition_failed = |e: &SdkError<UpdateItemError, _>| {
            matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            )
        };
        let item = match forward {
            Ok(out) => out.attributes,
            // Our clock is behind the stored arrival time (or no segment).
            Err(e) if condition_failed(&e) => {
                match update("ADD arrival_seq :n", "attribute_exists(pk)")
                    .send()
                    .await
                {
                    Ok(out) => out.attributes,
                    Err(e) if condition_failed(&e) => {
                        return Err(StoreError::NotFound(format!("segment {segment_id}")));
                    }
                    Err(e) => return Err(sdk_error(e)),
                }
            }
            Err(e) => return Err(sdk_error(e)),
        }
        .unwrap_or_default();
        let (Some(seq), Some(time_ms)) = (get_n(&item, "arrival_seq"), get_n(&item, "arrival_ms"))
        else {
            return Err(StoreError::corrupt("segment without an arrival clock"));
        };
        Ok(Arrival {
            time_ms,
            first_seq: seq - count + 1,
        })
    }
}
